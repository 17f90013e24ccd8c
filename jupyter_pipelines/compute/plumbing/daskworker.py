"""The worker side of the ``dask`` backend: what runs inside a Dask worker process.

Per-worker state — the worker's fork servers, the jobs running on it, the jobs canceled before
their task reached it — lives in a ``distributed.WorkerPlugin``, :class:`JobsPlugin`, which the
backend registers on the cluster when it connects (the scheduler hands it to every worker, also
those that join later). It goes with its worker: closing the worker closes its fork servers,
which kill their jobs. Nothing of it travels: the plugin is pickled empty and set up on each
worker. The plugin is idempotent, so an engine that connects to a cluster another engine uses
does not replace (and so tear down) the first one's state.

A task is :func:`run_chain` (one job, or a linear chain of jobs run one after the other); the
engine calls :func:`cancel_on_worker` and :func:`warm_on_worker` with ``client.run``. Each job
runs in its own process: forked from the worker's fork server (``runner/forkserver.py``), whose
next child is forked while one runs and which imports ahead the modules the job's operation
imports (``warm_on_worker`` does it for a whole execution as it starts), or a fresh
``python -m jupyter_pipelines.runner``. See ``compute/dask.py`` for how the engine uses it.
"""
from __future__ import annotations

import json
import os
import select
import selectors
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from distributed import WorkerPlugin, get_worker

from ...runner.contracts import JobOutcome
from ...runner.imports import JobImports
from ...runner.tree import kill_tree, start_time
from ..base import Reported
from .forkserver import ForkServer, Stopped, read_outcome

PLUGIN_NAME = "jupyter-pipelines-jobs"
LOG_CHUNK = 16 << 10  # bytes per log event at most (the scheduler keeps the last 1000 events of a topic)
#: Job ids canceled before their task reached this worker are remembered this long.
FORGET_CANCELED_SECONDS = 3600.0


class JobsPlugin(WorkerPlugin):
    """One worker's fork servers (one per ``preload``) and its jobs: running (with their pids and
    whether they were canceled) and canceled before they started."""

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self.forkservers: dict[tuple[str, ...], ForkServer] = {}
        self.running: dict[str, dict[str, Any]] = {}  # job id -> {"pid": int | None, "canceled": bool}
        self.canceled_early: dict[str, float] = {}  # job id -> when it was canceled
        self.job_modules = JobImports()
        self.closed = False

    def __getstate__(self) -> dict[str, Any]:
        return {}  # its state is its worker's: nothing travels

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._reset()

    def setup(self, worker: Any) -> None:
        self.worker = worker

    def teardown(self, worker: Any) -> None:
        """The worker closes: close its fork servers (they kill their jobs) and forget everything."""
        with self.lock:
            self.closed = True
            servers, self.forkservers = list(self.forkservers.values()), {}
        for server in servers:
            try:
                server.close()
            except Exception:  # noqa: BLE001, S110 - close the others; the worker exits anyway
                pass

    # -- fork servers and warm imports
    def forkserver(self, preload: tuple[str, ...]) -> ForkServer:
        with self.lock:
            if self.closed:
                raise RuntimeError("the worker is closing")
            server = self.forkservers.get(preload)
            if server is None:
                server = self.forkservers[preload] = ForkServer(preload, start=True)
            return server


    def warm(self, preload: tuple[str, ...], modules: Iterable[str]) -> None:
        self.forkserver(preload).warm(modules)

    # -- jobs
    def register(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            entry = {"pid": None, "canceled": self.canceled_early.pop(job_id, None) is not None}
            self.running[job_id] = entry
            return entry

    def unregister(self, job_id: str) -> None:
        with self.lock:
            self.running.pop(job_id, None)

    def set_pid(self, entry: dict[str, Any], pid: int) -> bool:
        """Record the job's pid; True if it was canceled meanwhile (then it is killed)."""
        with self.lock:
            entry["pid"] = pid
            canceled = entry["canceled"]
        if canceled:
            kill_tree(pid)
        return bool(canceled)

    def cancel(self, job_id: str) -> bool:
        """Mark the job canceled and kill its processes; a job not (yet) here is remembered, so that it
        does not run if its task comes later. False in that case."""
        with self.lock:
            entry = self.running.get(job_id)
            if entry is None:
                now = time.time()
                for key, when in list(self.canceled_early.items()):
                    if now - when > FORGET_CANCELED_SECONDS:
                        del self.canceled_early[key]
                self.canceled_early[job_id] = now
                return False
            entry["canceled"] = True
            pid = entry["pid"]
            servers = list(self.forkservers.values())
        if pid:
            kill_tree(pid)
        for server in servers:
            server.wake()  # it may be waiting for its imports
        return True


def plugin_of(worker: Any = None) -> JobsPlugin:
    """The jobs plugin of ``worker`` (this task's worker by default), set up here if it is missing."""
    worker = worker if worker is not None else get_worker()
    plugin: JobsPlugin | None = worker.plugins.get(PLUGIN_NAME)
    if plugin is None:  # registered by the backend on connect; a worker that missed it gets one now
        plugin = JobsPlugin()
        plugin.setup(worker)
        plugin = worker.plugins.setdefault(PLUGIN_NAME, plugin)
    return plugin


def cancel_on_worker(job_id: str, dask_worker: Any = None) -> bool:
    """Run on a worker by ``client.run``: mark the job canceled and kill its processes."""
    return plugin_of(dask_worker).cancel(job_id)


async def warm_on_worker(preload: tuple[str, ...], modules: list[str], dask_worker: Any = None) -> None:
    """Run on a worker by ``client.run(..., wait=False)`` (a coroutine: Dask runs those without waiting):
    have its fork server import ``modules`` ahead, in the background."""
    plugin_of(dask_worker).warm(tuple(preload), modules)


class _Reporter:
    """Sends a job's events to the engine through the scheduler."""

    def __init__(self, worker: Any, topic: str, job_id: str) -> None:
        self.worker = worker
        self.topic = topic
        self.job_id = job_id
        self.pending = b""

    def send(self, kind: str, **data: Any) -> None:
        self.worker.log_event(self.topic, {"job": self.job_id, "kind": kind, **data})

    def output(self, data: bytes) -> None:
        """Forward output; whole lines go at once, a partial line waits for its end (or ``flush``)."""
        self.pending += data
        cut = self.pending.rfind(b"\n") + 1
        if cut:
            self._send_text(self.pending[:cut])
            self.pending = self.pending[cut:]
        if len(self.pending) >= LOG_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self._send_text(self.pending)
            self.pending = b""

    def _send_text(self, data: bytes) -> None:
        for start in range(0, len(data), LOG_CHUNK):
            self.send("log", text=data[start:start + LOG_CHUNK].decode("utf-8", "replace"))


def run_chain(jobs: list[tuple[str, dict[str, Any]]], topic: str, preload: tuple[str, ...], use_forkserver: bool,
              *upstream: dict[str, Reported]) -> dict[str, Reported]:
    """The Dask task of a chain of jobs: run them one after the other, each in its own process.

    A job runs only if the one before it succeeded (the first: if all the jobs in ``upstream``,
    the results of the tasks it was chained after, did); the others end ``canceled`` without
    running. Returns each job's result by job id.
    """
    worker = get_worker()
    plugin = plugin_of(worker)
    preload = tuple(preload)
    if use_forkserver and len(jobs) > 1:  # the later jobs' imports, ahead, while the first ones run
        plugin.warm(preload, [module for _, spec in jobs[1:] for module in plugin.job_modules(spec)])
    results: dict[str, Reported] = {}
    go = all(_succeeded(result) for task in upstream for result in task.values())
    for job_id, spec in jobs:
        results[job_id] = _run_job(plugin, worker, job_id, spec, topic, preload, use_forkserver, go)
        go = _succeeded(results[job_id])
    return results


def _run_job(plugin: JobsPlugin, worker: Any, job_id: str, spec: dict[str, Any], topic: str,
             preload: tuple[str, ...], use_forkserver: bool, go: bool) -> Reported:
    """Run one job in its own process (unless ``go`` is false), stream its output, report its end."""
    reporter = _Reporter(worker, topic, job_id)
    entry = plugin.register(job_id)
    try:
        if entry["canceled"] or not go:
            result = _canceled()
        elif use_forkserver:
            result = _run_forked(plugin, spec, preload, entry, reporter)
        else:
            result = _run_subprocess(plugin, spec, entry, reporter)
    except Exception as error:  # noqa: BLE001 - the engine must always hear the end
        result = {"outcome": {"status": "failed", "traceback": "",
                              "error": f"could not run the job on the Dask worker: {type(error).__name__}: {error}"},
                  "exit_code": None, "canceled": False}
    finally:
        plugin.unregister(job_id)
    reporter.flush()
    reporter.send("end", result=result)
    return result


def _started(reporter: _Reporter, pid: int, started: float | None) -> None:
    reporter.send("started", pid=pid, pid_started=started, worker=reporter.worker.address,
                  host=os.uname().nodename)


def _run_forked(plugin: JobsPlugin, spec: dict[str, Any], preload: tuple[str, ...], entry: dict[str, Any],
                reporter: _Reporter) -> Reported:
    server = plugin.forkserver(preload)
    modules = plugin.job_modules(spec)
    fifo = ""
    read_fd = keep_open = -1
    conn: Any = None
    outcome: JobOutcome | None = None
    code: int | None = None
    try:
        try:
            child = server.child(modules, stop=lambda: entry["canceled"])
        except Stopped:
            return _canceled()
        conn, pid = child
        if plugin.set_pid(entry, pid):
            return _canceled()
        fifo = os.path.join(server.folder, f"output-{uuid.uuid4().hex}")  # goes with the server's folder
        os.mkfifo(fifo, 0o600)
        read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        keep_open = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # no EOF before the job has opened it
        conn.send((spec, fifo, False, server.note(modules)))  # the child opens the fifo as its stdout and stderr
        _started(reporter, pid, child.started)
        server.prefork()  # the next job's child, forked while this one runs
        selector = selectors.DefaultSelector()
        selector.register(conn.fileno(), selectors.EVENT_READ, "conn")
        selector.register(read_fd, selectors.EVENT_READ, "output")
        done = False
        while not done:
            for key, _ in selector.select(timeout=1.0):
                if key.data == "output":
                    _drain(read_fd, reporter)
                    continue
                try:
                    outcome, code = read_outcome(conn)
                except (EOFError, OSError):
                    pass
                done = True
                break
        selector.close()
        os.close(keep_open)
        keep_open = -1
        deadline = time.monotonic() + 1.0  # a leftover grandchild may hold the fifo: don't wait for it
        while time.monotonic() < deadline and _drain(read_fd, reporter, wait=0.05):
            pass
    finally:
        if conn is not None:
            conn.close()
        for fd in (keep_open, read_fd):
            if fd >= 0:
                os.close(fd)
        if fifo:
            try:
                os.unlink(fifo)
            except OSError:
                pass
    return {"outcome": outcome, "exit_code": code, "canceled": entry["canceled"]}


def _drain(fd: int, reporter: _Reporter, wait: float = 0.0) -> bool:
    """Forward what can be read now; False at EOF (no writer left)."""
    if wait:
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return True
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        reporter.output(data)


def _run_subprocess(plugin: JobsPlugin, spec: dict[str, Any], entry: dict[str, Any],
                    reporter: _Reporter) -> Reported:
    result_r, result_w = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_pipelines.runner", "--result-fd", str(result_w)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(result_w,),
        start_new_session=True, close_fds=True)
    os.close(result_w)
    try:
        if plugin.set_pid(entry, process.pid):
            process.wait()
            return _canceled(process.returncode)
        _started(reporter, process.pid, start_time(process.pid))
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(spec).encode())  # the spec (and its secrets) only on stdin
            process.stdin.close()
        except BrokenPipeError:
            pass
        os.set_blocking(process.stdout.fileno(), False)
        while _drain(process.stdout.fileno(), reporter, wait=1.0):
            if process.poll() is not None:
                _drain(process.stdout.fileno(), reporter)
                break
        code = process.wait()
        with os.fdopen(result_r, "rb") as file:
            result_r = -1
            text = file.read()
    finally:
        if result_r >= 0:
            os.close(result_r)
        if process.poll() is None:
            kill_tree(process.pid)
            process.wait()
    return {"outcome": json.loads(text) if text else None, "exit_code": code, "canceled": entry["canceled"]}


def _canceled(exit_code: int | None = None) -> Reported:
    return {"outcome": None, "exit_code": exit_code, "canceled": True}


def _succeeded(result: Reported) -> bool:
    return result["outcome"] is not None and result["outcome"]["status"] == "success" and not result["canceled"]
