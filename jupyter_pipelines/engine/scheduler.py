"""One execution's run: the job state machine, failure and cancel semantics."""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..compute import ComputeBackend, Job, JobResult
from ..pipeline import Pipeline
from ..runner.process import reset_log
from ..statuses import FINAL_JOB, UNDER_WAY, ExecutionStatus, JobStatus
from ..store import ExecutionRecord, Store
from ..store.models import now

CANCEL_POLL_SECONDS = 0.5
#: How long a run whose engine failed keeps trying to record that the execution failed.
GIVE_UP_SECONDS = 30.0

LOG = logging.getLogger("jupyter_pipelines")


class _Callbacks:
    """Routes a backend's notifications about one job to the run."""

    def __init__(self, run: ExecutionRun, node: str) -> None:
        self.run = run
        self.node = node

    def queued(self) -> None:
        run = self.run
        with run.lock:
            if self.node in run.dropped or run.over or self.node in run.recorded:
                return
            run.recorded.add(self.node)
            attempt = run.attempts[self.node]
        run.store.update_job(run.execution_id, self.node, status=JobStatus.QUEUED, **_new_attempt(attempt))

    def started(self, pid: int | None, pid_started: float | None) -> None:
        run = self.run
        with run.lock:
            if not run.mark_started(self.node):
                return  # dropped after another job failed; the backend is killing it
            first = self.node not in run.recorded  # handed over ahead, and it starts at once: one write
            run.recorded.add(self.node)
            attempt = run.attempts[self.node]
        values = _new_attempt(attempt) if first else {}
        run.store.update_job(run.execution_id, self.node, **{**values, "status": JobStatus.RUNNING, "started": now(),
                                                             "pid": pid, "pid_started": pid_started})

    def finished(self, result: JobResult) -> None:
        if result.status == JobStatus.FAILED:
            self.run.halt()  # now, on the backend's thread, before it can start another queued job
        self.run.completions.put((self.node, result))


def _new_attempt(attempt: int) -> dict[str, Any]:
    """The columns that start attempt ``attempt`` of a job."""
    return {"attempt": attempt, "started": None, "ended": None, "exit_code": None, "error": None, "traceback": None,
            "outputs": [], "figures": [], "pid": None}


class ExecutionRun:
    """Schedules the jobs of one execution on a compute backend until it ends.

    Jobs whose dependencies succeeded are submitted (``queued``) and become ``running`` when
    the backend starts them. When a job fails no new job starts, running ones finish and the
    rest become ``skipped``. Cancel kills running jobs; everything unfinished ends ``canceled``.
    """

    def __init__(self, store: Store, record: ExecutionRecord, pipeline: Pipeline, compute: ComputeBackend,
                 build_spec: Callable[[str, int], Job], on_success: Callable[[str, JobResult], None],
                 on_end: Callable[[ExecutionRun], None], log: logging.Logger = LOG) -> None:
        self.store = store
        self.execution_id = record.id
        self.name = record.name
        self.pipeline = pipeline
        self.compute = compute
        self.build_spec = build_spec
        self.on_success = on_success
        self.on_end = on_end
        self.log = log
        self.order = pipeline.topological_order()
        self.dependencies = {node: pipeline.dependencies(node) for node in self.order}
        self.dependents: dict[str, set[str]] = {node: set() for node in self.order}
        for node, dependencies in self.dependencies.items():
            for dependency in dependencies:
                self.dependents[dependency].add(node)
        self.status = {job.node: job.status for job in record.jobs}
        self.attempts = {job.node: job.attempt for job in record.jobs}
        self.completions: queue.Queue[tuple[str, JobResult] | None] = queue.Queue()
        self.handles: dict[str, Any] = {}
        self.failed: str | None = None
        self.lock = threading.RLock()
        self.running: set[str] = set()  # jobs the backend has started
        self.dropped: set[str] = set()  # queued jobs canceled because another job failed
        self.halted = threading.Event()  # a job failed: no new job starts
        self.cancel_requested = threading.Event()
        self.stopping = threading.Event()
        self.over = False  # the run gave up after an engine failure: backends' late news is ignored
        self.suspects: set[str] = set()  # jobs the watchdog found gone once
        #: Jobs whose current attempt is in the store. A job handed to a backend before the jobs it needs
        #: ended stays ``pending`` there until the backend queues or starts it (and ``queued`` here).
        self.recorded: set[str] = set()
        self.thread = threading.Thread(target=self._main, name=f"execution-{record.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_requested.set()
        self.completions.put(None)

    def stop(self) -> None:
        """Leave the execution as it is (it resumes when an engine starts again on this store)."""
        self.stopping.set()
        self.completions.put(None)

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    # -- the loop ---------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._loop()
        except Exception as error:  # noqa: BLE001 - never leave an execution running silently
            self.log.exception("execution %r: the engine failed while running it", self.name)
            self._abandon(f"the engine failed while running this execution: {type(error).__name__}: {error}")
        finally:
            self.on_end(self)

    def _abandon(self, reason: str) -> None:
        """After an engine failure: kill what runs and record the failure, retrying while the store
        refuses writes (a full disk); after :data:`GIVE_UP_SECONDS` the manager's watchdog takes over."""
        with self.lock:
            self.over = True
            handles = list(self.handles.values())
        for handle in handles:
            try:
                handle.cancel()
            except Exception:  # noqa: BLE001 - the others must still be canceled
                self.log.exception("execution %r: canceling a job failed", self.name)
        delay, deadline = 0.1, time.monotonic() + GIVE_UP_SECONDS
        while True:
            try:
                for job in self.store.execution_by_id(self.execution_id).jobs:  # as recorded, not as hoped
                    if job.status not in FINAL_JOB:
                        final = JobStatus.FAILED if job.status in UNDER_WAY else JobStatus.SKIPPED
                        self.store.update_job(self.execution_id, job.node, status=final, ended=now(),
                                              error=reason if final == JobStatus.FAILED else None)
                self._finish(ExecutionStatus.FAILED, reason)
                return
            except Exception:  # noqa: BLE001 - logged; tried again
                self.log.exception("execution %r: cannot record that it failed", self.name)
            if time.monotonic() > deadline or self.stopping.wait(delay):
                return
            delay = min(2 * delay, 2.0)

    def _loop(self) -> None:
        if not self.store.start_execution(self.execution_id):
            return  # it ended (was canceled) before its run began
        self._prepare()
        while True:
            if self.stopping.is_set():
                return
            if self.cancel_requested.is_set():
                return self._cancel_all()
            if not self.halted.is_set():
                self._start_ready()
            if not self.handles:
                break
            try:
                item = self.completions.get(timeout=CANCEL_POLL_SECONDS)
            except queue.Empty:
                if self.store.execution_by_id(self.execution_id).cancel_requested:
                    self.cancel_requested.set()
                continue
            if item is not None:
                self._complete(*item)
        if self.failed is not None:
            self._skip_rest()
            return self._finish(ExecutionStatus.FAILED, self.failed)
        self._finish(ExecutionStatus.SUCCESS, None)

    def _prepare(self) -> None:
        """Tell the backend which operations will run, so it can get ready for them in the background."""
        sources: dict[str, None] = {}
        for node in self.order:
            definition = self.pipeline.nodes[node]
            if self.status[node] == JobStatus.PENDING and definition.kind == "operation":
                sources[self.pipeline.operations[definition.operation or ""].source] = None
        try:
            self.compute.prepare(list(sources))
        except Exception:  # noqa: BLE001 - only ever a matter of speed
            self.log.exception("execution %r: the compute backend could not prepare its operations", self.name)

    def _ready(self) -> Iterator[str]:
        """Pending jobs whose dependencies succeeded (or, on a backend that chains, are on their way).

        Lazy, in topological order: a job submitted by the caller makes its dependents ready in the
        same pass, so a chaining backend is handed a whole chain at once.
        """
        usable = (JobStatus.SUCCESS, *UNDER_WAY) if self.compute.chains else (JobStatus.SUCCESS,)
        return (node for node in self.order
                if self.status[node] == JobStatus.PENDING and all(self.status[dep] in usable for dep in self.dependencies[node]))

    def mark_started(self, node: str) -> bool:
        """Record that the backend started ``node``; False if it was dropped after a failure."""
        with self.lock:
            if node in self.dropped or self.over:
                return False
            self.running.add(node)
            return True

    def halt(self) -> None:
        """A job failed: start nothing more and drop the jobs still queued (running ones finish)."""
        with self.lock:
            self.halted.set()
            if not self.compute.drops_queued:
                return
            queued = [(node, handle) for node, handle in self.handles.items()
                      if node not in self.running and node not in self.dropped]
            self.dropped.update(node for node, _ in queued)
        for _, handle in queued:
            handle.cancel()

    def _start_ready(self) -> None:
        with self.lock:
            if not self.halted.is_set():
                self._submit_ready()

    def _submit_ready(self) -> None:
        """Queue every ready job; on a backend that fuses chains, linear chains go to it as one unit."""
        chains: list[list[tuple[str, Job]]] = []
        chain_of: dict[str, list[tuple[str, Job]]] = {}
        for node in self._ready():
            self.attempts[node] += 1
            spec = self.build_spec(node, self.attempts[node])
            os.makedirs(os.path.dirname(spec.log_path), mode=0o700, exist_ok=True)
            reset_log(spec.log_path)
            self.status[node] = JobStatus.QUEUED
            ahead = self.compute.chains and not self.compute.fuses_chains
            after = [self.handles[dep] for dep in self.dependencies[node] if self.status[dep] != JobStatus.SUCCESS] \
                if ahead else []
            if not after:
                self.recorded.add(node)
                self.store.update_job(self.execution_id, node, status=JobStatus.QUEUED, **_new_attempt(self.attempts[node]))
            if not self.compute.chains:
                self.handles[node] = self.compute.submit(spec, _Callbacks(self, node))
                continue
            if not self.compute.fuses_chains:  # each job now, after those it needs that have not succeeded yet;
                # it stays pending in the store until the backend queues or starts it
                self.handles[node] = self.compute.submit(spec, _Callbacks(self, node), after=after)
                continue
            before = self._sole_dependency(node)
            if before in chain_of and len(self.dependents[before]) == 1:  # ``before`` ends its chain
                chain = chain_of[before]
                chain.append((node, spec))
            else:
                chain = [(node, spec)]
                chains.append(chain)
            chain_of[node] = chain
        for chain in chains:  # in topological order of their first jobs
            waits_for = [self.handles[dep] for dep in self.dependencies[chain[0][0]] if self.status[dep] != JobStatus.SUCCESS]
            handles = self.compute.submit_chain([(spec, _Callbacks(self, node)) for node, spec in chain],
                                                after=waits_for)
            self.handles.update(zip((node for node, _ in chain), handles, strict=True))

    def _sole_dependency(self, node: str) -> str | None:
        dependencies = self.dependencies[node]
        return next(iter(dependencies)) if len(dependencies) == 1 else None

    def check_jobs(self) -> None:
        """For the watchdog: a job whose backend says it is gone, at two checks in a row, without
        having reported its end, ends ``failed``."""
        with self.lock:
            lost = {node for node, handle in self.handles.items() if not _alive(handle)}
            confirmed, self.suspects = lost & self.suspects, lost - self.suspects
        for node in confirmed:
            self.log.error("execution %r: job %r was lost (its process ended without reporting)", self.name, node)
            self.completions.put((node, JobResult(JobStatus.FAILED, error="the job was lost: its process ended without "
                                                                  "reporting a result")))

    def alive(self) -> bool:
        return self.thread.is_alive()

    def _complete(self, node: str, result: JobResult) -> None:
        with self.lock:
            if self.handles.pop(node, None) is None:
                return  # already ended (a job the watchdog declared lost that reported after all)
            self.running.discard(node)
        status = result.status
        if status == JobStatus.CANCELED and self.halted.is_set() and not self.cancel_requested.is_set():
            status = JobStatus.SKIPPED  # dropped from the queue because another job failed
        if status == JobStatus.SUCCESS:
            self.on_success(node, result)
        self.status[node] = status
        self.store.update_job(self.execution_id, node, status=status, ended=now(), exit_code=result.exit_code,
                              error=result.error, traceback=result.traceback, outputs=result.outputs,
                              figures=result.figures)
        if status == JobStatus.FAILED and self.failed is None:
            self.failed = f"operation {node!r} failed: {result.error}"
            self.halt()

    def _skip_rest(self) -> None:
        for node, status in self.status.items():
            if status not in FINAL_JOB:
                self.status[node] = JobStatus.SKIPPED
                self.store.update_job(self.execution_id, node, status=JobStatus.SKIPPED)

    def _cancel_all(self) -> None:
        for handle in list(self.handles.values()):
            handle.cancel()
        while self.handles:
            item = self.completions.get()
            if item is not None:
                node, result = item
                self.handles.pop(node, None)
                final = JobStatus.SUCCESS if result.status == JobStatus.SUCCESS else JobStatus.CANCELED
                if final == JobStatus.SUCCESS:
                    self.on_success(node, result)
                self.status[node] = final
                self.store.update_job(self.execution_id, node, status=final, ended=now(), exit_code=result.exit_code,
                                      error=None if final == JobStatus.SUCCESS else "canceled", outputs=result.outputs,
                                      figures=result.figures)
        for node, status in self.status.items():
            if status not in FINAL_JOB:
                self.status[node] = JobStatus.CANCELED
                self.store.update_job(self.execution_id, node, status=JobStatus.CANCELED)
        self._finish(ExecutionStatus.CANCELED, "canceled by the user")

    def _finish(self, status: str, error: str | None) -> None:
        self.store.update_execution(self.execution_id, status=status, ended=now(), error=error, cancel_requested=0)


def _alive(handle: Any) -> bool:
    """Whether a backend's job is still queued or running (backends that cannot tell say True)."""
    check = getattr(handle, "alive", None)
    return True if check is None else bool(check())
