"""Input artifacts of an export: bundled into the zip, or fetched at run time with credentials from the environment.

For an artifact fetched at run time, ``pipeline.json`` holds its fsspec ``protocol``, ``options`` and
``path`` — built by the artifact's storage backend from its public configuration — where every
credential is a marker that ``main.py`` fills in from an environment variable:

* ``{"$credential": "secret"}`` stands for the value of the credential field ``secret``;
* a key ``"$credentials:secret_options"`` in an object stands for the JSON object of the (dict-typed)
  field ``secret_options``, merged into that object.

Nothing secret is written unless the user asked to embed credentials.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, cast

from ..errors import BadRequest
from ..fields import Field
from ..paths import Context
from ..runner.job import unreadable
from ..runner.secrets import OPTIONAL_CREDENTIALS, is_credential
from ..storage.base import StorageBackend, storage_backends
from ..store import ArtifactRecord

#: Backends whose data lives in the engine's own process: only bundling can carry them.
IN_PROCESS_BACKENDS = frozenset({"memory"})
_MARK = "\x00jp-credential:"
VALUE_MARKER = "$credential"
MERGE_MARKER = "$credentials:"


class ExportError(BadRequest):
    """The export cannot be built as asked; the message names the problem."""


def env_variable(artifact: str, field_name: str, taken: set[str]) -> str:
    """``raw-data`` + ``secret`` → ``RAW_DATA_SECRET`` (unique among ``taken``)."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", f"{artifact}_{field_name}").strip("_").upper() or "ARTIFACT"
    if base[0].isdigit():
        base = f"_{base}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def safe_file_name(name: str, taken: set[str], suffix: str = "") -> str:
    """A file name made of ``[A-Za-z0-9_.-]``, unique among ``taken`` case-insensitively."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "file"
    candidate, n = base, 1
    while (candidate + suffix).lower() in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add((candidate + suffix).lower())
    return candidate + suffix


@dataclass
class InputPlan:
    """How one Input artifact reaches the exported pipeline."""

    name: str
    nodes: list[str]
    record: ArtifactRecord
    backend_cls: type[StorageBackend]
    bundled: bool
    file: str | None = None  # inside the zip, when bundled
    protocol: str = "file"
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    embedded: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return f"{self.protocol}://{self.record.path}" if self.protocol not in ("file", "local") else self.record.path

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodes": list(self.nodes),
            "backend": self.record.backend,
            "type": self.record.type,
            "bundled": self.bundled,
        }
        if self.bundled:
            data["file"] = self.file
        else:
            data.update(protocol=self.protocol, options=self.options, path=self.record.path, location=self.location,
                        credentials=self.credentials)
        return data


def credential_fields(backend_cls: type[StorageBackend]) -> list[Field]:
    """The fields of a storage backend that are read from the environment in an export."""
    return [f for f in backend_cls.fields
            if is_credential(f.name, f.secret) and f.type in ("str", "dict")]


def required_credentials(backend_cls: type[StorageBackend]) -> set[str]:
    """Credential fields without which the artifact cannot be read.

    A backend may say so itself with a ``required_credentials`` class attribute; otherwise every
    text credential is required except completing ones (a session token) and option objects.
    """
    declared = getattr(backend_cls, "required_credentials", None)
    if declared is not None:
        return set(declared)
    return {f.name for f in credential_fields(backend_cls) if f.type == "str" and f.name not in OPTIONAL_CREDENTIALS}


def _mark(value: Any, used: set[str]) -> Any:
    """Replace placeholder credential values in a backend's spec by JSON markers."""
    if isinstance(value, str):
        if value.startswith(_MARK):
            used.add(value[len(_MARK):])
            return {VALUE_MARKER: value[len(_MARK):]}
        if _MARK in value:
            raise ValueError("a credential is embedded inside another option")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.startswith(_MARK):
                used.add(key[len(_MARK):])
                out[MERGE_MARKER + key[len(_MARK):]] = None
            else:
                out[str(key)] = _mark(item, used)
        return out
    if isinstance(value, (list, tuple)):
        return [_mark(item, used) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise ValueError(f"option value of type {type(value).__name__} cannot be written as JSON")


def runtime_spec(record: ArtifactRecord, backend_cls: type[StorageBackend], context: Context,
                 env_names: set[str]) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """``(protocol, options with markers, credential table)`` for fetching ``record`` at run time."""
    fields = credential_fields(backend_cls)
    config = {k: v for k, v in dict(record.config).items() if k in {f.name for f in backend_cls.fields}}
    public_values = {f.name: config.get(f.name) for f in fields}
    for f in fields:
        config[f.name] = {_MARK + f.name: None} if f.type == "dict" else _MARK + f.name
    used: set[str] = set()
    try:
        try:
            spec = backend_cls(config, context).spec()
        except Exception:  # noqa: BLE001 - a backend that hands its options to fsspec at once (``fsspec``)
            # dict-typed credentials are then taken as options merged at the top level
            dict_fields = [f.name for f in fields if f.type == "dict"]
            if not dict_fields:
                raise
            spec = backend_cls({**config, **{name: {} for name in dict_fields}}, context).spec()
            spec = {**spec, "options": {**dict(spec.get("options") or {}),
                                        **{_MARK + name: None for name in dict_fields}}}
        options = _mark(dict(spec.get("options") or {}), used)
    except Exception as error:  # noqa: BLE001 - any backend; name the artifact
        raise ExportError(
            f"input artifact {record.name!r} on {record.backend!r} storage cannot be fetched by the export at run "
            f"time ({type(error).__name__}: {error}); bundle it into the zip instead") from None
    table: dict[str, dict[str, Any]] = {}
    required = required_credentials(backend_cls)
    for f in fields:
        if f.name not in used:
            continue
        entry: dict[str, Any] = {"env": env_variable(record.name, f.name, env_names), "type": f.type,
                                 "secret": f.secret, "description": f.description}
        public = public_values.get(f.name)
        if not f.secret and public not in (None, "", {}):
            entry["default"] = public  # a recorded, non-secret value (an access key id): the variable overrides it
        entry["required"] = f.name in required and "default" not in entry
        table[f.name] = entry
    return str(spec["protocol"]), options, table


def plan_inputs(pipeline: Any, *, bundle: Iterable[str], credentials: Mapping[str, Mapping[str, Any]],
                embed_credentials: Mapping[str, Mapping[str, Any]], records: Mapping[str, ArtifactRecord],
                context: Context) -> list[InputPlan]:
    """Plan every Input artifact of ``pipeline`` (``records`` holds their records, by name)."""
    nodes_by_artifact: dict[str, list[str]] = {}
    for node in pipeline.nodes.values():
        if node.kind == "input" and node.artifact:
            nodes_by_artifact.setdefault(node.artifact, []).append(node.id)
    bundle = set(bundle)
    for label, names in (("bundle", bundle), ("credentials", set(credentials)),
                         ("embed_credentials", set(embed_credentials))):
        unknown = sorted(names - set(nodes_by_artifact))
        if unknown:
            raise ExportError(f"{label} names {unknown}, which are not input artifacts of pipeline {pipeline.name!r}"
                              f" (its inputs: {sorted(nodes_by_artifact)})")
    missing = sorted(set(nodes_by_artifact) - set(records))
    if missing:
        raise ExportError(f"unknown input artifact(s) {missing} of pipeline {pipeline.name!r}")
    plans: list[InputPlan] = []
    env_names: set[str] = set()
    files: set[str] = set()
    for name in sorted(nodes_by_artifact):
        record = records[name]
        backend_cls = storage_backends.get(record.backend)
        bundled = name in bundle or record.backend in IN_PROCESS_BACKENDS
        plan = InputPlan(name, nodes_by_artifact[name], record, backend_cls, bundled)
        if bundled:
            plan.file = "artifacts/" + safe_file_name(name, files, ".pkl")
        else:
            plan.protocol, plan.options, plan.credentials = runtime_spec(record, backend_cls, context, env_names)
            embedded = dict(embed_credentials.get(name) or {})
            unknown = sorted(set(embedded) - set(plan.credentials))
            if unknown:
                raise ExportError(f"cannot embed {unknown} for input artifact {name!r}: its credentials on "
                                  f"{record.backend!r} storage are {sorted(plan.credentials) or 'none'}")
            plan.embedded = {k: v for k, v in embedded.items() if v not in (None, "")}
        plans.append(plan)
    return plans


def open_artifact(plan: InputPlan, credentials: Mapping[str, Any], context: Context) -> IO[bytes]:
    """Open the stored bytes of an artifact for reading, with credentials kept in memory only."""
    known = {f.name for f in plan.backend_cls.fields}
    config = {k: v for k, v in {**plan.record.config, **credentials}.items() if k in known}
    where = f"input artifact {plan.name!r} on {plan.record.backend!r} storage"
    try:
        fs = plan.backend_cls(config, context).filesystem()
        return cast(IO[bytes], fs.open(plan.record.path, "rb"))
    except BadRequest as error:
        raise ExportError(f"cannot bundle {where}: {error}") from None
    except Exception as error:  # noqa: BLE001 - backends raise their own types
        raise ExportError(f"cannot bundle {where}: {unreadable(error)}") from None
