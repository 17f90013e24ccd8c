"""From the store's event log to the server's event loop and its ``jupyter_events`` bus.

Events written by this server's engine arrive as they are committed; events written by other
processes on the same store (the CLI, an embedded engine in a kernel or a script) are picked up
by polling the event log every :data:`POLL_SECONDS`, so the side panel shows those executions too.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from jupyter_events import EventLogger
from tornado.ioloop import PeriodicCallback

from ..engine import ExecutionManager
from ..store import Event

SCHEMA_ID = "https://events.jupyter.org/jupyter_pipelines/execution/v1"
SCHEMA_PATH = Path(__file__).parent / "events" / "execution.yaml"
POLL_SECONDS = 1.0


class EventBridge:
    """Wakes SSE streams and emits each status change on the ``jupyter_events`` bus."""

    def __init__(self, manager: ExecutionManager, loop: asyncio.AbstractEventLoop,
                 event_logger: EventLogger | None) -> None:
        self.manager = manager
        self.loop = loop
        self.event_logger = event_logger
        self.changed = asyncio.Event()
        self.last_seq = manager.last_event_seq()
        self._known: dict[int, tuple[str, str]] = {}
        if event_logger is not None:
            event_logger.register_event_schema(SCHEMA_PATH)
        self._unsubscribe = manager.subscribe(self._from_engine)
        self._polling = PeriodicCallback(self._poll, POLL_SECONDS * 1000)
        self._polling.start()

    async def _poll(self) -> None:
        """Events other processes wrote since the last one seen."""
        events = await self.loop.run_in_executor(None, self.manager.events_after, self.last_seq)
        if events:
            self._dispatch(events)

    def _from_engine(self, events: list[Event]) -> None:
        self.loop.call_soon_threadsafe(self._dispatch, events)

    def _dispatch(self, events: list[Event]) -> None:
        events = [event for event in events if event.seq > self.last_seq]  # seen already (polled or heard)
        if not events:
            return
        if events[0].seq > self.last_seq + 1:  # others wrote in between: take theirs first, in order
            events = self.manager.events_after(self.last_seq)
        self.last_seq = events[-1].seq
        self.changed.set()
        self.changed = asyncio.Event()
        for event in events:
            if event.type == "execution":
                self._known[event.execution_id] = (event.data.get("pipeline", ""), event.data.get("status", "pending"))
            pipeline, status = self._known.get(event.execution_id) or self._lookup(event.execution_id)
            if self.event_logger is not None:
                self.event_logger.emit(schema_id=SCHEMA_ID, data={
                    "project": event.project,
                    "execution": event.execution,
                    "pipeline": pipeline,
                    "status": status,
                    "op": event.data.get("op") if event.type == "job" else None,
                    "job_status": event.data.get("status") if event.type == "job" else None,
                    "seq": event.seq,
                })

    def _lookup(self, execution_id: int) -> tuple[str, str]:
        try:
            record = self.manager.execution_by_id(execution_id)
            self._known[execution_id] = (record.pipeline, record.status)
        except LookupError:
            return ("", "canceled")
        return self._known[execution_id]

    async def wait(self, mark: int, timeout: float) -> None:
        """Return once events newer than ``mark`` (a ``last_seq`` read earlier) exist, or after ``timeout``."""
        if self.last_seq > mark:
            return
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def close(self) -> None:
        self._polling.stop()
        self._unsubscribe()
