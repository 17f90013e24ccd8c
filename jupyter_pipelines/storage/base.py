"""Storage backends: where an execution's data and artifacts live, as an fsspec filesystem."""
from __future__ import annotations

import posixpath
import re
from typing import ClassVar

import fsspec

from ..backends import Backend, Registry
from ..errors import BadRequest
from ..runner.contracts import StorageSpec

UPLOADS = "uploaded.artifacts"
SAFE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def safe_part(part: str) -> str:
    """A single path segment taken from user input; refuses anything that could leave its folder."""
    if not SAFE_PART.match(part) or ".." in part:
        raise BadRequest(f"bad name {part!r}: use letters, digits, '_', '-' and '.'")
    return part


class StorageBackend(Backend):
    """Subclasses say how to reach their filesystem (``spec``) and where the data goes (``root``)."""

    kind: ClassVar[str] = "storage"

    def spec(self) -> StorageSpec:
        """``{"protocol", "options"}`` from which a job process opens the filesystem (may hold secrets)."""
        raise NotImplementedError

    def root(self) -> str:
        """The base path of this backend's data inside its filesystem."""
        raise NotImplementedError

    def filesystem(self) -> fsspec.AbstractFileSystem:
        spec = self.spec()
        return fsspec.filesystem(spec["protocol"], **spec.get("options", {}))

    def location(self, *parts: str) -> str:
        """A path under the root made of safe segments."""
        return posixpath.join(self.root().rstrip("/"), *(safe_part(part) for part in parts))

    def data_location(self, project: str, execution: str, node: str, output: str) -> str:
        return self.location(project, execution, "data", node, f"{output}.pkl")

    def figures_location(self, project: str, execution: str, node: str) -> str:
        """The folder of the figures an operation draws (``<n>.png``), beside its outputs."""
        return self.location(project, execution, "data", node, "figures")

    def artifact_location(self, project: str, execution: str, artifact: str) -> str:
        return self.location(project, execution, "artifacts", f"{artifact}.pkl")

    def upload_location(self, project: str, artifact: str, suffix: str = ".pkl") -> str:
        """Where ``Artifact.upload`` puts an artifact: beside the executions of its project.

        Execution names never hold a ``.``, so ``uploaded.artifacts`` cannot clash with one.
        """
        return self.location(project, UPLOADS, f"{artifact}{suffix}")


storage_backends: Registry[StorageBackend] = Registry("jupyter_pipelines.storage", "storage")
