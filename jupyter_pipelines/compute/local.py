"""``local``: each job in its own process on this machine, forked from a pre-warmed server.

Interpreter start-up and imports are paid once by the fork server; each job is a fork of it,
leads its own session (so cancel kills its whole tree) and writes its output straight to the
job's log file.
"""
from __future__ import annotations

import os
import signal
from typing import Any, Mapping

import fsspec

from ..paths import Context
from ..fields import Field
from .base import ComputeBackend, JobCallbacks, JobResult, JobSpec
from .plumbing.forkserver import ForkServer, read_outcome
from ..runner.tree import is_running, kill_tree, start_time
from .plumbing.runqueue import RunQueue


class LocalJob:
    """One job of the local backend: waits in the backend's run queue, then runs in a forked child."""

    def __init__(self, backend: LocalCompute, job: JobSpec, callbacks: JobCallbacks) -> None:
        self.backend = backend
        self.job = job
        self.callbacks = callbacks
        self.canceled = False
        self.pid: int | None = None
        self.pid_started: float | None = None

    def cancel(self) -> None:
        self.canceled = True
        if self.backend.queue.withdraw(self):
            self.callbacks.finished(JobResult("canceled"))
        elif self.pid is not None:
            kill_tree(self.pid, self.pid_started)  # its start time: a pid reused meanwhile is spared

    def alive(self) -> bool:
        """Waiting for its turn, starting, or its process still runs."""
        return self.pid is None or is_running(self.pid)

    def run(self) -> None:
        """On its own thread, holding a run slot (given back once the engine heard the end)."""
        self.backend.running.add(self)
        try:
            try:
                result = JobResult("canceled") if self.canceled else self._run_process()
            except Exception as error:  # noqa: BLE001 - the engine must always hear the end
                result = JobResult("failed", error=f"could not start the job process: {error}")
            self.callbacks.finished(result)
        finally:  # only now: the engine hears of a failure before the next job in line may go
            self.backend.running.discard(self)
            self.backend.queue.release()

    def _run_process(self) -> JobResult:
        spec = dict(self.job.spec)
        memory = spec["storage"]["protocol"] == "memory"
        if memory or (spec.get("artifact") or {}).get("protocol") == "memory":
            spec["memory_files"] = _memory_inputs(spec)
        conn, pid = self.backend.forkserver.child()
        self.backend.forkserver.prefork()  # the next job's child, forked while this one runs
        outcome: tuple[str, Any] | None = None
        code: int | None = None
        try:
            self.pid, self.pid_started = pid, start_time(pid)
            conn.send((spec, self.job.log_path, True))
            if self.canceled:
                kill_tree(pid)
            else:
                self.callbacks.started(pid, self.pid_started)  # running before it can write a line
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
            return JobResult("success", exit_code=code, outputs=outcome[1]["outputs"],
                             figures=outcome[1].get("figures") or [])
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
        Field("workers", "int", 0, "Operations run at once; 0 means the server's worker count (the cores)",
              minimum=0),
        Field("preload", "str", "numpy,pandas,s3fs", "Modules imported once by the pre-warmed process, comma-separated"),
    )

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        super().__init__(config, context)
        workers = self.config["workers"] or context.workers or os.cpu_count() or 1
        preload = [name.strip() for name in (self.config["preload"] or "").split(",") if name.strip()]
        self.forkserver = ForkServer(preload)
        self.queue: RunQueue[LocalJob] = RunQueue(workers, "local")  # jobs running at once, in submission order
        self.running: set[LocalJob] = set()

    def submit(self, job: JobSpec, callbacks: JobCallbacks) -> LocalJob:
        handle = LocalJob(self, job, callbacks)
        self.queue.put(handle)
        return handle

    def close(self) -> None:
        for handle in self.queue.close():
            handle.canceled = True
            handle.callbacks.finished(JobResult("canceled"))
        for handle in list(self.running):
            handle.cancel()
        self.forkserver.close()
