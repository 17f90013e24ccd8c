"""Export zips built by the engine: into its exports folder for download, or to a path.

A zip that holds embedded credentials is deleted once downloaded; every zip is deleted after
``ttl`` seconds.
"""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import NotFound
from ..export import ExportError, write_zip
from ..paths import Context
from ..pipeline import Pipeline
from ..store import ArtifactRecord
from . import checks

ID = re.compile(r"[0-9a-f]{32}")


class Exports:
    """Builds export zips of pipelines whose input artifacts are looked up with ``artifact``."""

    def __init__(self, folder: str, context: Context, artifact: Callable[[str, str], ArtifactRecord],
                 ttl: float = 3600.0) -> None:
        self.folder = folder
        self.context = context
        self.artifact = artifact
        self.ttl = ttl

    @staticmethod
    def options(body: Mapping[str, Any]) -> dict[str, Any]:
        """The export options of a request, checked."""
        return {"bundle": checks.names(body.get("bundle"), "bundle"),
                "credentials": checks.credentials(body.get("credentials")),
                "embed_credentials": checks.credentials(body.get("embed_credentials"), "embed_credentials")}

    def _records(self, pipeline: Pipeline) -> dict[str, ArtifactRecord]:
        names = sorted({node.artifact for node in pipeline.nodes.values() if node.kind == "input" and node.artifact})
        records = {}
        for name in names:
            try:
                records[name] = self.artifact(pipeline.project, name)
            except NotFound as error:
                raise ExportError(f"unknown input artifact: {error}") from None
        return records

    def write(self, pipeline: Pipeline, path: str, options: Mapping[str, Any]) -> str:
        """Write the zip to ``path`` (nothing half-written is left); returns its absolute path."""
        return write_zip(pipeline, path, records=self._records(pipeline), context=self.context, **options)

    def build(self, pipeline: Pipeline, options: Mapping[str, Any]) -> dict[str, str]:
        """Build a zip for download: ``{"id", "filename"}``."""
        self.expire()
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        export_id = uuid.uuid4().hex
        self.write(pipeline, os.path.join(self.folder, f"{export_id}.zip"), options)
        meta = {"filename": f"{pipeline.name}.zip", "pipeline": pipeline.name, "project": pipeline.project,
                "secret": any(options.get("embed_credentials", {}).values())}
        descriptor = os.open(os.path.join(self.folder, f"{export_id}.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(meta, file)
        return {"id": export_id, "filename": f"{pipeline.name}.zip"}

    def file(self, export_id: str) -> tuple[str, dict[str, Any]]:
        """The zip of an export and its description (NotFound for an unknown or expired id)."""
        zip_path, meta_path = self._paths(export_id)
        try:
            with open(meta_path) as file:
                meta = json.load(file)
        except (FileNotFoundError, ValueError):
            raise NotFound(f"no export {export_id!r}") from None
        if not os.path.isfile(zip_path):
            raise NotFound(f"no export {export_id!r}")
        return zip_path, meta

    def downloaded(self, export_id: str) -> None:
        """A zip holding embedded credentials lives until its one download."""
        _, meta = self.file(export_id)
        if meta.get("secret"):
            self.remove(export_id)

    def remove(self, export_id: str) -> None:
        for path in self._paths(export_id):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def expire(self) -> None:
        """Delete the exports older than ``ttl`` seconds."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return
        cutoff = time.time() - self.ttl
        for name in names:
            export_id, _, _ = name.partition(".")
            path = os.path.join(self.folder, name)
            try:
                if ID.fullmatch(export_id) and os.path.getmtime(path) < cutoff:
                    os.remove(path)
            except FileNotFoundError:
                pass

    def _paths(self, export_id: str) -> tuple[str, str]:
        if not ID.fullmatch(export_id or ""):
            raise NotFound(f"no export {export_id!r}")
        return os.path.join(self.folder, f"{export_id}.zip"), os.path.join(self.folder, f"{export_id}.json")
