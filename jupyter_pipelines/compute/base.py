"""The compute backend interface: submit a job, hear when it starts and ends, cancel it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol, Sequence

from ..backends import Backend, Registry

#: How long creating a compute backend may take, unless it says otherwise.
CONNECT_SECONDS = 120.0


@dataclass
class JobSpec:
    """One job: the runner's spec (see ``runner.job``) and the file its log goes to."""

    execution: str
    node: str
    spec: dict[str, Any]
    log_path: str


@dataclass
class JobResult:
    status: str  # "success" | "failed" | "canceled"
    exit_code: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    #: Figures the operation drew, ``{"index", "mime", "location"}`` (see ``runner.figures``).
    figures: list[dict[str, Any]] = field(default_factory=list)


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

    def check_storage(self, spec: dict[str, Any], what: str = "the execution's storage") -> None:
        """Raise BadRequest when jobs of this backend cannot reach storage opened with ``spec``."""

    def prepare(self, sources: Sequence[str], protocols: Sequence[str] = ()) -> None:
        """An execution is about to run operations with these ``sources``, reading and writing
        filesystems of these fsspec ``protocols``: get ready for them (e.g. import their modules
        ahead), in the background — this must not delay the first job."""

    def submit(self, job: JobSpec, callbacks: JobCallbacks, after: Sequence[JobHandle] = ()) -> JobHandle:
        """Start ``job`` (``after`` is only given to backends that ``chain``)."""
        raise NotImplementedError

    def submit_chain(self, jobs: Sequence[tuple[JobSpec, JobCallbacks]],
                     after: Sequence[JobHandle] = ()) -> list[JobHandle]:
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
