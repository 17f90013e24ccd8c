"""Artifacts: named data that pipelines read with ``Input(name)`` and write with ``Output(..., name)``.

``Artifact.upload`` registers an artifact from a local file or a Python object, on any storage
backend, with its metadata (backend, location, type, size, created, and — for artifacts written
by an Output operation — the execution and operation that wrote it)::

    Artifact.upload("data/train.csv", "raw-train")                      # a file, to local storage
    Artifact.upload(model, "model", storage="s3", config={"bucket": "b"},
                    credentials={"key": "...", "secret": "..."})         # an object, to S3

Two kinds of artifacts:

* a **Python object** is stored in the runner's serialized form (``type`` is its type name,
  e.g. ``list`` or ``numpy.ndarray``); operations receive the object.
* a **local file** is stored as it is, byte for byte (``type`` is ``"file"``); operations receive
  its content as a ``bytearray`` (use ``bytes(data)``, ``data.decode()`` or ``io.BytesIO(data)``).
  The Input job streams it into the execution's storage, so only the operation that reads it
  holds it in memory.

Everything goes through the pipelines API (``POST artifacts``): the Jupyter server's when one is
reachable, else the engine embedded in this process — so the records are in the same store as
the executions that read them. Data is streamed in chunks, never read whole into memory.
Credentials given with ``credentials=`` are used for the copy and forgotten: the record keeps the
backend's configuration without them and without its secret fields; give them again when an
execution reads the artifact (``credentials={name: {...}}`` of ``Pipeline.run``) or to
``Artifact.load``.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import IO, Any, cast

from .client import Api, EmbeddedApi, connect
from .engine import ExecutionManager
from .errors import BadRequest
from .paths import Context
from .pipeline import DEFAULT_PROJECT
from .runner import serialize
from .runner.job import COPY_CHUNK, FILE_TYPE, read_value, redact, unreadable
from .storage.base import StorageBackend, storage_backends
from .store import ArtifactRecord

__all__ = ["Artifact", "ArtifactRecord"]


@contextlib.contextmanager
def _api(home: str | None) -> Iterator[Api]:
    """The API to use: the connection, or (``home=``) an engine on that data dir for this call only."""
    if home is None:
        yield connect()
        return
    manager = ExecutionManager(os.path.abspath(os.path.expanduser(home)))
    try:
        yield EmbeddedApi(manager)
    finally:
        manager.close()


def _record(data: Mapping[str, Any]) -> ArtifactRecord:
    return ArtifactRecord(**data)


class Artifact:
    """Register, find, list and load artifacts (all class methods; records are ``ArtifactRecord``)."""

    @classmethod
    def upload(cls, source: Any, name: str, *, project: str = DEFAULT_PROJECT, storage: str = "local",
               config: Mapping[str, Any] | None = None, credentials: Mapping[str, Any] | None = None,
               home: str | None = None, file: bool | None = None) -> ArtifactRecord:
        """Copy ``source`` into ``storage`` and register it as the artifact ``name`` of ``project``.

        ``source`` is a local file path (``str`` or ``os.PathLike``; stored as it is, type
        ``"file"``) or any other Python object (serialized). Pass ``file=False`` to store a
        path string as a value, ``file=True`` to insist on a file. An artifact of the same name
        is replaced. Nothing is registered unless the copy succeeded.
        """
        is_file = isinstance(source, (str, os.PathLike)) if file is None else file
        meta: dict[str, Any] = {"name": name, "project": project, "storage": {"backend": storage,
                                                                              "config": dict(config or {})},
                                "credentials": dict(credentials or {})}
        with _api(home) as api:
            if is_file:
                if not isinstance(source, (str, os.PathLike)):
                    raise BadRequest(f"file=True needs a path, got {type(source).__name__}")
                path = os.path.abspath(os.path.expanduser(os.fspath(source)))
                if not os.path.isfile(path):
                    raise BadRequest(f"cannot upload {os.fspath(source)!r} as artifact {name!r}: no such file")
                meta.update(type=FILE_TYPE, suffix=os.path.splitext(path)[1])
                with open(path, "rb") as reader:
                    return _record(api.upload_artifact(meta, reader))
            with tempfile.SpooledTemporaryFile(max_size=COPY_CHUNK) as buffer:
                serialize.dump(source, buffer)
                buffer.seek(0)
                meta.update(type=serialize.type_name(source), suffix=".pkl")
                return _record(api.upload_artifact(meta, buffer))

    @classmethod
    def register(cls, path: str, name: str, *, project: str = DEFAULT_PROJECT, storage: str = "local",
                 config: Mapping[str, Any] | None = None, credentials: Mapping[str, Any] | None = None,
                 type: str = FILE_TYPE, home: str | None = None) -> ArtifactRecord:  # noqa: A002
        """Register data already on a storage backend (nothing is copied): ``path`` inside its filesystem.

        ``type="file"`` (default) for a raw file; the type name of the value for data written in
        the runner's serialized form.
        """
        with _api(home) as api:
            return _record(api.register_artifact({
                "name": name, "project": project, "path": path, "type": type,
                "storage": {"backend": storage, "config": dict(config or {})}, "credentials": dict(credentials or {})}))

    @classmethod
    def get(cls, name: str, project: str = DEFAULT_PROJECT, *, home: str | None = None) -> ArtifactRecord:
        """The record of one artifact (``NotFound`` if there is none)."""
        with _api(home) as api:
            return _record(api.artifact(project, name))

    @classmethod
    def list(cls, project: str = DEFAULT_PROJECT, *, home: str | None = None) -> list[ArtifactRecord]:
        """The artifacts of a project, by name."""
        with _api(home) as api:
            return [_record(data) for data in api.artifacts(project)]

    @classmethod
    def backend(cls, record: ArtifactRecord, credentials: Mapping[str, Any] | None = None) -> StorageBackend:
        """The storage backend that holds ``record``, with ``credentials`` merged into its configuration."""
        config = {key: value for key, value in record.config.items() if key not in (credentials or {})}
        # Records hold absolute locations: the backend is only asked for its filesystem.
        return storage_backends.create(record.backend, {**config, **dict(credentials or {})}, Context("", "", 1))

    @classmethod
    def open(cls, name: str, project: str = DEFAULT_PROJECT, *, credentials: Mapping[str, Any] | None = None,
             home: str | None = None) -> IO[bytes]:
        """The stored bytes of an artifact as a binary file object to read in chunks (close it)."""
        record = cls.get(name, project, home=home)
        backend = cls.backend(record, credentials)
        reader = cls._wrap(record, backend, lambda: backend.filesystem().open(record.path, "rb", block_size=COPY_CHUNK))
        return cast(IO[bytes], reader)

    @classmethod
    def load(cls, name: str, project: str = DEFAULT_PROJECT, *, credentials: Mapping[str, Any] | None = None,
             home: str | None = None) -> Any:
        """The artifact's value: the object for a serialized artifact, ``bytes`` for a ``file`` artifact."""
        record = cls.get(name, project, home=home)
        backend = cls.backend(record, credentials)
        if record.type == FILE_TYPE:
            return cls._wrap(record, backend, lambda: backend.filesystem().cat_file(record.path))
        return cls._wrap(record, backend, lambda: read_value(backend.filesystem(), record.path))

    @staticmethod
    def _wrap(record: ArtifactRecord, backend: StorageBackend, action: Any) -> Any:
        try:
            return action()
        except BadRequest:
            raise
        except Exception as error:  # noqa: BLE001 - a backend's own error, named with the artifact
            where = f"artifact {record.name!r} on {record.backend!r} storage"
            raise BadRequest(redact(f"{where}: {unreadable(error)}", backend.spec())) from None
