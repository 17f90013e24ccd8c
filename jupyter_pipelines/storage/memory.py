"""``memory``: fsspec's in-memory filesystem, for tests and small experiments in one process."""
from __future__ import annotations

from ..fields import Field
from ..runner.contracts import StorageSpec
from .base import StorageBackend


class MemoryStorage(StorageBackend):
    """Data lives in the memory of the process that holds the filesystem.

    Job processes forked by the ``local`` compute backend each get their own memory, so the
    engine ships a job's input files to it and takes its output files back (see
    ``compute.local``); the data is lost when the engine stops.
    """

    name = "memory"
    title = "Memory"
    description = "In the engine's memory; lost when it stops. For tests and small data."
    fields = (Field("root", "str", "/pipelines", "Folder inside the memory filesystem"),)

    def root(self) -> str:
        return str(self.config["root"])

    def spec(self) -> StorageSpec:
        return {"protocol": "memory", "options": {}}
