"""``local``: each job in its own process on this machine, forked from a pre-warmed server.

Interpreter start-up and imports are paid once by the fork server; each job is a fork of it,
leads its own session (so cancel kills its whole tree) and writes its output straight to the
job's log file.

The fork server starts with the backend (its start-up overlaps the engine's work on the first
submit). The modules an execution's operations import, and those of its storage, are warmed in
it as soon as the engine says what will run (``prepare``); a job waits only for the warm imports
it needs, and says in its log which ones it had to make itself (see ``runner.forkserver``).

Jobs are handed over as soon as the engine knows them, each after the jobs it needs (``chains``):
when a job succeeds, the ones waiting for it start from the thread that heard its end, without a
round trip through the engine; when it fails or is canceled, they end ``canceled`` unrun.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec

from ..fields import Field
from ..paths import Context
from ..runner.contracts import JobOutcome
from ..runner.imports import JobImports, filesystem_modules, modules_of
from ..runner.tree import is_running, kill_tree
from ..statuses import JobStatus
from .base import ComputeBackend, Job, JobCallbacks, JobHandle, JobResult, canceled, failed, job_result
from .plumbing.forkserver import ForkServer, Stopped, read_outcome
from .plumbing.runqueue import RunQueue


class LocalJob:
    """One job of the local backend: waits for the jobs it needs, then in the backend's run queue,
    then runs in a forked child."""

    def __init__(self, backend: LocalCompute, job: Job, callbacks: JobCallbacks) -> None:
        self.backend = backend
        self.job = job
        self.callbacks = callbacks
        self.canceled = False
        self.pid: int | None = None
        self.pid_started: float | None = None
        self.blockers = 0  # jobs it waits for (guarded by the backend's lock)
        self.dependents: list[LocalJob] = []
        self.status: JobStatus | None = None  # its final status, once it ended
        self.modules = backend.modules(job.spec)

    def cancel(self) -> None:
        self.canceled = True
        if self.backend.withdraw(self):
            self.backend.end(self, canceled())
        elif self.pid is not None:
            kill_tree(self.pid, self.pid_started)  # its start time: a pid reused meanwhile is spared
        else:
            self.backend.forkserver.wake()  # it may be waiting for its imports

    def alive(self) -> bool:
        """Waiting for its inputs or its turn, starting, or its process still runs."""
        return self.pid is None or is_running(self.pid)

    def run(self) -> None:
        """On a thread of the backend's pool, holding a run slot; then, on the same thread, the job that
        waited for this one, when it can take the slot this one gave back."""
        job: LocalJob | None = self
        while job is not None:
            job = job._run_holding_slot()

    def _run_holding_slot(self) -> LocalJob | None:
        """Run; give the slot back once the engine heard the end; return the next job to run here."""
        result = failed("the job did not run")
        self.backend.running.add(self)
        try:
            try:
                result = canceled() if self.canceled else self._run_process()
            except Stopped:
                result = canceled()
            except Exception as error:  # noqa: BLE001 - the engine must always hear the end
                result = failed(f"could not start the job process: {error}")
        finally:  # the engine hears of a failure before the next job in line may go
            following = self.backend.end(self, result, holds_slot=True)
        return following

    def _run_process(self) -> JobResult:
        spec = self.job.spec.copy()
        memory = spec["storage"]["protocol"] == "memory"
        artifact = spec.get("artifact")
        if memory or (artifact is not None and artifact.get("protocol") == "memory"):
            spec["memory_files"] = _memory_inputs(spec)
        forkserver = self.backend.forkserver
        child = forkserver.child(self.modules, stop=lambda: self.canceled)
        forkserver.prefork()  # the next job's child, forked while this one runs
        conn, pid = child
        outcome: JobOutcome | None = None
        code: int | None = None
        try:
            self.pid, self.pid_started = pid, child.started  # from now on, cancel kills it
            if self.canceled:
                kill_tree(pid)
            else:
                conn.send((spec, self.job.log_path, False, forkserver.note(self.modules)))
                # Recorded as it starts (the write overlaps its first steps), and always before its end:
                # this thread reports both.
                self.callbacks.started(pid, self.pid_started)
            outcome, code = read_outcome(conn)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
        if memory and outcome is not None and outcome["status"] == "success":
            fs = fsspec.filesystem("memory")
            for path, data in outcome.pop("memory_files", {}).items():
                fs.pipe_file(path, data)
        return job_result(outcome, code, canceled=self.canceled)


def _memory_inputs(spec: Mapping[str, Any]) -> dict[str, bytes]:
    fs = fsspec.filesystem("memory")
    paths = list(spec.get("inputs", {}).values()) if spec["storage"]["protocol"] == "memory" else []
    artifact = spec.get("artifact")
    if artifact and artifact.get("protocol") == "memory" and spec["kind"] == "input":
        paths.append(artifact["path"])
    return {path: fs.cat_file(path) for path in paths}


class LocalCompute(ComputeBackend):
    name = "local"
    title = "This machine"
    description = "Each operation in its own process on the server's machine, in parallel up to the cores."
    chains = True  # a job waits for its inputs here: the next one starts without a round trip through the engine
    fields = (
        Field("workers", "int", 0, "Operations run at once; 0 means the server's worker count (the cores)",
              minimum=0),
        Field("preload", "str", "",
              "Modules the pre-warmed process also imports, comma-separated, once the first operation runs "
              "(those the operations import are imported ahead anyway)"),
    )

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        super().__init__(config, context)
        workers = self.config["workers"] or context.workers or os.cpu_count() or 1
        preload = [name.strip() for name in (self.config["preload"] or "").split(",") if name.strip()]
        # Two spare children: in a chain of short jobs a fork (1-2 ms on a busy machine) takes longer
        # than the job it is forked during.
        self.forkserver = ForkServer(preload, start=True, spares=2)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="local-job")
        self.queue: RunQueue[LocalJob] = RunQueue(workers, "local", start=lambda job: self.pool.submit(job.run))
        self.running: set[LocalJob] = set()
        self.lock = threading.Lock()
        self.modules = JobImports()

    def prepare(self, sources: Sequence[str], protocols: Sequence[str] = ()) -> None:
        self.forkserver.warm([*filesystem_modules(protocols), *(m for source in sources for m in modules_of(source))])

    def submit(self, job: Job, callbacks: JobCallbacks, after: Sequence[JobHandle] = ()) -> LocalJob:
        handle = LocalJob(self, job, callbacks)
        with self.lock:
            blockers = [other for other in after if isinstance(other, LocalJob) and other.status != JobStatus.SUCCESS]
            doomed = any(other.status is not None for other in blockers)  # ended, and not well
            if not doomed:
                for other in blockers:
                    other.dependents.append(handle)
                handle.blockers = len(blockers)
        if doomed:
            self.end(handle, canceled())
        elif not handle.blockers:
            self._enqueue(handle)
        return handle

    def _enqueue(self, handle: LocalJob) -> None:
        try:
            self.queue.put(handle)
        except RuntimeError:  # closed
            self.end(handle, canceled())

    def withdraw(self, handle: LocalJob) -> bool:
        """Take a job that has not started out of line (waiting for its inputs, or for a slot)."""
        with self.lock:
            if handle.status is not None:
                return False
            if handle.blockers:
                handle.blockers = 0
                return True
        return self.queue.withdraw(handle)

    def end(self, handle: LocalJob, result: JobResult, holds_slot: bool = False) -> LocalJob | None:
        """A job ended (ran, or never will): tell the engine, give its slot back, then start or end
        the jobs that waited for it. Returns the one that the caller's thread should run now (it took
        a slot for it), if the job held a slot and one could be taken."""
        with self.lock:
            first = handle.status is None
            if first:
                handle.status = result.status
        try:
            if first:
                handle.callbacks.finished(result)
        finally:
            if holds_slot:
                self.running.discard(handle)
                self.queue.release()
            ready, dropped = [], []
            with self.lock:
                dependents, handle.dependents = handle.dependents, []
                for other in dependents:
                    if other.status is not None or not other.blockers:
                        continue  # ended, or withdrawn
                    if handle.status == JobStatus.SUCCESS:
                        other.blockers -= 1
                        if not other.blockers:
                            ready.append(other)
                    else:
                        other.blockers = 0
                        dropped.append(other)
            inline: LocalJob | None = None
            for other in ready:
                if holds_slot and inline is None and self.queue.claim():
                    inline = other  # on this thread, now: no hand-over to another thread
                    continue
                queued = getattr(other.callbacks, "queued", None)
                if queued is not None and not self.queue.has_room():
                    queued()  # it waits for a slot (a job that starts at once is recorded as it starts)
                self._enqueue(other)
            for other in dropped:
                self.end(other, canceled())
        return inline

    def close(self) -> None:
        for handle in self.queue.close():
            handle.canceled = True
            self.end(handle, canceled())
        for handle in list(self.running):
            handle.cancel()
        self.forkserver.close()
        self.pool.shutdown(wait=False)
