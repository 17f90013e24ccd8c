"""Job specs for the runner, built from a pipeline node, the execution's storage and its inputs."""
from __future__ import annotations

from collections.abc import Callable

from ..compute import Job
from ..pipeline import Pipeline
from ..runner.contracts import JobSpec
from ..storage.base import StorageBackend
from ..store import ArtifactRecord


class SpecBuilder:
    """Builds the :class:`Job` of each node of one execution."""

    def __init__(self, pipeline: Pipeline, execution: str, storage: StorageBackend,
                 artifacts: dict[str, tuple[ArtifactRecord, StorageBackend]],
                 log_path: Callable[[str, str, str, int], str]) -> None:
        self.pipeline = pipeline
        self.execution = execution
        self.storage = storage
        self.storage_spec = storage.spec()
        self.artifacts = artifacts
        self.log_path = log_path

    def location(self, node: str, output: str) -> str:
        return self.storage.data_location(self.pipeline.project, self.execution, node, output)

    def job(self, node_id: str, attempt: int) -> Job:
        """The spec of one attempt of a node (each attempt has its own log)."""
        node = self.pipeline.nodes[node_id]
        spec: JobSpec = {
            "node": node_id,
            "kind": node.kind,
            "storage": self.storage_spec,
            "inputs": {name: self.location(ref.node, ref.output) for name, ref in node.inputs.items()},
            "outputs": {name: self.location(node_id, name) for name in self.pipeline.outputs_of(node)},
        }
        if node.kind == "operation":
            definition = self.pipeline.operations[node.operation or ""]
            spec["function"] = definition.function
            spec["source"] = definition.source
            spec["attributes"] = dict(node.attributes)
            spec["figures"] = self.storage.figures_location(self.pipeline.project, self.execution, node_id)
        elif node.kind == "input":
            record, backend = self.artifacts[node.artifact or ""]
            spec["artifact"] = {"name": record.name, "backend": record.backend, "path": record.path,
                                "type": record.type, **backend.spec()}
        else:
            spec["artifact"] = {"name": node.artifact or "", "backend": self.storage.name,
                                "path": self.storage.artifact_location(self.pipeline.project, self.execution,
                                                                       node.artifact or "")}
        return Job(self.execution, node_id, spec,
                       self.log_path(self.pipeline.project, self.execution, node_id, attempt))
