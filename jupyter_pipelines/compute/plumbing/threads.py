"""Blocking job handles run on a thread pool (used by backends whose jobs are waited on)."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol


class BlockingJob(Protocol):
    def run(self) -> None:
        """Run the job to its end, reporting through its callbacks."""

    def cancel(self) -> None:
        """Stop the job wherever it is."""


class JobThreads:
    """Runs each job's blocking ``run()`` on one of ``workers`` threads; cancels what is left at close."""

    def __init__(self, workers: int, name: str) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self.jobs: set[BlockingJob] = set()

    def start(self, job: BlockingJob) -> Future[None]:
        self.jobs.add(job)
        return self.pool.submit(self._run, job)

    def _run(self, job: BlockingJob) -> None:
        try:
            job.run()
        finally:
            self.jobs.discard(job)

    def close(self, cancel_queued: bool) -> None:
        for job in list(self.jobs):
            job.cancel()
        self.pool.shutdown(wait=False, cancel_futures=cancel_queued)
