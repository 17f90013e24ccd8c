"""``dask``: each job as a task on a Dask distributed cluster, in its own process on the worker.

How a job runs
--------------
* The engine ``client.submit``\\ s one task (``pure=False``) per job, or per linear chain of
  jobs (each the only consumer of the one before it): such a chain could only run one job after
  the other anyway, and as one task it runs without a scheduler round trip between its jobs,
  as Dask's own graph optimisation fuses linear chains. A task runs after the tasks it depends
  on (chained on their futures, so before the engine hears of their end).
* The task runs in a worker thread but each job runs in **its own process** on that worker
  (Dask cannot kill a running thread; a process can be killed). By default the process is
  forked from a pre-warmed fork server that each worker process starts lazily
  (``runner/forkserver.py``, which kills its job processes when it ends), and the
  next job's process is forked while one runs; with ``forkserver=False`` it is a fresh
  ``python -m jupyter_pipelines.runner`` subprocess instead. Either way the job leads its own
  session and keeps track of what it starts, so a cancel kills all of it (``runner.tree``).
* The job spec (which may hold credentials for the storage and the inputs) travels in memory
  only: pickled in the task's arguments, then over the fork server's unix socket or the
  subprocess's stdin — never in an argument list, an environment variable or a file.
* Data passes through the execution's storage. ``memory`` storage lives in one process's
  memory and cannot cross machines: it is refused. ``local`` storage works when the workers
  share the engine's filesystem (always true for the LocalCluster this backend owns).

What comes back
---------------
The task reports through Dask's structured events (``Worker.log_event`` on one topic per
backend instance, relayed by the scheduler to this client's ``subscribe_topic`` handler), so it
works with remote workers too:

* ``started`` — the job process's pid (and the worker's address) when it has started;
* ``log`` — output chunks as the job writes them, appended to the job's log file (which
  lives on the engine's machine) as they arrive;
* ``end`` — the job's result.

The task also returns its jobs' results, used only for those whose ``end`` event did not arrive.

Cancel
------
``cancel`` drops a task none of whose jobs has started (``future.cancel()``) once all its jobs
are canceled; for a job that may be running it calls, on the worker(s), a function that marks
the job canceled in that worker's registry and kills its process group (a job that starts
later sees the mark and does not run, nor do the jobs after it in its chain). This reaches the
process at once, with no polling of a per-job ``distributed.Event``.

Worker death
------------
If the worker running a job dies, Dask runs the task again on another worker. The job is run
again at most ``retries`` times (default 1; the LocalCluster this backend owns is configured
with the same ``allowed-failures``); past that it fails with "the Dask worker running it
died". The job processes of a dead worker are killed by its fork server as it exits. Jobs of
the same chain that had already ended run again with it, unseen (as Dask recomputes lost
results): the engine keeps what they reported first.
"""
from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

from ..paths import Context
from ..errors import BadRequest
from ..fields import Field, parse_config
from ..runner.job import open_nofollow
from .base import ComputeBackend, JobCallbacks, JobHandle, JobResult, JobSpec
from .plumbing.forkserver import ForkServer, read_outcome
from ..runner.tree import kill_tree, start_time

TOPIC_PREFIX = "jupyter-pipelines-"
LOG_CHUNK = 16 << 10  # bytes per log event at most (the scheduler keeps the last 1000 events of a topic)
WORKER_DIED = "the Dask worker running it died"


def check_storage(spec: Mapping[str, Any], what: str = "the execution's storage") -> None:
    """Refuse storage a Dask worker cannot reach (raises BadRequest)."""
    if spec.get("protocol") == "memory":
        raise BadRequest(f"the dask compute backend cannot use {what}: 'memory' storage lives in one process's "
                         "memory and cannot be shared with Dask workers; choose 'local' (workers on this machine), "
                         "'s3', 'sciserver-files' or another shared storage")


# ================================================================================================
# Worker side: runs inside the Dask worker process.
# ================================================================================================

_forkservers: dict[tuple[str, ...], ForkServer] = {}
_registry_lock = threading.Lock()
_running: dict[str, dict[str, Any]] = {}  # job id -> {"pid": int | None, "canceled": bool}
_canceled_early: dict[str, float] = {}  # job ids canceled before their task started here


def _forkserver(preload: tuple[str, ...]) -> ForkServer:
    with _registry_lock:
        server = _forkservers.get(preload)
        if server is None:
            server = _forkservers[preload] = ForkServer(preload)
        return server


def _cancel_on_worker(job_id: str) -> bool:
    """Run on a worker by ``client.run``: mark the job canceled and kill its processes."""
    with _registry_lock:
        entry = _running.get(job_id)
        if entry is None:
            now = time.time()
            for key, when in list(_canceled_early.items()):
                if now - when > 3600:
                    del _canceled_early[key]
            _canceled_early[job_id] = now
            return False
        entry["canceled"] = True
        pid = entry["pid"]
    if pid:
        kill_tree(pid)
    return True


def _register(job_id: str) -> dict[str, Any]:
    with _registry_lock:
        entry = {"pid": None, "canceled": _canceled_early.pop(job_id, None) is not None}
        _running[job_id] = entry
        return entry


def _set_pid(entry: dict[str, Any], pid: int) -> bool:
    """Record the job's pid; True if it was canceled meanwhile (then it is killed)."""
    with _registry_lock:
        entry["pid"] = pid
        canceled = entry["canceled"]
    if canceled:
        kill_tree(pid)
    return canceled


class _Reporter:
    """Sends a job's events to the engine through the scheduler."""

    def __init__(self, topic: str, job_id: str) -> None:
        from distributed import get_worker

        self.worker = get_worker()
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
              *upstream: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Dask task of a chain of jobs: run them one after the other, each in its own process.

    A job runs only if the one before it succeeded (the first: if all the jobs in ``upstream``,
    the results of the tasks it was chained after, did); the others end ``canceled`` without
    running. Returns each job's result by job id.
    """
    results: dict[str, dict[str, Any]] = {}
    go = all(result.get("status") == "success" for task in upstream for result in task.values())
    for job_id, spec in jobs:
        results[job_id] = _run_job(job_id, spec, topic, preload, use_forkserver, go)
        go = results[job_id]["status"] == "success"
    return results


def _run_job(job_id: str, spec: dict[str, Any], topic: str, preload: tuple[str, ...], use_forkserver: bool,
             go: bool) -> dict[str, Any]:
    """Run one job in its own process (unless ``go`` is false), stream its output, report its end."""
    reporter = _Reporter(topic, job_id)
    entry = _register(job_id)
    try:
        if entry["canceled"] or not go:
            result: dict[str, Any] = {"status": "canceled", "exit_code": None}
        elif use_forkserver:
            result = _run_forked(spec, preload, entry, reporter)
        else:
            result = _run_subprocess(spec, entry, reporter)
    except Exception as error:  # noqa: BLE001 - the engine must always hear the end
        result = {"status": "failed", "exit_code": None,
                  "error": f"could not run the job on the Dask worker: {type(error).__name__}: {error}"}
    finally:
        with _registry_lock:
            _running.pop(job_id, None)
    reporter.flush()
    reporter.send("end", result=result)
    return result


def _started(reporter: _Reporter, pid: int) -> None:
    reporter.send("started", pid=pid, pid_started=start_time(pid), worker=reporter.worker.address,
                  host=os.uname().nodename)


def _run_forked(spec: dict[str, Any], preload: tuple[str, ...], entry: dict[str, Any],
                reporter: _Reporter) -> dict[str, Any]:
    server = _forkserver(preload)
    folder = ""
    read_fd = keep_open = -1
    conn: Any = None
    outcome: tuple[str, Any] | None = None
    code: int | None = None
    try:
        conn, pid = server.child()
        if _set_pid(entry, pid):
            return {"status": "canceled", "exit_code": None}
        folder = tempfile.mkdtemp(prefix="job-", dir=server.folder)  # goes with the server's if this worker dies
        fifo = os.path.join(folder, "output")
        os.mkfifo(fifo, 0o600)
        read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        keep_open = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # no EOF before the job has opened it
        conn.send((spec, fifo))  # the child opens the fifo as its stdout and stderr
        _started(reporter, pid)
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
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    if entry["canceled"]:
        return {"status": "canceled", "exit_code": code}
    if outcome and outcome[0] == "ok":
        return {"status": "success", "exit_code": code, "outputs": outcome[1]["outputs"],
                "figures": outcome[1].get("figures") or []}
    if outcome:
        return {"status": "failed", "exit_code": code, **outcome[1]}
    return {"status": "failed", "exit_code": code, "error": _death(code)}


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


def _run_subprocess(spec: dict[str, Any], entry: dict[str, Any], reporter: _Reporter) -> dict[str, Any]:
    result_r, result_w = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_pipelines.runner", "--result-fd", str(result_w)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(result_w,),
        start_new_session=True, close_fds=True)
    os.close(result_w)
    try:
        if _set_pid(entry, process.pid):
            process.wait()
            return {"status": "canceled", "exit_code": process.returncode}
        _started(reporter, process.pid)
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
    if entry["canceled"]:
        return {"status": "canceled", "exit_code": code}
    if not text:
        return {"status": "failed", "exit_code": code, "error": _death(code)}
    result = json.loads(text)
    result["exit_code"] = code
    result.pop("seconds", None)
    return result


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the job process was killed by {signal.Signals(-code).name}"
    return f"the job process exited with code {code} without reporting a result"


# ================================================================================================
# Engine side
# ================================================================================================

class DaskTask:
    """One Dask task: a chain of jobs that run one after the other on a worker."""

    def __init__(self, backend: DaskCompute, jobs: list[DaskJob]) -> None:
        self.backend = backend
        self.jobs = jobs
        self.future: Any = None
        self.started = False

    def on_done(self, future: Any) -> None:
        """The Dask future ended; matters only for jobs whose ``end`` event did not come."""
        if all(job.ended for job in self.jobs):
            return
        status = future.status
        if status == "finished":
            self._late_results(future, time.monotonic() + 2.0)
            return
        error: BaseException | None = None
        if status != "cancelled":
            try:
                error = future.exception(timeout=10)
            except Exception as exc:  # noqa: BLE001
                error = exc
        blamed = False
        for job in self.jobs:
            if job.ended:
                continue
            if error is None or job.canceled or blamed:
                job.end(JobResult("canceled", error="canceled"))
            else:
                blamed = True  # the first unfinished job is the one that was running; the rest never ran
                if type(error).__name__ == "KilledWorker":
                    message = f"{WORKER_DIED} (the job was run {max(job.starts, 1)} time(s))"
                else:
                    message = f"the Dask task failed: {type(error).__name__}: {error}"
                job.end(JobResult("failed", error=message))

    def _late_results(self, future: Any, deadline: float) -> None:
        """The task returned but some ``end`` events have not been handled yet: they normally come first,
        so wait a little (letting the callback thread handle queued events), then use the returned values."""
        if all(job.ended for job in self.jobs):
            return
        if time.monotonic() < deadline:
            time.sleep(0.005)
            self.backend.callback_thread.submit(self._late_results, future, deadline)
            return
        try:
            results = future.result(timeout=10)
        except Exception as error:  # noqa: BLE001
            results, lost = {}, f"the job's result was lost: {type(error).__name__}: {error}"
        else:
            lost = "the job's result was lost"
        for job in self.jobs:
            if job.id in results:
                job.on_end(results[job.id])
            else:
                job.end(JobResult("failed", error=lost))


class DaskJob:
    """The engine's handle on one submitted job (one of its task's chain)."""

    def __init__(self, backend: DaskCompute, job: JobSpec, callbacks: JobCallbacks) -> None:
        self.backend = backend
        self.job = job
        self.callbacks = callbacks
        self.id = f"{job.execution}/{job.node}/{uuid.uuid4().hex}"
        self.task: DaskTask | None = None
        self.worker: str | None = None
        self.starts = 0
        self.canceled = False
        self.ended = False
        self.log_error: str | None = None
        self.lock = threading.Lock()

    # -- from the engine
    def cancel(self) -> None:
        with self.lock:
            if self.ended or self.canceled:
                return
            self.canceled = True
        task = self.task
        if task is not None and not task.started and task.future is not None \
                and all(job.canceled or job.ended for job in task.jobs):
            task.future.cancel()  # the whole task is still queued: drop it (its done callback reports)
        self.backend.kill(self.id, self.worker)  # running, starting right now or later in its chain

    # -- from the backend's callback thread (in order of arrival)
    def on_started(self, msg: Mapping[str, Any]) -> None:
        with self.lock:
            if self.ended:
                return
            self.starts += 1
            self.worker = msg.get("worker")
            starts = self.starts
        if self.task is not None:
            self.task.started = True
        if starts == 1:
            pid = msg.get("pid")
            self.callbacks.started(pid, msg.get("pid_started"))
            return
        limit = self.backend.config["retries"]
        if starts - 1 > limit:
            self.write_output(f"\n[dask] {WORKER_DIED}; the job is not run again (retries={limit})\n")
            self.backend.kill(self.id, self.worker)
            if self.task is not None and self.task.future is not None:
                self.task.future.cancel()
            self.end(JobResult("failed", error=f"{WORKER_DIED} (the job was run {starts - 1} time(s))"))
        else:
            self.write_output(f"\n[dask] {WORKER_DIED}; running the job again ({starts - 1} of {limit} retries)\n")

    def on_end(self, result: Mapping[str, Any]) -> None:
        status = result.get("status", "failed")
        if self.canceled and status != "success":
            status = "canceled"
        error, traceback = result.get("error"), result.get("traceback")
        if status == "success" and self.log_error:
            status, error, traceback = "failed", self.log_error, None
        self.end(JobResult(status, exit_code=result.get("exit_code"), outputs=list(result.get("outputs") or []),
                           figures=list(result.get("figures") or []) if status == "success" else [],
                           error=error if status == "failed" else ("canceled" if status == "canceled" else None),
                           traceback=traceback if status == "failed" else None))

    def end(self, result: JobResult) -> None:
        with self.lock:
            if self.ended:
                return
            self.ended = True
        self.backend.forget(self)
        self.callbacks.finished(result)

    def write_output(self, text: str) -> None:
        """Append to the job's log; a job whose log cannot be written (say, a symbolic link) fails."""
        if not self.ended:
            try:
                self._write_log(text)
            except OSError as error:
                self.log_error = self.log_error or f"cannot write the job's log: {error}"

    def _write_log(self, text: str) -> None:
        with open_nofollow(self.job.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND) as file:
            file.write(text.encode("utf-8", "replace"))


class DaskCompute(ComputeBackend):
    name = "dask"
    drops_queued = False  # start notices arrive as Dask events, possibly after a failure
    chains = True  # a job waits for its inputs in the cluster: no round trip through the engine
    fuses_chains = True  # a linear chain is one Dask task
    title = "Dask cluster"
    description = ("Each operation as a task on a Dask distributed cluster, in its own process on the worker "
                   "(a LocalCluster on this machine when no scheduler is given).")
    requires = ("distributed",)
    install = "pip install 'jupyter_pipelines[dask]'"
    fields = (
        Field("scheduler", "str", "", "Address of the Dask scheduler (tcp://host:8786); empty: start a LocalCluster"),
        Field("workers", "int", 2, "Worker processes of the LocalCluster (when no scheduler is given)", minimum=1),
        Field("threads_per_worker", "int", 1, "Operations each LocalCluster worker runs at once", minimum=1),
        Field("resources", "str", "", "Dask resources each operation needs, e.g. 'GPU=1,MEMORY=4e9'"),
        Field("retries", "int", 1, "Times an operation runs again when the worker running it dies", choices=(0, 1, 2, 3)),
        Field("forkserver", "bool", True, "Fork each operation from a pre-warmed process on the worker "
              "(else start a new Python interpreter per operation)"),
        Field("preload", "str", "numpy,pandas", "Modules the pre-warmed process imports, comma-separated"),
        Field("timeout", "float", 30.0, "Seconds to wait for the scheduler when connecting", minimum=0.1,
              maximum=3600),
    )

    @classmethod
    def connect_timeout(cls, config: Mapping[str, Any]) -> float:
        """The ``timeout`` field for a scheduler address (plus a margin for the client's own set-up);
        starting a LocalCluster takes what it takes on a busy machine."""
        parsed = parse_config(cls.fields, config, f"compute backend {cls.name!r}")
        if not (parsed["scheduler"] or "").strip():
            return super().connect_timeout(config)
        return parsed["timeout"] + 5.0

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        super().__init__(config, context)
        self.resources = _parse_resources(self.config["resources"])
        self.preload = tuple(m.strip() for m in (self.config["preload"] or "").split(",") if m.strip())
        self.topic = TOPIC_PREFIX + uuid.uuid4().hex
        self.jobs: dict[str, DaskJob] = {}
        self.lock = threading.Lock()
        self.callback_thread = ThreadPoolExecutor(1, thread_name_prefix="dask-jobs")  # keeps events in order
        self.cluster: Any = None
        self.client: Any = None
        self._connect()

    def _connect(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        address = (self.config["scheduler"] or "").strip()
        try:
            if address:
                self.client = Client(address, timeout=self.config["timeout"], set_as_default=False)
            else:
                with dask.config.set({"distributed.scheduler.allowed-failures": self.config["retries"]}):
                    self.cluster = LocalCluster(n_workers=max(1, self.config["workers"]),
                                                threads_per_worker=max(1, self.config["threads_per_worker"]),
                                                processes=True, dashboard_address=":0",
                                                resources=self.resources or None)
                self.client = Client(self.cluster, set_as_default=False)
        except (OSError, TimeoutError) as error:
            self.close()
            raise BadRequest(f"cannot connect to the Dask scheduler {address or '(LocalCluster)'}: {error}") from None
        self.client.subscribe_topic(self.topic, self._on_event)

    # -- engine API
    def check_storage(self, spec: Mapping[str, Any], what: str = "the execution's storage") -> None:
        check_storage(spec, what)

    def submit(self, job: JobSpec, callbacks: JobCallbacks, after: Sequence[JobHandle] = ()) -> DaskJob:
        return self._submit_task([DaskJob(self, job, callbacks)], after)[0]

    def submit_chain(self, jobs: Sequence[tuple[JobSpec, JobCallbacks]],
                     after: Sequence[JobHandle] = ()) -> list[DaskJob]:
        """Run the jobs one after the other in one Dask task (no scheduler round trip between them)."""
        return self._submit_task([DaskJob(self, job, callbacks) for job, callbacks in jobs], after)

    def _submit_task(self, handles: list[DaskJob], after: Sequence[JobHandle]) -> list[DaskJob]:
        """One task for the chain ``handles``, after the tasks of ``after`` (whose futures stay referenced
        by their jobs, so a task that already ended still hands its results on)."""
        futures = {id(other.task.future): other.task.future for other in after
                   if isinstance(other, DaskJob) and other.task is not None}
        task = DaskTask(self, handles)
        with self.lock:
            for handle in handles:
                handle.task = task
                self.jobs[handle.id] = handle
        key = f"jupyter-pipelines-{handles[0].job.node}-{uuid.uuid4().hex}"
        chain = [(handle.id, dict(handle.job.spec)) for handle in handles]
        task.future = self.client.submit(run_chain, chain, self.topic, self.preload, self.config["forkserver"],
                                         *futures.values(), key=key, pure=False, resources=self.resources or None)
        task.future.add_done_callback(lambda future: self.callback_thread.submit(task.on_done, future))
        return handles

    def kill(self, job_id: str, worker: str | None) -> None:
        if self.client is None:
            return
        try:
            self.client.run(_cancel_on_worker, job_id, workers=[worker] if worker else None, on_error="ignore")
        except Exception:  # noqa: BLE001 - the worker may be gone; its fork server kills the job then
            pass

    def forget(self, handle: DaskJob) -> None:
        with self.lock:
            self.jobs.pop(handle.id, None)

    def _on_event(self, event: tuple[float, Any]) -> None:
        """On the client's event loop: hand the event to the callback thread, which keeps their order
        (a job shows running before its first log line is written)."""
        msg = event[1]
        if not isinstance(msg, dict):
            return
        with self.lock:
            handle = self.jobs.get(msg.get("job", ""))
        if handle is None:
            return
        kind = msg.get("kind")
        if kind == "log":
            self.callback_thread.submit(handle.write_output, msg.get("text", ""))
        elif kind == "started":
            self.callback_thread.submit(handle.on_started, msg)
        elif kind == "end":
            self.callback_thread.submit(handle.on_end, msg.get("result") or {})

    def close(self) -> None:
        with self.lock:
            handles = list(self.jobs.values())
        for handle in handles:
            try:
                handle.cancel()
            except Exception:  # noqa: BLE001
                pass
        if self.client is not None:
            try:
                self.client.unsubscribe_topic(self.topic)
            except Exception:  # noqa: BLE001
                pass
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        self.callback_thread.shutdown(wait=False)


def _parse_resources(text: str) -> dict[str, float]:
    resources: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        try:
            resources[name.strip()] = float(value or 1)
        except ValueError:
            raise BadRequest(f"field 'resources' of compute backend 'dask': bad amount in {part.strip()!r}") from None
    return resources
