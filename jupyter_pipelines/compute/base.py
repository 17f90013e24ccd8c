"""The compute backend interface: submit a job, hear when it starts and ends, cancel it."""
from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypedDict

from ..backends import Backend, Registry
from ..runner.contracts import FigureRef, JobOutcome, JobSpec, OutputRef, StorageSpec
from ..statuses import JobStatus

#: How long creating a compute backend may take, unless it says otherwise.
CONNECT_SECONDS = 120.0


@dataclass
class Job:
    """One job of an execution: the runner's spec and the file its log goes to."""

    execution: str
    node: str
    spec: JobSpec
    log_path: str


@dataclass
class JobResult:
    """How a job ended, as the engine records it."""

    status: JobStatus  # SUCCESS, FAILED or CANCELED
    exit_code: int | None = None
    outputs: list[OutputRef] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    figures: list[FigureRef] = field(default_factory=list)


class Reported(TypedDict):
    """A job's end as the place that ran it reports it: the outcome its process reported (None: it
    reported none), the process's exit code, and whether the job was canceled."""

    outcome: JobOutcome | None
    exit_code: int | None
    canceled: bool


def job_result(outcome: JobOutcome | None, exit_code: int | None, canceled: bool = False,
               lost: str | None = None) -> JobResult:
    """The one reading of how a job ended, for every backend.

    A canceled job that did not succeed is ``canceled``; a job that reported no outcome failed
    with ``lost`` (by default, what its exit code says: a signal, or an exit without a report).
    """
    if outcome is not None and outcome["status"] == "success":
        return JobResult(JobStatus.SUCCESS, exit_code, outputs=list(outcome.get("outputs", [])),
                         figures=list(outcome.get("figures", [])))
    if canceled:
        return JobResult(JobStatus.CANCELED, exit_code, error="canceled")
    if outcome is not None:
        return JobResult(JobStatus.FAILED, exit_code, error=outcome.get("error") or "the job failed",
                         traceback=outcome.get("traceback"))
    return JobResult(JobStatus.FAILED, exit_code, error=lost or death(exit_code))


def failed(error: str) -> JobResult:
    """A job that could not be run (so it has neither an outcome nor an exit code)."""
    return JobResult(JobStatus.FAILED, error=error)


def canceled() -> JobResult:
    """A job canceled before it ran."""
    return JobResult(JobStatus.CANCELED, error="canceled")


def death(exit_code: int | None) -> str:
    """Why a job's process that reported no outcome ended."""
    if exit_code is not None and exit_code < 0:
        return f"the job process was killed by {signal.Signals(-exit_code).name}"
    return f"the job process exited with code {exit_code} without reporting a result"


class JobCallbacks(Protocol):
    def queued(self) -> None:
        """A job handed over before the jobs it needs had succeeded (``after``) now waits for a run slot
        (a backend may skip this when the job starts at once)."""

    def started(self, pid: int | None, pid_started: float | None) -> None:
        """The job left the queue and runs now."""

    def finished(self, result: JobResult) -> None:
        """The job ended (also when canceled before it started)."""


class JobHandle(Protocol):
    def cancel(self) -> None:
        """Stop the job: drop it from the queue, or kill everything it started."""


class ComputeBackend(Backend):
    """Runs jobs. ``submit`` returns at once; the backend calls back from its own threads."""

    kind: ClassVar[str] = "compute"
    #: After a failure, queued jobs are dropped. Backends that hear of starts late (their start
    #: notices travel through a cluster) set this False: what they were handed runs to its end.
    drops_queued: ClassVar[bool] = True
    #: The backend can take a job before its inputs exist: ``submit(..., after=handles)`` runs it
    #: once those jobs succeeded (and ends it ``canceled`` if one did not), without a round trip
    #: through the engine between them.
    chains: ClassVar[bool] = False
    #: A backend that chains may also run a linear chain of jobs as one unit of its own (one Dask
    #: task): then the engine hands it each chain at once (``submit_chain``), else each job as soon
    #: as it knows it.
    fuses_chains: ClassVar[bool] = False

    @classmethod
    def connect_timeout(cls, config: Mapping[str, Any]) -> float:
        """Seconds that creating this backend with ``config`` (e.g. connecting to a cluster) may take."""
        return CONNECT_SECONDS

    def check_storage(self, spec: StorageSpec, what: str = "the execution's storage") -> None:
        """Raise BadRequest when jobs of this backend cannot reach storage opened with ``spec``."""

    def prepare(self, sources: Sequence[str], protocols: Sequence[str] = ()) -> None:
        """An execution is about to run operations with these ``sources``, reading and writing
        filesystems of these fsspec ``protocols``: get ready for them (e.g. import their modules
        ahead), in the background — this must not delay the first job."""

    def submit(self, job: Job, callbacks: JobCallbacks, after: Sequence[JobHandle] = ()) -> JobHandle:
        """Start ``job`` (``after`` is only given to backends that ``chain``)."""
        raise NotImplementedError

    def submit_chain(self, jobs: Sequence[tuple[Job, JobCallbacks]],
                     after: Sequence[JobHandle] = ()) -> Sequence[JobHandle]:
        """Start a linear chain of jobs, each the only consumer of the one before it (backends that
        ``chain`` only). Each job runs once the one before it succeeded, the first once ``after``
        did. A backend may run the chain as one unit of its own (one Dask task)."""
        handles: list[JobHandle] = []
        for job, callbacks in jobs:
            handles.append(self.submit(job, callbacks, after=after))
            after = handles[-1:]
        return handles

    def close(self) -> None:
        """Cancel what still runs and release the backend's resources."""


compute_backends: Registry[ComputeBackend] = Registry("jupyter_pipelines.compute", "compute")
