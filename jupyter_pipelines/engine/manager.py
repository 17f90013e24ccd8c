"""The execution manager: submit, cancel, re-run, delete and resume executions.

It works without tornado: the Jupyter server extension, the embedded mode of the kernel-side
client and the CLI all drive this same class.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..backends import Context
from ..compute import ComputeBackend, JobResult, compute_backends
from ..compute.processes import is_same_process, kill_tree, start_time
from ..errors import BadRequest, Conflict, NotFound
from ..fields import has_secrets
from ..names import normalize
from ..pipeline import Pipeline, PipelineError
from ..storage.base import StorageBackend, safe_part, storage_backends
from ..store import ArtifactRecord, ExecutionRecord, Store
from ..store.models import FINAL_EXECUTION, FINAL_JOB, now
from .computes import ComputePool
from .scheduler import ExecutionRun
from .watchdog import Watchdog
from .specs import SpecBuilder

OWNER = f"{os.getpid()}:{start_time(os.getpid())}"


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


class ExecutionManager:
    """Owns the executions of one store; runs them on compute backends, data on storage backends."""

    def __init__(self, data_dir: str, *, storage_root: str | None = None, default_compute: str = "local",
                 default_storage: str = "local", workers: int = 0) -> None:
        self.data_dir = os.path.abspath(data_dir)
        self.store = Store(os.path.join(self.data_dir, "pipelines.db"))
        self.context = Context(self.data_dir, os.path.abspath(storage_root or os.path.join(self.data_dir, "storage")),
                               workers or os.cpu_count() or 1)
        self.default_compute = default_compute
        self.default_storage = default_storage
        self.runs: dict[int, ExecutionRun] = {}
        self.secrets: dict[int, Secrets] = {}
        self.computes = ComputePool(self.context)
        self._lock = threading.RLock()
        self.watchdog = Watchdog(self, OWNER)
        self.watchdog.start()

    # -- backends ---------------------------------------------------------------------------------
    def backends(self) -> dict[str, Any]:
        return {"compute": compute_backends.schemas(), "storage": storage_backends.schemas(),
                "defaults": {"compute": self.default_compute, "storage": self.default_storage}}

    def _storage(self, name: str, config: Mapping[str, Any]) -> StorageBackend:
        return storage_backends.create(name, config, self.context)

    # -- submit -----------------------------------------------------------------------------------
    def submit(self, pipeline: Pipeline | Mapping[str, Any], name: str = "", *, debug: bool = False,
               compute: Mapping[str, Any] | None = None, storage: Mapping[str, Any] | None = None,
               credentials: Mapping[str, Mapping[str, Any]] | None = None, save: bool = False) -> ExecutionRecord:
        """Validate everything, then record and start the execution; returns it with its final name."""
        if not isinstance(pipeline, Pipeline):
            pipeline = Pipeline.from_dict(pipeline)
        else:
            pipeline.validate()
        base_name = normalize(name, pipeline.name)
        compute_choice = dict(compute or {})
        storage_choice = dict(storage or {})
        secrets = Secrets(dict(compute_choice.get("config") or {}), dict(storage_choice.get("config") or {}),
                          {k: dict(v or {}) for k, v in (credentials or {}).items()})
        compute_name = compute_choice.get("backend") or self.default_compute
        storage_name = storage_choice.get("backend") or self.default_storage
        storage_backend = self._storage(storage_name, secrets.storage)
        compute_backend = self.computes.acquire(compute_name, secrets.compute)
        try:
            compute_backend.check_storage(storage_backend.spec())
            inputs = self._inputs(pipeline, secrets.credentials, compute_backend)
            record = self.store.create_execution(
                pipeline, base_name, debug=bool(debug),
                compute={"backend": compute_name, "config": compute_backend.public_config},
                storage={"backend": storage_name, "config": storage_backend.public_config},
                needs_secrets=secrets.any(type(compute_backend), type(storage_backend)), owner=OWNER,
            )
        except BaseException:
            self.computes.release(compute_backend)
            raise
        self.secrets[record.id] = secrets
        if save:
            self.store.save_settings(pipeline.project, pipeline.name, {
                "debug": bool(debug), "compute": record.compute, "storage": record.storage})
        self._start(record, pipeline, compute_backend, storage_backend, inputs)
        return self.store.execution_by_id(record.id)

    def _inputs(self, pipeline: Pipeline, credentials: Mapping[str, Mapping[str, Any]],
                compute: ComputeBackend) -> dict[str, tuple[ArtifactRecord, StorageBackend]]:
        """The pipeline's input artifacts with the storage backends that read them (credentials applied)."""
        names = {node.artifact for node in pipeline.nodes.values() if node.kind == "input"}
        unknown = sorted(set(credentials) - names)
        if unknown:
            raise BadRequest(f"credentials given for {unknown}, which are not inputs of {pipeline.name!r}")
        inputs = {}
        for artifact_name in sorted(n for n in names if n):
            try:
                artifact = self.store.artifact(pipeline.project, artifact_name)
            except NotFound as error:
                raise BadRequest(f"unknown input artifact: {error}") from None
            backend = self._storage(artifact.backend, {**artifact.config, **credentials.get(artifact_name, {})})
            compute.check_storage(backend.spec(), f"input artifact {artifact_name!r} ({artifact.backend})")
            inputs[artifact_name] = (artifact, backend)
        return inputs

    def _start(self, record: ExecutionRecord, pipeline: Pipeline, compute: ComputeBackend, storage: StorageBackend,
               inputs: dict[str, tuple[ArtifactRecord, StorageBackend]]) -> None:
        builder = SpecBuilder(pipeline, record.name, storage, inputs, self.log_path)
        run = ExecutionRun(self.store, record, pipeline, compute, builder.job,
                           on_success=lambda node, result: self._registered(record, pipeline, storage, node, result),
                           on_end=self._ended)
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
        self.store.save_artifact(ArtifactRecord(
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

    def list(self, project: str | None = None, pipeline: str | None = None,
             status: str | None = None) -> list[ExecutionRecord]:
        return self.store.executions(project, pipeline, status)

    def log_path(self, project: str, execution: str, node: str) -> str:
        return os.path.join(self.data_dir, "logs", safe_part(project), safe_part(execution), f"{safe_part(node)}.log")

    def log(self, project: str, name: str, node: str, offset: int = 0) -> str:
        self.get(project, name).job(node)
        return read_log(self.log_path(project, name, node), offset)

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
            self._mark_interrupted(record, "canceled", "canceled by the user")
        return self.store.execution_by_id(record.id)

    def rerun(self, project: str, name: str, operations: Mapping[str, str] | None = None) -> ExecutionRecord:
        """Run again what did not succeed; in debug mode, with edited operation sources too."""
        record = self.get(project, name)
        if not record.final:
            raise Conflict(f"execution {name!r} is still {record.status}; cancel it first")
        pipeline = Pipeline.from_dict(self.store.commit(record.commit_id)["snapshot"])
        edits = self._edit_keys(pipeline, operations or {})
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
            unfinished = [job.node for job in record.jobs if job.status != "success"]
            again = pipeline.downstream(edited_nodes + unfinished)
            for node in pipeline.topological_order():
                if node in again:
                    self.store.update_job(record.id, node, status="pending", error=None, traceback=None,
                                          exit_code=None, started=None, ended=None, outputs=[])
            self.store.update_execution(record.id, status="pending", commit_id=commit, owner=OWNER, error=None,
                                        ended=None, event={"rerun": sorted(again)})
        except BaseException:
            self.computes.release(compute)
            raise
        self.secrets[record.id] = secrets
        self._start(self.store.execution_by_id(record.id), pipeline, compute, storage, inputs)
        return self.store.execution_by_id(record.id)

    @staticmethod
    def _edit_keys(pipeline: Pipeline, operations: Mapping[str, str]) -> dict[str, str]:
        """Edits by operation key or node id, as ``{operation key: source}``."""
        edits: dict[str, str] = {}
        for key, source in operations.items():
            if key in pipeline.operations:
                op_key = key
            elif key in pipeline.nodes and pipeline.nodes[key].operation:
                op_key = pipeline.nodes[key].operation or key
            else:
                raise BadRequest(f"unknown operation {key!r} in pipeline {pipeline.name!r}")
            if not isinstance(source, str) or not source.strip():
                raise BadRequest(f"the edited source of {key!r} must be non-empty text")
            if source != pipeline.operations[op_key].source:
                edits[op_key] = source
        return edits

    def delete(self, project: str, name: str) -> None:
        record = self.cancel(project, name)
        self.store.delete_execution(record.id)
        self.secrets.pop(record.id, None)
        shutil.rmtree(os.path.dirname(self.log_path(project, name, "x")), ignore_errors=True)

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

    # -- settings ---------------------------------------------------------------------------------
    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        return self.store.settings(project, pipeline)

    def save_settings(self, project: str, pipeline: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the non-secret options of an execution dialog; secret fields are dropped."""
        clean: dict[str, Any] = {"debug": bool(data.get("debug", False))}
        for kind, registry in (("compute", compute_backends), ("storage", storage_backends)):
            choice = data.get(kind) or {}
            if not isinstance(choice, Mapping):
                raise BadRequest(f"settings field {kind!r} must be an object")
            backend = registry.get(choice.get("backend") or getattr(self, f"default_{kind}"))
            secret = {f.name for f in backend.fields if f.secret}
            config = {k: v for k, v in dict(choice.get("config") or {}).items() if k not in secret}
            unknown = sorted(set(config) - {f.name for f in backend.fields})
            if unknown:
                raise BadRequest(f"unknown field(s) {unknown} for {kind} backend {backend.name!r}")
            clean[kind] = {"backend": backend.name, "config": config}
        self.store.save_settings(project, pipeline, clean)
        return clean

    # -- restart ----------------------------------------------------------------------------------
    def resume(self) -> list[tuple[str, str]]:
        """Finish executions whose engine died; mark those that cannot be finished.

        Returns the ``(project, name)`` of each execution it took over.
        """
        resumed = []
        for record in self.store.executions():
            if record.final or record.id in self.runs or _owner_alive(record.owner):
                continue
            resumed.append((record.project, record.name))
            self._stop_jobs(record)
            if record.needs_secrets:
                self._mark_interrupted(record, "failed", "interrupted by a restart of the engine; its credentials "
                                       "were kept in memory only, so it cannot continue: run it again")
                continue
            try:
                pipeline = Pipeline.from_dict(self.store.commit(record.commit_id)["snapshot"])
                storage = self._storage(record.storage["backend"], record.storage["config"])
                compute = self.computes.acquire(record.compute["backend"], record.compute["config"])
            except (PipelineError, BadRequest) as error:
                self._mark_interrupted(record, "failed", f"interrupted by a restart and cannot continue: {error}")
                continue
            try:
                compute.check_storage(storage.spec())
                inputs = self._inputs(pipeline, {}, compute)
            except (PipelineError, BadRequest) as error:
                self.computes.release(compute)
                self._mark_interrupted(record, "failed", f"interrupted by a restart and cannot continue: {error}")
                continue
            for job in record.jobs:
                if job.status in ("queued", "running"):
                    self.store.update_job(record.id, job.node, status="pending", error=None, pid=None)
            self.store.update_execution(record.id, status="pending", owner=OWNER, event={"resumed": True})
            self._start(self.store.execution_by_id(record.id), pipeline, compute, storage, inputs)
        return resumed

    @staticmethod
    def _stop_jobs(record: ExecutionRecord) -> None:
        """Kill the job processes an execution no run drives any more left behind."""
        for job in record.jobs:
            if job.status in ("queued", "running") and is_same_process(job.pid, job.pid_started):
                kill_tree(job.pid)  # type: ignore[arg-type]

    def _mark_interrupted(self, record: ExecutionRecord, status: str, message: str) -> None:
        """End an execution no run drives: stop its job processes, then record ``status``."""
        self._stop_jobs(record)
        for job in record.jobs:
            if job.status not in FINAL_JOB:
                job_status = ("failed" if job.status in ("queued", "running") else "skipped") \
                    if status == "failed" else "canceled"
                self.store.update_job(record.id, job.node, status=job_status, ended=now(),
                                      error=message if job_status == "failed" else None)
        self.store.update_execution(record.id, status=status, ended=now(), error=message)

    def fail_abandoned(self, record: ExecutionRecord) -> None:
        """End an execution of this engine that no run drives any more (see :class:`Watchdog`)."""
        self._mark_interrupted(record, "failed", "the engine lost track of this execution (see the server's log); "
                               "its unfinished operations were stopped")

    def close(self) -> None:
        """Stop running jobs; their executions stay ``running`` and resume at the next start."""
        self.watchdog.stop()
        for run in list(self.runs.values()):
            run.stop()
        self.computes.close()
        self.store.close()


def read_log(path: str, offset: int = 0) -> str:
    """A log from byte ``offset`` on ("" while it does not exist yet)."""
    try:
        with open(path, "rb") as file:
            file.seek(max(0, offset))
            return file.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def snapshot_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Nodes added, removed and changed (source or attributes) between two pipeline snapshots."""
    old_nodes = {n["id"]: n for n in old["nodes"]}
    new_nodes = {n["id"]: n for n in new["nodes"]}
    changed = []
    for node_id in [n for n in new_nodes if n in old_nodes]:
        before, after = old_nodes[node_id], new_nodes[node_id]
        old_source = old["operations"].get(before.get("operation") or "", {}).get("source")
        new_source = new["operations"].get(after.get("operation") or "", {}).get("source")
        keys = sorted(set(before.get("attributes", {})) | set(after.get("attributes", {})))
        attributes = {k: [before["attributes"].get(k), after["attributes"].get(k)] for k in keys
                      if before["attributes"].get(k) != after["attributes"].get(k)}
        if old_source != new_source or attributes or before.get("inputs") != after.get("inputs"):
            changed.append({"node": node_id, "source_changed": old_source != new_source, "attributes": attributes,
                            "inputs_changed": before.get("inputs") != after.get("inputs"),
                            "old_source": old_source, "new_source": new_source})
    return {"added": sorted(set(new_nodes) - set(old_nodes)), "removed": sorted(set(old_nodes) - set(new_nodes)),
            "changed": changed}

