"""The manager's watchdog: no execution stays unfinished with nothing running it."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .manager import ExecutionManager

#: Seconds between two rounds.
WATCH_SECONDS = 5.0

log = logging.getLogger("jupyter_pipelines.engine")


class Watchdog:
    """Every :data:`WATCH_SECONDS`: closes idle compute backends, fails jobs their backend lost, and
    fails executions of this engine that no run drives any more (its thread died, or it gave up on a
    store that refused writes). Something found wrong is acted on only when a second round finds it
    still wrong, so a run that is just starting or ending is never touched."""

    def __init__(self, manager: ExecutionManager, owner: str, interval: float = WATCH_SECONDS) -> None:
        self.manager = manager
        self.owner = owner
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
                log.exception("the executions watchdog failed")

    def round(self) -> None:
        self.manager.computes.reap()
        runs = dict(self.manager.runs)
        for run in runs.values():
            if run.alive():
                run.check_jobs()
        store = self.manager.store
        orphans = {record.id: record for status in ("pending", "running") for record in store.executions(status=status)
                   if record.owner == self.owner and not (record.id in runs and runs[record.id].alive())}
        for execution_id in set(orphans) & self.suspects:
            record = orphans[execution_id]
            log.error("execution %r of project %r was left %s with nothing running it; failing it",
                      record.name, record.project, record.status)
            self.manager.fail_abandoned(record)
        self.suspects = set(orphans) - self.suspects
