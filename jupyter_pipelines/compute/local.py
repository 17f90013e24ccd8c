"""``local``: each job in its own process on this machine, forked from a pre-warmed server.

Interpreter start-up and imports are paid once by the fork server; each job is a fork of it,
leads its own session (so cancel kills its whole tree) and writes its output straight to the
job's log file.
"""
from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Future
from typing import Any, Mapping

import fsspec

from ..backends import Context
from ..fields import Field
from .base import ComputeBackend, JobCallbacks, JobResult, JobSpec
from .forkserver import ForkServer, read_outcome
from .pool import JobThreads
from .slots import OrderedSlots
from .processes import kill_tree, start_time


class LocalJob:
    def __init__(self, backend: LocalCompute, job: JobSpec, callbacks: JobCallbacks) -> None:
        self.backend = backend
        self.job = job
        self.callbacks = callbacks
        self.canceled = False
        self.pid: int | None = None
        self.ticket = backend.slots.ticket()  # now, on the engine's thread: slots go in submission order
        self.slot = False
        self.future: Future[None] | None = None

    def cancel(self) -> None:
        self.canceled = True
        if self.future is not None and self.future.cancel():
            self.backend.slots.withdraw(self.ticket)
            self.callbacks.finished(JobResult("canceled"))
        elif self.pid is not None:
            kill_tree(self.pid)

    def run(self) -> None:
        if self.canceled:
            self.backend.slots.withdraw(self.ticket)
            self.callbacks.finished(JobResult("canceled"))
            return
        try:
            result = self._run_process()
        except Exception as error:  # noqa: BLE001 - the engine must always hear the end
            result = JobResult("failed", error=f"could not start the job process: {error}")
        finally:
            self.backend.slots.withdraw(self.ticket)  # if it never got to its turn
        try:
            self.callbacks.finished(result)
        finally:
            if self.slot:  # only now: the engine hears of a failure before a prepared job may go
                self.backend.slots.release()

    def _wait_for_slot(self) -> bool:
        """Block until it is this job's turn and fewer than ``workers`` jobs run (or the job is canceled);
        True if a slot was taken."""
        while not self.canceled:
            if self.backend.slots.acquire(self.ticket, timeout=0.2):
                return True
        self.backend.slots.withdraw(self.ticket)
        return False

    def _run_process(self) -> JobResult:
        spec = dict(self.job.spec)
        memory = spec["storage"]["protocol"] == "memory"
        if memory or (spec.get("artifact") or {}).get("protocol") == "memory":
            spec["memory_files"] = _memory_inputs(spec)
        conn, pid = self.backend.forkserver.child()
        outcome: tuple[str, Any] | None = None
        code: int | None = None
        try:
            self.pid = pid
            conn.send((spec, self.job.log_path, True))  # forked and ready before its turn comes
            self.slot = self._wait_for_slot()
            if self.canceled:
                kill_tree(pid)
            else:
                self.callbacks.started(pid, start_time(pid))  # running before it can write a line
                conn.send(("go",))
            outcome, code = read_outcome(conn)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
        if self.canceled:
            return JobResult("canceled", exit_code=code, error="canceled")
        if outcome and outcome[0] == "ok":
            if memory:
                fs = fsspec.filesystem("memory")
                for path, data in outcome[1].pop("memory_files", {}).items():
                    fs.pipe_file(path, data)
            return JobResult("success", exit_code=code, outputs=outcome[1]["outputs"])
        if outcome:
            return JobResult("failed", exit_code=code, **outcome[1])
        return JobResult("failed", exit_code=code, error=_death(code))


def _memory_inputs(spec: Mapping[str, Any]) -> dict[str, bytes]:
    fs = fsspec.filesystem("memory")
    paths = list(spec.get("inputs", {}).values()) if spec["storage"]["protocol"] == "memory" else []
    artifact = spec.get("artifact")
    if artifact and artifact.get("protocol") == "memory" and spec["kind"] == "input":
        paths.append(artifact["path"])
    return {path: fs.cat_file(path) for path in paths}


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the job process was killed by {signal.Signals(-code).name}"
    return f"the job process exited with code {code} without reporting a result"


class LocalCompute(ComputeBackend):
    name = "local"
    title = "This machine"
    description = "Each operation in its own process on the server's machine, in parallel up to the cores."
    fields = (
        Field("workers", "int", 0, "Operations run at once; 0 means the server's worker count (the cores)"),
        Field("preload", "str", "numpy,pandas,s3fs", "Modules imported once by the pre-warmed process, comma-separated"),
    )

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        super().__init__(config, context)
        workers = self.config["workers"] or context.workers or os.cpu_count() or 1
        preload = [name.strip() for name in (self.config["preload"] or "").split(",") if name.strip()]
        self.forkserver = ForkServer(preload)
        self.slots = OrderedSlots(workers)  # jobs running at once
        self.threads = JobThreads(2 * workers, "local-job")  # the extra ones prepare the next jobs

    def submit(self, job: JobSpec, callbacks: JobCallbacks) -> LocalJob:
        handle = LocalJob(self, job, callbacks)
        handle.future = self.threads.start(handle)
        return handle

    def close(self) -> None:
        self.threads.close(cancel_queued=True)
        self.forkserver.close()
