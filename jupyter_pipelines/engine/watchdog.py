"""The manager's watchdog: no execution stays unfinished with nothing running it."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..statuses import ExecutionStatus
from ..store import ExecutionRecord, Store
from .computes import ComputePool
from .scheduler import ExecutionRun

#: Seconds between two rounds.
WATCH_SECONDS = 5.0


class Watchdog:
    """Every :data:`WATCH_SECONDS`: closes idle compute backends, fails jobs their backend lost, and
    fails executions of this engine (``owner``) that no run drives any more (its thread died, or it
    gave up on a store that refused writes) with ``fail``. Something found wrong is acted on only
    when a second round finds it still wrong, so a run that is just starting or ending is never
    touched."""

    def __init__(self, store: Store, computes: ComputePool, runs: Callable[[], dict[int, ExecutionRun]],
                 fail: Callable[[ExecutionRecord], None], owner: str, log: logging.Logger,
                 interval: float = WATCH_SECONDS) -> None:
        self.store = store
        self.computes = computes
        self.runs = runs
        self.fail = fail
        self.owner = owner
        self.log = log
        self.interval = interval
        self.suspects: set[int] = set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._main, name="pipelines-watchdog", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _main(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.round()
            except Exception:  # noqa: BLE001 - the next round tries again
                self.log.exception("the executions watchdog failed")

    def round(self) -> None:
        self.computes.reap()
        runs = self.runs()
        for run in runs.values():
            if run.alive():
                run.check_jobs()
        orphans = {record.id: record for status in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
                   for record in self.store.executions(status=status)
                   if record.owner == self.owner and not (record.id in runs and runs[record.id].alive())}
        for execution_id in set(orphans) & self.suspects:
            record = orphans[execution_id]
            self.log.error("execution %r of project %r was left %s with nothing running it; failing it",
                           record.name, record.project, record.status)
            self.fail(record)
        self.suspects = set(orphans) - self.suspects
