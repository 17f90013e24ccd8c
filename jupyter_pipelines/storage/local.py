"""``local``: a folder on the machine that runs the engine."""
from __future__ import annotations

import os

from ..fields import Field
from ..runner.contracts import StorageSpec
from .base import StorageBackend


class LocalStorage(StorageBackend):
    name = "local"
    title = "Local folder"
    description = "A folder on the server's machine."
    fields = (Field("root", "str", None, "Folder for the data; empty means the server's storage root."),)

    def root(self) -> str:
        return os.path.abspath(os.path.expanduser(self.config["root"] or self.context.storage_root))

    def spec(self) -> StorageSpec:
        return {"protocol": "file", "options": {"auto_mkdir": True}}
