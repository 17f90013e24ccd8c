"""``fsspec``: any fsspec URL plus its storage options."""
from __future__ import annotations

from typing import Any

import fsspec.core

from ..fields import Field
from ..runner.contracts import StorageSpec
from .base import StorageBackend


class FsspecStorage(StorageBackend):
    name = "fsspec"
    title = "Any fsspec URL"
    description = "Any filesystem fsspec knows (gcs://, az://, sftp://, …), with its storage options."
    fields = (
        Field("url", "str", None, "Base URL, e.g. gcs://bucket/pipelines", required=True),
        Field("options", "dict", {}, "fsspec storage options (JSON object)"),
        Field("secret_options", "dict", {}, "Storage options that are secrets (kept in memory only)", secret=True),
    )

    def _split(self) -> tuple[str, str]:
        fs_class, path = fsspec.core.url_to_fs(self.config["url"], **self._options())
        protocol = fs_class.protocol if isinstance(fs_class.protocol, str) else fs_class.protocol[0]
        return protocol, path

    def _options(self) -> dict[str, Any]:
        return {**(self.config["options"] or {}), **(self.config["secret_options"] or {})}

    def root(self) -> str:
        return self._split()[1]

    def spec(self) -> StorageSpec:
        return {"protocol": self._split()[0], "options": self._options()}
