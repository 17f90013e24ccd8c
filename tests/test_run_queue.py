"""The local backend's run queue: submission order, slots, and no thread held by a waiting job."""
from __future__ import annotations

import threading

import pytest

from jupyter_pipelines.compute.plumbing.runqueue import RunQueue


class Job:
    def __init__(self, queue: RunQueue[Job], log: list[str], name: str, gate: threading.Event | None = None) -> None:
        self.queue, self.log, self.name, self.gate = queue, log, name, gate
        self.done = threading.Event()

    def run(self) -> None:
        self.log.append(f"start {self.name}")
        if self.gate is not None:
            self.gate.wait(30)
        self.log.append(f"end {self.name}")
        self.done.set()
        self.queue.release()


def test_jobs_start_in_submission_order_one_slot_at_a_time() -> None:
    started: list[Job] = []
    queue: RunQueue[Job] = RunQueue(1, "test", start=started.append)  # records instead of starting a thread
    jobs = [Job(queue, [], str(n)) for n in range(3)]
    for job in jobs:
        queue.put(job)
    assert started == jobs[:1]
    queue.release()
    assert started == jobs[:2]
    assert queue.withdraw(jobs[2]) and not queue.withdraw(jobs[2])
    queue.release()
    assert started == jobs[:2]  # the withdrawn job never starts


@pytest.mark.parametrize("workers", [1, 2])
def test_waiting_jobs_hold_no_thread_so_order_and_threads_cannot_deadlock(workers: int) -> None:
    """The old deadlock: jobs took their place in line on the submitting thread and waited for their
    turn on the threads of a bounded pool; when submissions raced, every pool thread could wait for a
    place held by a job still in the pool's queue. Here the blocked jobs fill every slot and fifty
    more wait: none of them may hold a thread, and all of them run once the slots free up."""
    log: list[str] = []
    queue: RunQueue[Job] = RunQueue(workers, "order")
    gate = threading.Event()
    blockers = [Job(queue, log, f"b{n}", gate) for n in range(workers)]
    waiting = [Job(queue, log, f"w{n}") for n in range(50)]
    submitters = [threading.Thread(target=queue.put, args=(job,)) for job in [*blockers]]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join()
    for job in waiting:
        queue.put(job)
    job_threads = [t for t in threading.enumerate() if t.name == "order-job"]
    assert len(job_threads) == workers  # only the jobs holding slots have threads
    gate.set()
    assert all(job.done.wait(30) for job in [*blockers, *waiting])
    assert [line for line in log if line.startswith("start w")] == [f"start w{n}" for n in range(50)]


def test_a_closed_queue_hands_back_what_was_waiting() -> None:
    started: list[Job] = []
    queue: RunQueue[Job] = RunQueue(1, "test", start=started.append)
    first, second = Job(queue, [], "1"), Job(queue, [], "2")
    queue.put(first)
    queue.put(second)
    assert queue.close() == [second]
    with pytest.raises(RuntimeError):
        queue.put(Job(queue, [], "3"))
