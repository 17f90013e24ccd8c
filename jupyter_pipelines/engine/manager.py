"""The execution manager: submit, cancel, re-run, delete and resume executions; the one owner of the store.

It works without tornado: the Jupyter server extension, the embedded mode of the kernel-side
client and the CLI all drive this same class, so every check of what callers send lives here.
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from traitlets import Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import paths
from ..compute import ComputeBackend, JobResult, compute_backends
from ..errors import BadRequest, Conflict, NotFound
from ..fields import has_secrets
from ..names import normalize
from ..paths import Context, exports_dir, logs_dir, store_path
from ..pipeline import Pipeline, PipelineError, check_edit
from ..runner.job import open_nofollow
from ..runner.tree import is_same_process, kill_tree, start_time
from ..statuses import FINAL_EXECUTION, FINAL_JOB, UNDER_WAY, ExecutionStatus, JobStatus
from ..storage.base import StorageBackend, safe_part, storage_backends
from ..store import ArtifactRecord, Event, ExecutionRecord, Store
from ..store.models import now
from . import checks
from .artifacts import Artifacts
from .computes import ComputePool
from .exports import Exports
from .history import graph_of, operations_of, snapshot_diff
from .scheduler import ExecutionRun
from .specs import SpecBuilder
from .watchdog import Watchdog

OWNER = f"{os.getpid()}:{start_time(os.getpid())}"
PAGE = 50  # executions per page when a list names no limit
MAX_FIGURE_BYTES = 64 << 20  # figures are PNGs of plots: far smaller
MAX_PAGE = 1000


@dataclass
class Secrets:
    """What an execution needs that is never written anywhere: full backend configs, credentials."""

    compute: dict[str, Any] = field(default_factory=dict)
    storage: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)

    def any(self, compute_cls: type[ComputeBackend], storage_cls: type[StorageBackend]) -> bool:
        return bool(self.credentials) or has_secrets(compute_cls.fields, self.compute) or \
            has_secrets(storage_cls.fields, self.storage)


def _owner_alive(owner: str | None) -> bool:
    if not owner:
        return False
    pid, _, started = owner.partition(":")
    try:
        return is_same_process(int(pid), float(started))
    except ValueError:
        return False


class ExecutionManager(LoggingConfigurable):
    """Owns the executions of one store; runs them on compute backends, data on storage backends.

    ``ExecutionManager(home)`` works on its own (embedded mode, the CLI, tests); the server
    extension creates it with the server app as ``parent``, so it logs to the server's log and
    reads ``c.ExecutionManager.*`` configuration.
    """

    data_dir = Unicode("", config=True, help="Folder of the store, logs and exports (default: paths.data_dir()).")
    storage_root = Unicode("", config=True, help="Root of the 'local' storage backend (default: <data_dir>/storage).")
    default_compute = Unicode("local", config=True, help="Compute backend used when a request names none.")
    default_storage = Unicode("local", config=True, help="Storage backend used when a request names none.")
    workers = Integer(0, config=True, help="Operations the 'local' backend runs at once; 0 means the CPU count.")
    idle_seconds = Float(600.0, config=True, help="Seconds an unused compute backend is kept before it is closed.")
    export_ttl = Float(3600.0, config=True, help="Seconds an export zip is kept for download.")

    @default("log")
    def _log_default(self) -> logging.Logger:
        return self.parent.log if self.parent is not None else logging.getLogger("jupyter_pipelines")

    def __init__(self, data_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**({"data_dir": data_dir} if data_dir else {}), **kwargs)
        self.data_dir = os.path.abspath(self.data_dir or paths.data_dir())
        self.store = Store(store_path(self.data_dir))
        self.context = Context.at(self.data_dir, self.storage_root or None, self.workers)
        self.runs: dict[int, ExecutionRun] = {}
        self.secrets: dict[int, Secrets] = {}
        self.computes = ComputePool(self.context, self.log, self.idle_seconds)
        self.artifacts = Artifacts(self.store, self._storage, self.default_storage)
        self.exports = Exports(exports_dir(self.data_dir), self.context, self.artifacts.get, self.export_ttl)
        self._lock = threading.RLock()
        self.watchdog = Watchdog(self.store, self.computes, lambda: dict(self.runs), self.fail_abandoned, OWNER,
                                 self.log)
        self.watchdog.start()

    # -- backends ---------------------------------------------------------------------------------
    def check_defaults(self) -> None:
        """Fail early (at start-up) when the default backends are unknown."""
        compute_backends.get(self.default_compute)
        storage_backends.get(self.default_storage)

    def backends(self) -> dict[str, Any]:
        return {"compute": compute_backends.schemas(), "storage": storage_backends.schemas(),
                "defaults": {"compute": self.default_compute, "storage": self.default_storage}}

    def _storage(self, name: str, config: Mapping[str, Any]) -> StorageBackend:
        return storage_backends.create(name, config, self.context)

    # -- submit -----------------------------------------------------------------------------------
    def submit(self, pipeline: Pipeline | Mapping[str, Any], name: Any = "", *, debug: Any = False,
               compute: Any = None, storage: Any = None, credentials: Any = None, params: Any = None,
               save: Any = False) -> ExecutionRecord:
        """Check everything, then record and start the execution; returns it with its final name.

        ``compute``/``storage`` are ``{"backend", "config"}`` (or a backend name), ``credentials``
        ``{artifact: {...}}`` for input artifacts, ``params`` ``{"op.attr": value}`` overrides.
        """
        pipeline = checks.pipeline_of(pipeline)
        overrides = checks.params(params)
        if overrides:
            pipeline = pipeline.with_params(overrides)
        base_name = normalize(checks.text(name, "name"), pipeline.name)
        debug, save = checks.flag(debug, "debug"), checks.flag(save, "save")
        compute_choice, storage_choice = checks.backend_choice(compute, "compute"), checks.backend_choice(storage,
                                                                                                          "storage")
        secrets = Secrets(compute_choice["config"], storage_choice["config"], checks.credentials(credentials))
        compute_name = compute_choice["backend"] or self.default_compute
        storage_name = storage_choice["backend"] or self.default_storage
        storage_backend = self._storage(storage_name, secrets.storage)
        compute_backend = self.computes.acquire(compute_name, secrets.compute)
        try:
            compute_backend.check_storage(storage_backend.spec())
            inputs = self._inputs(pipeline, secrets.credentials, compute_backend)
            record = self.store.create_execution(
                pipeline, base_name, debug=debug,
                compute={"backend": compute_name, "config": compute_backend.public_config},
                storage={"backend": storage_name, "config": storage_backend.public_config},
                needs_secrets=secrets.any(type(compute_backend), type(storage_backend)), owner=OWNER,
                params=overrides,
            )
        except BaseException:
            self.computes.release(compute_backend)
            raise
        self.secrets[record.id] = secrets
        if save:
            self.store.save_settings(pipeline.project, pipeline.name, {
                "debug": debug, "compute": record.compute, "storage": record.storage, "params": overrides})
        self._start(record, pipeline, compute_backend, storage_backend, inputs)
        return self.store.execution_by_id(record.id)

    def _inputs(self, pipeline: Pipeline, credentials: Mapping[str, Mapping[str, Any]],
                compute: ComputeBackend) -> dict[str, tuple[ArtifactRecord, StorageBackend]]:
        """The pipeline's input artifacts with the storage backends that read them (credentials applied)."""
        names = {node.artifact for node in pipeline.nodes.values() if node.kind == "input" and node.artifact}
        inputs = self.artifacts.resolve(pipeline.project, names, credentials)
        for artifact_name, (artifact, backend) in inputs.items():
            compute.check_storage(backend.spec(), f"input artifact {artifact_name!r} ({artifact.backend})")
        return inputs

    def _start(self, record: ExecutionRecord, pipeline: Pipeline, compute: ComputeBackend, storage: StorageBackend,
               inputs: dict[str, tuple[ArtifactRecord, StorageBackend]]) -> None:
        builder = SpecBuilder(pipeline, record.name, storage, inputs, self.log_path)
        run = ExecutionRun(self.store, record, pipeline, compute, builder.job,
                           on_success=lambda node, result: self._registered(record, pipeline, storage, node, result),
                           on_end=self._ended, log=self.log)
        with self._lock:
            self.runs[record.id] = run
        run.start()

    def _registered(self, record: ExecutionRecord, pipeline: Pipeline, storage: StorageBackend, node: str,
                    result: JobResult) -> None:
        """Output nodes register the artifact they wrote, with its provenance."""
        if pipeline.nodes[node].kind != "output" or not result.outputs:
            return
        output = result.outputs[0]
        source = pipeline.nodes[node].inputs["data"]
        upstream = self.store.execution_by_id(record.id).job(source.node).outputs
        kind = next((out.get("type", "") for out in upstream if out["name"] == source.output), "")
        output["type"] = kind
        self.artifacts.output(ArtifactRecord(
            project=record.project, name=output["name"], backend=storage.name, config=storage.public_config,
            path=output["location"], type=kind, size=int(output.get("size") or 0),
            created=now(), execution=record.name, node=node))

    def _ended(self, run: ExecutionRun) -> None:
        with self._lock:
            self.runs.pop(run.execution_id, None)
        self.computes.release(run.compute)

    # -- queries ----------------------------------------------------------------------------------
    def get(self, project: str, name: str) -> ExecutionRecord:
        return self.store.execution(project, name)

    def describe(self, project: str, name: str) -> dict[str, Any]:
        """One execution as the API shows it: its jobs, and its graph and operations from its commit."""
        record = self.get(project, name)
        snapshot = self.store.commit(record.commit_id)["snapshot"]
        return {**record.to_dict(), "graph": graph_of(snapshot), "operations": operations_of(snapshot)}

    def executions(self, project: str | None = None, pipeline: str | None = None, status: str | None = None,
             limit: int | None = None, before: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first (all of them unless ``limit``)."""
        return self.store.executions(project, pipeline, status, limit, before)

    def page(self, project: Any = None, pipeline: Any = None, status: Any = None, limit: Any = None,
             before: Any = None) -> dict[str, Any]:
        """One page of executions, newest first: ``{"executions", "next"}`` (``next`` for ``before``)."""
        size = checks.integer(limit, "limit", default=PAGE, minimum=1, maximum=MAX_PAGE)
        cursor = checks.integer(before, "before", default=0) or None
        records = self.store.executions(checks.text(project, "project") or None,
                                        checks.text(pipeline, "pipeline") or None,
                                        checks.text(status, "status") or None, size + 1, cursor)
        more = len(records) > size
        records = records[:size]
        return {"executions": [record.to_dict() for record in records],
                "next": str(records[-1].id) if more else None}

    def log_path(self, project: str, execution: str, node: str, attempt: int) -> str:
        """The log of one attempt of a job: ``logs/<project>/<execution>/<node>/<attempt>.log``."""
        return os.path.join(self._logs_of(project, execution), safe_part(node), f"{int(attempt)}.log")

    def _logs_of(self, project: str, execution: str) -> str:
        return os.path.join(logs_dir(self.data_dir), safe_part(project), safe_part(execution))

    def job_log(self, project: str, name: str, node: str, offset: Any = 0, attempt: Any = None) -> str:
        """An operation's log from byte ``offset`` on: its latest attempt's, or ``attempt``'s."""
        start = checks.integer(offset, "offset")
        job = self.get(project, name).job(node)
        number = checks.integer(attempt, "attempt", default=job.attempt, minimum=1) if job.attempt else 0
        if number > job.attempt:
            raise NotFound(f"operation {node!r} of {name!r} has no attempt {number} (it ran {job.attempt} time(s))")
        return read_log(self.log_path(project, name, node, number), start) if number else ""

    def log_chunk(self, project: str, name: str, node: str, attempt: int, offset: int) -> dict[str, Any]:
        """What a live view gets next of a running attempt's log from byte ``offset`` (the execution is
        not looked up: this is called many times a second while jobs run); see :func:`read_chunk`."""
        return read_chunk(self.log_path(project, name, node, attempt), offset)

    def figure(self, project: str, name: str, node: str, index: Any) -> tuple[bytes, str]:
        """The image of figure ``index`` that operation ``node`` of an execution drew, and its MIME type,
        read from the execution's storage (with the storage secrets of this engine's executions, else
        the stored public configuration)."""
        record = self.get(project, name)
        job = record.job(node)
        text = str(index)
        if not text.isdigit() or len(text) > 9:
            raise NotFound(f"operation {node!r} has no figure {text[:40]!r}")
        figure = job.figure(int(text))
        secrets = self.secrets.get(record.id)
        config = secrets.storage if secrets is not None else record.storage["config"]
        storage = self._storage(record.storage["backend"], config)
        location = str(figure.get("location") or "")
        if not location.startswith(storage.location(record.project, record.name) + "/"):
            raise NotFound(f"figure {text} of operation {node!r} is not in the execution's storage")
        try:
            with storage.filesystem().open(location, "rb") as file:
                data = file.read(MAX_FIGURE_BYTES + 1)
        except FileNotFoundError:
            raise NotFound(f"figure {text} of operation {node!r} is no longer in the execution's storage") from None
        except Exception as error:  # noqa: BLE001 - the backend's own errors: say what could not be read
            hint = " (its storage credentials were kept in memory only and are gone)" \
                if record.needs_secrets and secrets is None else ""
            raise Conflict(f"cannot read figure {text} of operation {node!r} from the execution's storage{hint}: "
                           f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}") from None
        if len(data) > MAX_FIGURE_BYTES:
            raise Conflict(f"figure {text} of operation {node!r} is larger than {MAX_FIGURE_BYTES >> 20} MiB")
        return data, str(figure.get("mime") or "image/png")

    def events(self, project: str, name: str, after: Any = 0) -> tuple[ExecutionRecord, list[Event]]:
        """An execution and its events after sequence number ``after``."""
        record = self.get(project, name)
        return record, self.store.events(checks.integer(after, "Last-Event-ID"), record.id)

    def subscribe(self, listener: Callable[[list[Event]], None]) -> Callable[[], None]:
        """Call ``listener(events)`` after each write of this process's engine; returns an unsubscribe."""
        return self.store.subscribe(listener)

    def last_event_seq(self) -> int:
        """The sequence number of the newest event in the store (0 when there is none)."""
        return self.store.last_event_seq()

    def events_after(self, seq: int) -> list[Event]:
        """Events of every execution written after ``seq`` (by any process on this store), oldest first."""
        return self.store.events(seq)

    def execution_by_id(self, execution_id: int) -> ExecutionRecord:
        return self.store.execution_by_id(execution_id)

    def events_of(self, execution_id: int, after: int) -> list[Event]:
        return self.store.events(after, execution_id)

    def wait_for_events(self, execution_id: int, after: int, timeout: float) -> list[Event]:
        return self.store.wait_for_events(after, execution_id, timeout=timeout)

    def wait(self, project: str, name: str, timeout: float | None = None) -> ExecutionRecord:
        """Block until the execution ends or ``timeout`` seconds pass; returns it as it is then."""
        record = self.get(project, name)
        deadline = None if timeout is None else time.monotonic() + timeout
        seq = 0
        status = record.status
        while status not in FINAL_EXECUTION:
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                break
            events = self.store.wait_for_events(seq, record.id, timeout=left)
            seq = events[-1].seq if events else seq
            status = self.store.execution_status(record.id)
        return self.store.execution_by_id(record.id)

    # -- control ----------------------------------------------------------------------------------
    def cancel(self, project: str, name: str) -> ExecutionRecord:
        record = self.get(project, name)
        if record.final:
            return record
        run = self.runs.get(record.id)
        if run is not None and run.alive():
            run.cancel()
            run.join(timeout=30)
        elif _owner_alive(record.owner) and record.owner != OWNER:
            self.store.update_execution(record.id, cancel_requested=1)  # the owning engine polls for it
        else:
            self._mark_interrupted(record, ExecutionStatus.CANCELED, "canceled by the user")
        return self.store.execution_by_id(record.id)

    def rerun(self, project: str, name: str, operations: Any = None) -> ExecutionRecord:
        """Run again what did not succeed; in debug mode, with edited operation sources too."""
        record = self.get(project, name)
        if not record.final:
            raise Conflict(f"execution {name!r} is still {record.status}; cancel it first")
        pipeline = Pipeline.from_dict(self.store.commit(record.commit_id)["snapshot"])
        edits = self._edit_keys(pipeline, checks.sources(operations))
        if edits and not record.debug:
            raise Conflict(f"execution {name!r} was not run in debug mode, so its operations cannot be edited; "
                           "start a new execution (or run it with debug=True)")
        secrets = self.secrets.get(record.id)
        if record.needs_secrets and secrets is None:
            raise Conflict(f"execution {name!r} used credentials that were kept in memory only and are gone; "
                           "submit a new execution with them")
        secrets = secrets or Secrets(dict(record.compute["config"]), dict(record.storage["config"]))
        storage = self._storage(record.storage["backend"], secrets.storage)
        compute = self.computes.acquire(record.compute["backend"], secrets.compute)
        try:
            inputs = self._inputs(pipeline, secrets.credentials, compute)
            commit = record.commit_id
            if edits:
                pipeline = pipeline.with_sources(edits)
                commit = self.store.add_commit(pipeline, parent=record.commit_id)
                self.store.move_tag(project, name, commit)
            edited_nodes = [node.id for node in pipeline.nodes.values() if node.operation in edits]
            unfinished = [job.node for job in record.jobs if job.status != JobStatus.SUCCESS]
            again = pipeline.downstream(edited_nodes + unfinished)
            if not again:
                raise Conflict(f"nothing to re-run in {name!r}: every operation succeeded and none was edited")
            for node in pipeline.topological_order():
                if node in again:
                    self.store.update_job(record.id, node, status=JobStatus.PENDING, error=None, traceback=None,
                                          exit_code=None, started=None, ended=None, outputs=[], figures=[])
            self.store.update_execution(record.id, status=ExecutionStatus.PENDING, commit_id=commit, owner=OWNER, error=None,
                                        ended=None, event={"rerun": sorted(again)})
        except BaseException:
            self.computes.release(compute)
            raise
        self.secrets[record.id] = secrets
        self._start(self.store.execution_by_id(record.id), pipeline, compute, storage, inputs)
        return self.store.execution_by_id(record.id)

    @staticmethod
    def _edit_keys(pipeline: Pipeline, operations: Mapping[str, str]) -> dict[str, str]:
        """Edits by operation key or node id, as ``{operation key: source}``, each checked."""
        edits: dict[str, str] = {}
        for key, source in operations.items():
            if key in pipeline.operations:
                op_key = key
            elif key in pipeline.nodes and pipeline.nodes[key].operation:
                op_key = pipeline.nodes[key].operation or key
            else:
                raise BadRequest(f"unknown operation {key!r} in pipeline {pipeline.name!r}")
            if not source.strip():
                raise BadRequest(f"the edited source of {key!r} must be non-empty text")
            if source != pipeline.operations[op_key].source:
                check_edit(pipeline.operations[op_key], op_key, source)
                edits[op_key] = source
        return edits

    def delete(self, project: str, name: str) -> None:
        record = self.cancel(project, name)
        self.store.delete_execution(record.id)
        self.secrets.pop(record.id, None)
        shutil.rmtree(self._logs_of(project, name), ignore_errors=True)

    # -- version history --------------------------------------------------------------------------
    def tags(self, project: str | None = None) -> list[dict[str, Any]]:
        return self.store.tags(project)

    def diff(self, project: str, a: str, b: str) -> dict[str, Any]:
        """What changed in operations and attributes between the commits of two tags."""
        tag_a, tag_b = self.store.tag(project, a), self.store.tag(project, b)
        old = self.store.commit(tag_a["commit"])["snapshot"]
        new = self.store.commit(tag_b["commit"])["snapshot"]
        return {"a": a, "b": b, "a_commit": tag_a["commit"], "b_commit": tag_b["commit"],
                "operations": snapshot_diff(old, new)}

    def compact(self, older_than_days: float = 30.0) -> int:
        """Compact the event log of executions that ended more than ``older_than_days`` ago (see
        ``Store.compact_events``); returns how many events were dropped."""
        cutoff = datetime.now(timezone.utc) - timedelta(days=older_than_days)
        return self.store.compact_events(cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z"))

    def snapshot(self, project: str, name: str) -> Pipeline:
        """The pipeline an execution runs, as committed."""
        return Pipeline.from_dict(self.store.commit(self.get(project, name).commit_id)["snapshot"])

    # -- settings ---------------------------------------------------------------------------------
    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        return self.store.settings(safe_part(project), safe_part(pipeline))

    def save_settings(self, project: str, pipeline: str, data: Any) -> dict[str, Any]:
        """Keep the non-secret options of an execution dialog: checked like a submit; secrets are dropped."""
        data = checks.obj(data, "settings")
        unknown = sorted(set(data) - {"debug", "compute", "storage", "params"})
        if unknown:
            raise BadRequest(f"unknown settings {unknown}; known: ['compute', 'debug', 'params', 'storage']")
        clean: dict[str, Any] = {"debug": checks.flag(data.get("debug"), "debug"),
                                 "params": checks.params(data.get("params"))}
        for kind, registry in (("compute", compute_backends), ("storage", storage_backends)):
            choice = checks.backend_choice(data.get(kind), kind)
            backend = registry.get(choice["backend"] or getattr(self, f"default_{kind}"))
            fields = {f.name: f for f in backend.fields}
            unknown = sorted(set(choice["config"]) - set(fields))
            if unknown:
                raise BadRequest(f"unknown field(s) {unknown} for {kind} backend {backend.name!r}")
            owner = f"{kind} backend {backend.name!r}"
            clean[kind] = {"backend": backend.name, "config": {
                key: value if value in (None, "") else fields[key].parse(value, owner)
                for key, value in choice["config"].items() if not fields[key].secret}}
        self.store.save_settings(safe_part(project), safe_part(pipeline), clean)
        return clean

    # -- artifacts and exports ----------------------------------------------------------------------
    def list_artifacts(self, project: str) -> list[ArtifactRecord]:
        return self.artifacts.list(project)

    def artifact(self, project: str, name: str) -> ArtifactRecord:
        return self.artifacts.get(project, name)

    def export_file(self, export_id: str) -> tuple[str, dict[str, Any]]:
        """The zip of an export for download, and its description."""
        return self.exports.file(export_id)

    def export_downloaded(self, export_id: str) -> None:
        self.exports.downloaded(export_id)

    def upload_artifact(self, reader: IO[bytes], meta: Any) -> ArtifactRecord:
        """Upload a stream as an artifact; ``meta`` is ``{"name", "project", "storage", "credentials",
        "type", "suffix"}``."""
        meta = checks.obj(meta, "artifact")
        return self.artifacts.upload(meta.get("project"), meta.get("name"), reader, storage=meta.get("storage"),
                                     credentials=meta.get("credentials"), type=meta.get("type"),
                                     suffix=meta.get("suffix"))

    def register_artifact(self, body: Any) -> ArtifactRecord:
        """Register data already on storage: ``{"name", "project", "path", "storage", "credentials", "type"}``."""
        body = checks.obj(body, "body")
        return self.artifacts.register(body.get("project"), body.get("name"), body.get("path"),
                                       storage=body.get("storage"), credentials=body.get("credentials"),
                                       type=body.get("type"))

    def _export_pipeline(self, body: Mapping[str, Any]) -> Pipeline:
        if body.get("pipeline") is not None:
            return checks.pipeline_of(body["pipeline"])
        execution = checks.text(body.get("execution"), "execution")
        if not execution:
            raise BadRequest("give 'pipeline' (its JSON) or 'execution' (a name) to export")
        return self.snapshot(safe_part(checks.text(body.get("project"), "project", default="default")), execution)

    def export(self, body: Any) -> dict[str, str]:
        """Build a zip for download from ``{"pipeline"} | {"execution", "project"}`` and the export options."""
        body = checks.obj(body, "body")
        return self.exports.build(self._export_pipeline(body), Exports.options(body))

    def export_to(self, body: Any, path: str) -> str:
        """Write the zip of ``body`` (as for :meth:`export`) to ``path``; returns its absolute path."""
        body = checks.obj(body, "body")
        return self.exports.write(self._export_pipeline(body), path, Exports.options(body))

    # -- restart ----------------------------------------------------------------------------------
    def resume(self) -> list[tuple[str, str]]:
        """Finish executions whose engine died; mark those that cannot be finished.

        Returns the ``(project, name)`` of each execution it took over.
        """
        resumed = []
        for status in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING):
            for record in self.store.executions(status=status):
                if record.id in self.runs or _owner_alive(record.owner):
                    continue
                resumed.append((record.project, record.name))
                self._resume(record)
        return resumed

    def _resume(self, record: ExecutionRecord) -> None:
        self._stop_jobs(record)
        if record.needs_secrets:
            self._mark_interrupted(record, ExecutionStatus.FAILED, "interrupted by a restart of the engine; its credentials "
                                   "were kept in memory only, so it cannot continue: run it again")
            return
        try:
            pipeline = Pipeline.from_dict(self.store.commit(record.commit_id)["snapshot"])
            storage = self._storage(record.storage["backend"], record.storage["config"])
            compute = self.computes.acquire(record.compute["backend"], record.compute["config"])
        except (PipelineError, BadRequest) as error:
            self._mark_interrupted(record, ExecutionStatus.FAILED, f"interrupted by a restart and cannot continue: {error}")
            return
        try:
            compute.check_storage(storage.spec())
            inputs = self._inputs(pipeline, {}, compute)
        except (PipelineError, BadRequest) as error:
            self.computes.release(compute)
            self._mark_interrupted(record, ExecutionStatus.FAILED, f"interrupted by a restart and cannot continue: {error}")
            return
        for job in record.jobs:
            if job.status in UNDER_WAY:
                self.store.update_job(record.id, job.node, status=JobStatus.PENDING, error=None, pid=None)
        self.store.update_execution(record.id, status=ExecutionStatus.PENDING, owner=OWNER, event={"resumed": True})
        self._start(self.store.execution_by_id(record.id), pipeline, compute, storage, inputs)

    @staticmethod
    def _stop_jobs(record: ExecutionRecord) -> None:
        """Kill the job processes an execution no run drives any more left behind."""
        for job in record.jobs:
            if job.status in UNDER_WAY and job.pid and job.pid_started is not None:
                kill_tree(job.pid, job.pid_started)  # with what it left running, even if it has ended

    def _mark_interrupted(self, record: ExecutionRecord, status: str, message: str) -> None:
        """End an execution no run drives: stop its job processes, then record ``status``."""
        self._stop_jobs(record)
        for job in record.jobs:
            if job.status not in FINAL_JOB:
                job_status = (JobStatus.FAILED if job.status in UNDER_WAY else JobStatus.SKIPPED) \
                    if status == ExecutionStatus.FAILED else JobStatus.CANCELED
                self.store.update_job(record.id, job.node, status=job_status, ended=now(),
                                      error=message if job_status == JobStatus.FAILED else None)
        self.store.update_execution(record.id, status=status, ended=now(), error=message)

    def fail_abandoned(self, record: ExecutionRecord) -> None:
        """End an execution of this engine that no run drives any more (see :class:`Watchdog`)."""
        self._mark_interrupted(record, ExecutionStatus.FAILED, "the engine lost track of this execution (see the server's log); "
                               "its unfinished operations were stopped")

    def close(self) -> None:
        """Stop running jobs; their executions stay ``running`` and resume at the next start."""
        self.watchdog.stop()
        for run in list(self.runs.values()):
            run.stop()
        self.computes.close()
        self.store.close()


#: At most this much of a job's log goes in one live ``log`` event.
LOG_CHUNK = 64 << 10
#: A live view that falls further behind than this (a job printing as fast as it can) skips ahead.
LOG_BEHIND = 1 << 20


def read_chunk(path: str, offset: int, limit: int = LOG_CHUNK, behind: int = LOG_BEHIND) -> dict[str, Any]:
    """The next piece of a growing log: ``{"offset", "end", "text", "truncated"}``.

    At most ``limit`` bytes, cut at a character boundary (``end`` is where the next read starts);
    when more than ``behind`` bytes wait, the oldest are skipped and ``truncated`` says how many.
    """
    try:
        with _open_log(path) as file:
            size = os.fstat(file.fileno()).st_size
            truncated = max(0, size - offset - behind)
            start = offset + truncated
            file.seek(start)
            data = file.read(min(limit, max(0, size - start)))
    except FileNotFoundError:
        return {"offset": offset, "end": offset, "text": "", "truncated": 0}
    if len(data) == limit:
        data = data[:_complete_utf8(data)]
    return {"offset": start, "end": start + len(data), "text": data.decode("utf-8", "replace"),
            "truncated": truncated}


def _complete_utf8(data: bytes) -> int:
    """The length of ``data`` without a multi-byte character cut at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its character complete?
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= needed else len(data) - back
    return len(data)


def read_log(path: str, offset: int = 0) -> str:
    """A log from byte ``offset`` on ("" while it does not exist yet); a symlink is not followed."""
    try:
        with _open_log(path) as file:
            file.seek(max(0, offset))
            return file.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _open_log(path: str) -> IO[bytes]:
    """A log opened for reading; one that is a symbolic link is refused (409) rather than followed."""
    try:
        return open_nofollow(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Conflict(f"the log {os.path.basename(path)!r} was replaced by a symbolic link, which is not "
                           "followed") from None
        raise
