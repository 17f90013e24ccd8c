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

Data is copied in chunks (``COPY_CHUNK``), never read whole into memory. Credentials given with
``credentials=`` are used for the copy and forgotten: the stored record keeps the backend's
configuration without them and without its secret fields; give them again when an execution
reads the artifact (``credentials={name: {...}}`` of ``Pipeline.run``) or to ``Artifact.load``.

The records live in the engine's store: the embedded engine's when this process runs one,
otherwise the store under ``JUPYTER_PIPELINES_HOME`` (or ``home=``), the same file the Jupyter
server's engine uses on this machine.
"""
from __future__ import annotations

import os
import re
import shutil
from typing import IO, Any, Mapping

from .backends import Context
from .errors import BadRequest
from .pipeline import DEFAULT_PROJECT
from .runner import serialize
from .runner.job import COPY_CHUNK, FILE_TYPE, ensure_parent, read_value, redact
from .storage.base import StorageBackend, safe_part, storage_backends
from .store import ArtifactRecord, Store
from .store.models import now

__all__ = ["Artifact", "ArtifactRecord"]

_SUFFIX = re.compile(r"^\.[A-Za-z0-9_]{1,16}$")


def _engine(home: str | None) -> tuple[Store, Context, bool]:
    """The store and backend context to use; the bool says whether the caller must close the store."""
    if home is None:
        from . import client

        api = client._connection
        manager = getattr(api, "manager", None)
        if manager is not None:
            return manager.store, manager.context, False
        home = client.data_dir()
    home = os.path.abspath(os.path.expanduser(home))
    os.makedirs(home, exist_ok=True)
    context = Context(home, os.path.join(home, "storage"), os.cpu_count() or 1)
    return Store(os.path.join(home, "pipelines.db")), context, True


def _backend(name: str, config: Mapping[str, Any] | None, credentials: Mapping[str, Any] | None,
             context: Context) -> StorageBackend:
    overlap = sorted(set(config or {}) & set(credentials or {}))
    if overlap:
        raise BadRequest(f"field(s) {overlap} given both in config and in credentials")
    return storage_backends.create(name, {**dict(config or {}), **dict(credentials or {})}, context)


def _stored_config(backend: StorageBackend, credentials: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the record keeps: the public configuration, without anything given as a credential."""
    return {key: value for key, value in backend.public_config.items() if key not in (credentials or {})}


def _describe(record: ArtifactRecord) -> str:
    return f"artifact {record.name!r} on {record.backend!r} storage"


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
        safe_part(project)
        safe_part(name)
        is_file = isinstance(source, (str, os.PathLike)) if file is None else file
        if is_file:
            if not isinstance(source, (str, os.PathLike)):
                raise BadRequest(f"file=True needs a path, got {type(source).__name__}")
            path = os.path.abspath(os.path.expanduser(os.fspath(source)))
            if not os.path.isfile(path):
                raise BadRequest(f"cannot upload {os.fspath(source)!r} as artifact {name!r}: no such file")
        store, context, own = _engine(home)
        try:
            backend = _backend(storage, config, credentials, context)
            fs = backend.filesystem()
            suffix = os.path.splitext(path)[1] if is_file else ".pkl"
            target = backend.upload_location(project, name, suffix if _SUFFIX.match(suffix) else "")
            try:
                ensure_parent(fs, target)
                with fs.open(target, "wb", block_size=COPY_CHUNK) as writer:
                    counter = _Counting(writer)
                    if is_file:
                        with open(path, "rb") as reader:
                            shutil.copyfileobj(reader, counter, COPY_CHUNK)
                        kind = FILE_TYPE
                    else:
                        serialize.dump(source, counter)
                        kind = serialize.type_name(source)
            except Exception as error:  # noqa: BLE001 - a backend's own error, named with the artifact
                if isinstance(error, BadRequest):
                    raise
                raise BadRequest(redact(f"cannot write artifact {name!r} to {storage!r} storage: "
                                        f"{type_name(error)}: {_first_line(error)}", backend.spec())) from None
            record = ArtifactRecord(project=project, name=name, backend=storage,
                                    config=_stored_config(backend, credentials), path=target, type=kind,
                                    size=counter.count, created=now(), execution=None, node=None)
            store.save_artifact(record)
            return store.artifact(project, name)
        finally:
            if own:
                store.close()

    @classmethod
    def register(cls, path: str, name: str, *, project: str = DEFAULT_PROJECT, storage: str = "local",
                 config: Mapping[str, Any] | None = None, credentials: Mapping[str, Any] | None = None,
                 type: str = FILE_TYPE, home: str | None = None) -> ArtifactRecord:  # noqa: A002
        """Register data already on a storage backend (nothing is copied): ``path`` inside its filesystem.

        ``type="file"`` (default) for a raw file; the type name of the value for data written in
        the runner's serialized form.
        """
        safe_part(project)
        safe_part(name)
        store, context, own = _engine(home)
        try:
            backend = _backend(storage, config, credentials, context)
            try:
                size = int(backend.filesystem().size(path) or 0)
            except FileNotFoundError:
                raise BadRequest(f"cannot register artifact {name!r}: {path!r} does not exist on "
                                 f"{storage!r} storage") from None
            except Exception as error:  # noqa: BLE001 - a backend's own error, named with the artifact
                raise BadRequest(redact(f"cannot register artifact {name!r}: {path!r} on {storage!r} storage: "
                                        f"{type_name(error)}: {_first_line(error)}", backend.spec())) from None
            store.save_artifact(ArtifactRecord(project=project, name=name, backend=storage,
                                               config=_stored_config(backend, credentials), path=path, type=type,
                                               size=size, created=now()))
            return store.artifact(project, name)
        finally:
            if own:
                store.close()

    @classmethod
    def get(cls, name: str, project: str = DEFAULT_PROJECT, *, home: str | None = None) -> ArtifactRecord:
        """The record of one artifact (``NotFound`` if there is none)."""
        store, _, own = _engine(home)
        try:
            return store.artifact(project, name)
        finally:
            if own:
                store.close()

    @classmethod
    def list(cls, project: str = DEFAULT_PROJECT, *, home: str | None = None) -> list[ArtifactRecord]:
        """The artifacts of a project, by name."""
        store, _, own = _engine(home)
        try:
            return store.artifacts(project)
        finally:
            if own:
                store.close()

    @classmethod
    def backend(cls, record: ArtifactRecord, credentials: Mapping[str, Any] | None = None,
                *, home: str | None = None) -> StorageBackend:
        """The storage backend that holds ``record``, with ``credentials`` merged into its configuration."""
        store, context, own = _engine(home)
        if own:
            store.close()
        config = {key: value for key, value in record.config.items() if key not in (credentials or {})}
        return storage_backends.create(record.backend, {**config, **dict(credentials or {})}, context)

    @classmethod
    def open(cls, name: str, project: str = DEFAULT_PROJECT, *, credentials: Mapping[str, Any] | None = None,
             home: str | None = None) -> IO[bytes]:
        """The stored bytes of an artifact as a binary file object to read in chunks (close it)."""
        record = cls.get(name, project, home=home)
        backend = cls.backend(record, credentials, home=home)
        return cls._wrap(record, backend, lambda: backend.filesystem().open(record.path, "rb", block_size=COPY_CHUNK))

    @classmethod
    def load(cls, name: str, project: str = DEFAULT_PROJECT, *, credentials: Mapping[str, Any] | None = None,
             home: str | None = None) -> Any:
        """The artifact's value: the object for a serialized artifact, ``bytes`` for a ``file`` artifact."""
        record = cls.get(name, project, home=home)
        backend = cls.backend(record, credentials, home=home)
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
            raise BadRequest(redact(Artifact._message(record, error), backend.spec())) from None

    @staticmethod
    def _message(record: ArtifactRecord, error: BaseException) -> str:
        if isinstance(error, FileNotFoundError):
            return f"{_describe(record)}: {record.path!r} does not exist"
        if isinstance(error, PermissionError):
            return f"{_describe(record)}: access denied ({_first_line(error)}); check the credentials given for it"
        if type_name(error) in ("NoCredentialsError", "PartialCredentialsError"):
            return f"{_describe(record)}: no credentials for it; pass credentials={{...}}"
        return f"{_describe(record)}: cannot read it ({type_name(error)}: {_first_line(error)})"


def type_name(error: BaseException) -> str:
    return type(error).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""
