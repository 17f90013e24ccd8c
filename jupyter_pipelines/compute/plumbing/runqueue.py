"""Jobs that start in submission order, at most ``slots`` at a time, each on a thread of its own."""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Runnable(Protocol):
    def run(self) -> None:
        """Run to the end; the job calls :meth:`RunQueue.release` once it no longer needs its slot."""


J = TypeVar("J", bound=Runnable)


class RunQueue(Generic[J]):
    """A first-come, first-served queue whose head starts, on a new thread, when a slot is free.

    Joining the queue and being given a thread are decided under one lock, and a thread is only
    ever given to a job that holds a slot, so the queue's order and the threads can never wait on
    each other. (They once could: jobs took a place in line, then waited for their turn on the
    threads of a bounded pool; when submissions raced, every thread could end up waiting for a
    place held by a job still queued behind them in the pool.)

    ``start(job)`` is called under the lock (default: a daemon thread running ``job.run``), so jobs
    start strictly in order.
    """

    def __init__(self, slots: int, name: str, start: Callable[[J], object] | None = None) -> None:
        self.free = max(1, slots)
        self.name = name
        self.waiting: deque[J] = deque()
        self.lock = threading.Lock()
        self.closed = False
        self._start = start or self._thread

    def put(self, job: J) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError(f"{self.name}: the run queue is closed")
            self.waiting.append(job)
            self._dispatch()

    def has_room(self) -> bool:
        """Whether a job put now would start at once (unless another comes first)."""
        return self.free > 0 and not self.waiting and not self.closed

    def claim(self) -> bool:
        """Take a free slot for a job that then starts outside the queue, on the caller's thread (only
        when nobody waits in line, so the order is kept); False when there is none."""
        with self.lock:
            if self.closed or self.waiting or self.free <= 0:
                return False
            self.free -= 1
            return True

    def withdraw(self, job: J) -> bool:
        """Take ``job`` out of the queue; False if it already started (or was never queued)."""
        with self.lock:
            try:
                self.waiting.remove(job)
            except ValueError:
                return False
            return True

    def release(self) -> None:
        """A started job gives its slot back: the next one in line starts."""
        with self.lock:
            self.free += 1
            self._dispatch()

    def close(self) -> list[J]:
        """Start nothing more; returns the jobs that were still waiting."""
        with self.lock:
            self.closed = True
            left, self.waiting = list(self.waiting), deque()
            return left

    def _dispatch(self) -> None:
        while self.free > 0 and self.waiting and not self.closed:
            job = self.waiting.popleft()
            self.free -= 1
            try:
                self._start(job)
            except BaseException:  # no thread for it (e.g. the process's limit): it keeps its place
                self.free += 1
                self.waiting.appendleft(job)
                raise

    def _thread(self, job: J) -> None:
        threading.Thread(target=job.run, name=f"{self.name}-job", daemon=True).start()
