"""``dask``: each job as a task on a Dask distributed cluster, in its own process on the worker.

How a job runs
--------------
* The engine ``client.submit``\\ s one task (``pure=False``) per job, or per linear chain of
  jobs (each the only consumer of the one before it): such a chain could only run one job after
  the other anyway, and as one task it runs without a scheduler round trip between its jobs,
  as Dask's own graph optimisation fuses linear chains. A task runs after the tasks it depends
  on (chained on their futures, so before the engine hears of their end).
* The task (``compute/plumbing/daskworker.py``) runs in a worker thread but each job runs in
  **its own process** on that worker (Dask cannot kill a running thread; a process can be
  killed). By default the process is forked from a pre-warmed fork server that each worker
  process starts lazily (``runner/forkserver.py``, which kills its job processes when it ends),
  the next job's process is forked while one runs, and the modules the operations import are
  imported ahead in the fork server (for a whole execution as it starts: ``prepare``); with
  ``forkserver=False`` it is a fresh ``python -m jupyter_pipelines.runner`` subprocess instead.
  Either way the job leads its own session and keeps track of what it starts, so a cancel kills
  all of it (``runner.tree``).
* What a worker keeps — its fork servers, its running jobs, the jobs canceled before their task
  came — lives in a ``distributed.WorkerPlugin`` the backend registers as it connects, per worker
  and closed with it (``daskworker.JobsPlugin``).
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
the job canceled in that worker's plugin and kills its process group (a job that starts
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

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import BadRequest
from ..fields import Field, parse_config
from ..paths import Context
from ..runner.contracts import StorageSpec
from ..runner.imports import filesystem_modules, modules_of
from ..runner.job import open_nofollow
from ..statuses import JobStatus
from .base import ComputeBackend, Job, JobCallbacks, JobHandle, JobResult, Reported, canceled, failed, job_result

TOPIC_PREFIX = "jupyter-pipelines-"
WORKER_DIED = "the Dask worker running it died"

LOG = logging.getLogger("jupyter_pipelines")


def check_storage(spec: StorageSpec, what: str = "the execution's storage") -> None:
    """Refuse storage a Dask worker cannot reach (raises BadRequest)."""
    if spec.get("protocol") == "memory":
        raise BadRequest(f"the dask compute backend cannot use {what}: 'memory' storage lives in one process's "
                         "memory and cannot be shared with Dask workers; choose 'local' (workers on this machine), "
                         "'s3', 'sciserver-files' or another shared storage")


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
                job.end(canceled())
            else:
                blamed = True  # the first unfinished job is the one that was running; the rest never ran
                if type(error).__name__ == "KilledWorker":
                    message = f"{WORKER_DIED} (the job was run {max(job.starts, 1)} time(s))"
                else:
                    message = f"the Dask task failed: {type(error).__name__}: {error}"
                job.end(failed(message))

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
                job.end(failed(lost))


class DaskJob:
    """The engine's handle on one submitted job (one of its task's chain)."""

    def __init__(self, backend: DaskCompute, job: Job, callbacks: JobCallbacks) -> None:
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
            self.end(failed(f"{WORKER_DIED} (the job was run {starts - 1} time(s))"))
        else:
            self.write_output(f"\n[dask] {WORKER_DIED}; running the job again ({starts - 1} of {limit} retries)\n")

    def on_end(self, reported: Reported) -> None:
        result = job_result(reported["outcome"], reported["exit_code"], reported["canceled"] or self.canceled)
        if result.status == JobStatus.SUCCESS and self.log_error:
            result = JobResult(JobStatus.FAILED, result.exit_code, error=self.log_error)
        self.end(result)

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
        Field("preload", "str", "", "Modules the pre-warmed process also imports, comma-separated, once the first "
              "operation runs on a worker (those the operations import are imported ahead anyway)"),
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
        return float(parsed["timeout"]) + 5.0

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
        import dask  # the dask extra: imported only by a dask backend
        from distributed import Client, LocalCluster  # the dask extra

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
        from .plumbing.daskworker import PLUGIN_NAME, JobsPlugin  # imports distributed (the dask extra)

        try:
            self.client.register_plugin(JobsPlugin(), name=PLUGIN_NAME)
        except Exception as error:  # noqa: BLE001 - e.g. a scheduler that cannot import this package
            self.close()
            raise BadRequest(f"cannot set up the Dask workers of {address or '(LocalCluster)'}: "
                             f"{type(error).__name__}: {error}") from None
        self.client.subscribe_topic(self.topic, self._on_event)

    # -- engine API
    def check_storage(self, spec: StorageSpec, what: str = "the execution's storage") -> None:
        check_storage(spec, what)

    def prepare(self, sources: Sequence[str], protocols: Sequence[str] = ()) -> None:
        """Have every worker's fork server import the operations' modules ahead (not waited for)."""
        if not self.config["forkserver"] or self.client is None:
            return
        from .plumbing.daskworker import warm_on_worker  # imports distributed (the dask extra)

        modules = [*filesystem_modules(protocols), *(module for source in sources for module in modules_of(source))]
        if modules:
            self.client.run(warm_on_worker, self.preload, list(dict.fromkeys(modules)), wait=False,
                            on_error="ignore")

    def submit(self, job: Job, callbacks: JobCallbacks, after: Sequence[JobHandle] = ()) -> DaskJob:
        return self._submit_task([DaskJob(self, job, callbacks)], after)[0]

    def submit_chain(self, jobs: Sequence[tuple[Job, JobCallbacks]],
                     after: Sequence[JobHandle] = ()) -> Sequence[DaskJob]:
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
        from .plumbing.daskworker import run_chain  # imports distributed (the dask extra)

        task.future = self.client.submit(run_chain, chain, self.topic, self.preload, self.config["forkserver"],
                                         *futures.values(), key=key, pure=False, resources=self.resources or None)
        task.future.add_done_callback(lambda future: self.callback_thread.submit(task.on_done, future))
        return handles

    def kill(self, job_id: str, worker: str | None) -> None:
        if self.client is None:
            return
        from .plumbing.daskworker import cancel_on_worker  # imports distributed (the dask extra)

        try:
            self.client.run(cancel_on_worker, job_id, workers=[worker] if worker else None, on_error="ignore")
        except Exception:  # noqa: BLE001, S110 - the worker may be gone; its fork server kills the job then
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
            self.callback_thread.submit(handle.on_end, msg["result"])

    def close(self) -> None:
        with self.lock:
            handles = list(self.jobs.values())
        for handle in handles:
            try:
                handle.cancel()
            except Exception:  # noqa: BLE001 - cancel the others
                LOG.warning("dask: could not cancel job %s while closing", handle.id, exc_info=True)
        if self.client is not None:
            try:
                self.client.unsubscribe_topic(self.topic)
            except Exception:  # noqa: BLE001, S110 - the scheduler may be gone already; the client closes anyway
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
