"""Artifacts of the engine's store: named data that pipelines read (``Input``) and write (``Output``).

Uploads copy a stream (a file's bytes, or a value in the runner's serialized form) into a storage
backend in chunks, then register it; registering records data already on a backend. Credentials
given for the copy are used and forgotten: a record keeps its backend's public configuration only.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from typing import IO, Any

from ..errors import BadRequest, NotFound
from ..runner.job import COPY_CHUNK, FILE_TYPE, ensure_parent, first_line, redact, unreadable
from ..storage.base import StorageBackend, safe_part
from ..store import ArtifactRecord, Store
from ..store.models import now
from . import checks

_SUFFIX = re.compile(r"^\.[A-Za-z0-9_]{1,16}$")

StorageFactory = Callable[[str, Mapping[str, Any]], StorageBackend]


class _Counting:
    """A writer that counts what passes through (some fsspec files cannot ``tell()``)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.count = 0

    def write(self, data: Any) -> int:
        self.file.write(data)
        size = memoryview(data).nbytes
        self.count += size
        return size


class Artifacts:
    """List, look up, upload and register the artifacts of one store."""

    def __init__(self, store: Store, storage: StorageFactory, default_storage: str) -> None:
        self.store = store
        self.storage = storage
        self.default_storage = default_storage

    def list(self, project: str) -> list[ArtifactRecord]:
        return self.store.artifacts(safe_part(project))

    def get(self, project: str, name: str) -> ArtifactRecord:
        return self.store.artifact(safe_part(project), name)

    def _backend(self, choice: Any, credentials: Any) -> tuple[StorageBackend, dict[str, Any]]:
        choice = checks.backend_choice(choice, "storage")
        secrets = checks.obj(credentials, "credentials")
        overlap = sorted(set(choice["config"]) & set(secrets))
        if overlap:
            raise BadRequest(f"field(s) {overlap} given both in config and in credentials")
        backend = self.storage(choice["backend"] or self.default_storage, {**choice["config"], **secrets})
        return backend, secrets

    @staticmethod
    def _stored_config(backend: StorageBackend, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """What a record keeps: the public configuration, without anything given as a credential."""
        return {key: value for key, value in backend.public_config.items() if key not in credentials}

    def upload(self, project: Any, name: Any, reader: IO[bytes], *, storage: Any = None, credentials: Any = None,
               type: Any = FILE_TYPE, suffix: Any = "") -> ArtifactRecord:  # noqa: A002 - the record's field
        """Copy ``reader`` into storage as the artifact ``name`` (replacing one of that name) and register it.

        ``type`` is ``"file"`` for raw bytes, else the type name of a serialized value. Nothing is
        registered unless the copy succeeded.
        """
        project = safe_part(checks.text(project, "project", default="default"))
        name = safe_part(checks.text(name, "name"))
        kind = checks.text(type, "type", default=FILE_TYPE) or FILE_TYPE
        suffix = checks.text(suffix, "suffix")
        backend, secrets = self._backend(storage, credentials)
        if not suffix:
            suffix = "" if kind == FILE_TYPE else ".pkl"
        target = backend.upload_location(project, name, suffix if _SUFFIX.match(suffix) else "")
        try:
            fs = backend.filesystem()
            ensure_parent(fs, target)
            with fs.open(target, "wb", block_size=COPY_CHUNK) as writer:
                counter = _Counting(writer)
                shutil.copyfileobj(reader, counter, COPY_CHUNK)
        except BadRequest:
            raise
        except Exception as error:  # noqa: BLE001 - a backend's own error, named with the artifact
            raise BadRequest(redact(f"cannot write artifact {name!r} to {backend.name!r} storage: "
                                    f"{type(error).__name__}: {first_line(error)}", backend.spec())) from None
        return self._save(ArtifactRecord(project=project, name=name, backend=backend.name,
                                         config=self._stored_config(backend, secrets), path=target, type=kind,
                                         size=counter.count, created=now()))

    def register(self, project: Any, name: Any, path: Any, *, storage: Any = None, credentials: Any = None,
                 type: Any = FILE_TYPE) -> ArtifactRecord:  # noqa: A002 - the record's field
        """Record data already on a storage backend (nothing is copied): ``path`` inside its filesystem."""
        project = safe_part(checks.text(project, "project", default="default"))
        name = safe_part(checks.text(name, "name"))
        path = checks.text(path, "path", limit=4096)
        if not path:
            raise BadRequest("missing field 'path' (where the data is on its storage)")
        kind = checks.text(type, "type", default=FILE_TYPE) or FILE_TYPE
        backend, secrets = self._backend(storage, credentials)
        try:
            size = int(backend.filesystem().size(path) or 0)
        except FileNotFoundError:
            raise BadRequest(f"cannot register artifact {name!r}: {path!r} does not exist on "
                             f"{backend.name!r} storage") from None
        except Exception as error:  # noqa: BLE001 - a backend's own error, named with the artifact
            raise BadRequest(redact(f"cannot register artifact {name!r}: {path!r} on {backend.name!r} storage: "
                                    f"{unreadable(error)}", backend.spec())) from None
        return self._save(ArtifactRecord(project=project, name=name, backend=backend.name,
                                         config=self._stored_config(backend, secrets), path=path, type=kind,
                                         size=size, created=now()))

    def _save(self, record: ArtifactRecord) -> ArtifactRecord:
        self.store.save_artifact(record)
        return self.store.artifact(record.project, record.name)

    def output(self, record: ArtifactRecord) -> None:
        """Register an artifact an Output operation wrote."""
        self.store.save_artifact(record)

    def resolve(self, project: str, names: set[str],
                credentials: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[ArtifactRecord, StorageBackend]]:
        """Input artifacts with the storage backends that read them (their credentials applied)."""
        unknown = sorted(set(credentials) - names)
        if unknown:
            raise BadRequest(f"credentials given for {unknown}, which are not inputs of the pipeline")
        resolved = {}
        for name in sorted(names):
            try:
                record = self.store.artifact(project, name)
            except NotFound as error:
                raise BadRequest(f"unknown input artifact: {error}") from None
            resolved[name] = (record, self.storage(record.backend, {**record.config, **credentials.get(name, {})}))
        return resolved

