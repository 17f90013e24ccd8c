"""What ``run`` and ``artifacts upload`` are told: backends, their configuration, parameters, secrets.

Non-secret values come from the command line (``key=value``, the value read as JSON when it is
JSON, else as text) or from a configuration file (JSON, or YAML when PyYAML is installed).
Secrets never come from the command line: they are read from files given by path
(``--credentials``, ``--config``) or from environment variables named on it (``--secret-env``),
and a secret field given as ``key=value`` is refused. Environment variables read for secrets are
removed from this process's environment, so no process it starts inherits them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest

CONFIG_KEYS = ("compute", "storage", "params", "credentials")
KINDS = ("compute", "storage")


def value_of(text: str) -> Any:
    """``text`` as JSON when it parses (numbers, true/false, lists, objects, quoted strings), else as it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def assignments(items: Iterable[str] | None, option: str, *, dotted: bool = False,
                text_fields: Iterable[str] = ()) -> dict[str, Any]:
    """``["k=v", …]`` as ``{k: value_of(v)}``; ``dotted`` keys must read ``a.b`` (``--param op.attr=v``).

    Keys in ``text_fields`` (fields a backend declares as text) keep their value as written:
    a bucket named ``2024`` stays ``"2024"``.
    """
    text_fields = set(text_fields)
    found: dict[str, Any] = {}
    for item in items or ():
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise BadRequest(f"{option} takes KEY=VALUE, got {item!r}")
        if dotted and not all(key.partition(".")[::2]):
            raise BadRequest(f"{option} takes OPERATION.ATTRIBUTE=VALUE, got {item!r}")
        found[key] = text if key in text_fields else value_of(text)
    return found


def read_file(path: str, what: str) -> Any:
    """A JSON or YAML file (by its suffix; YAML needs PyYAML)."""
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise BadRequest(f"cannot read the {what} {path}: {error.strerror or error}") from None
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml  # optional: only for YAML files
        except ImportError:
            raise BadRequest(f"the {what} {path} is YAML, which needs PyYAML (pip install pyyaml); "
                             "or write it as JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise BadRequest(f"the {what} {path} is not valid YAML{line}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        # the position only: the text may hold secrets
        raise BadRequest(f"the {what} {path} is not valid JSON (line {error.lineno}, column {error.colno})"
                         ) from None


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise BadRequest(f"{what} must be an object (a mapping of names), got {type(value).__name__}")
    return dict(value)


def _choice(value: Any, what: str) -> dict[str, Any]:
    """``"name"`` or ``{"backend", "config"}`` as ``{"backend", "config"}``."""
    if isinstance(value, str):
        return {"backend": value, "config": {}}
    choice = _mapping(value, what)
    unknown = sorted(set(choice) - {"backend", "config"})
    if unknown:
        raise BadRequest(f"{what} takes 'backend' and 'config', not {unknown}")
    return {"backend": choice.get("backend"), "config": _mapping(choice.get("config"), f"{what}.config")}


def config_file(path: str | None) -> dict[str, Any]:
    """A ``--config`` file: ``{compute: {backend, config}, storage: {…}, params: {…}, credentials: {…}}``."""
    if not path:
        return {"compute": {"backend": None, "config": {}}, "storage": {"backend": None, "config": {}},
                "params": {}, "credentials": {}}
    data = _mapping(read_file(path, "configuration file"), f"the configuration file {path}")
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise BadRequest(f"the configuration file {path} has unknown section(s) {unknown}; "
                         f"known: {list(CONFIG_KEYS)}")
    return {"compute": _choice(data.get("compute"), "compute"), "storage": _choice(data.get("storage"), "storage"),
            "params": _mapping(data.get("params"), "params"),
            "credentials": {name: _mapping(fields, f"credentials.{name}")
                            for name, fields in _mapping(data.get("credentials"), "credentials").items()}}


def credentials_file(path: str | None, *, per_artifact: bool = True) -> dict[str, Any]:
    """A ``--credentials`` file: ``{artifact: {field: value}}`` (``per_artifact``), else ``{field: value}``."""
    if not path:
        return {}
    data = _mapping(read_file(path, "credentials file"), f"the credentials file {path}")
    if per_artifact:
        return {name: _mapping(fields, f"credentials of {name!r} in {path}") for name, fields in data.items()}
    return data


_read: dict[str, str] = {}


def environment_secret(variable: str, target: str) -> str:
    """The value of ``variable`` (then removed from the environment); an error names the variable only."""
    value = os.environ.pop(variable, None)
    if value is None:
        value = _read.get(variable)
    if value is None:
        raise BadRequest(f"the environment variable {variable} (for {target}) is not set")
    _read[variable] = value
    return value


def _fields(schemas: Iterable[Mapping[str, Any]], backend: str | None) -> list[Mapping[str, Any]]:
    for schema in schemas:
        if schema.get("name") == backend:
            return list(schema.get("fields", []))
    return []


def secret_fields(schemas: Iterable[Mapping[str, Any]], backend: str | None) -> set[str]:
    """The names of the secret fields of ``backend`` among the API's backend schemas."""
    return {f["name"] for f in _fields(schemas, backend) if f.get("secret")}


def text_fields(schemas: Iterable[Mapping[str, Any]], backend: str | None) -> set[str]:
    """The names of the fields of ``backend`` whose values are text."""
    return {f["name"] for f in _fields(schemas, backend) if f.get("type") == "str"}


@dataclass
class RunOptions:
    """What a submit is given: compute, storage, params and per-input credentials (secrets included)."""

    compute: dict[str, Any] = field(default_factory=lambda: {"backend": None, "config": {}})
    storage: dict[str, Any] = field(default_factory=lambda: {"backend": None, "config": {}})
    params: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)

    def choice(self, kind: str) -> dict[str, Any] | None:
        chosen = getattr(self, kind)
        if not chosen["backend"] and not chosen["config"]:
            return None
        return {"backend": chosen["backend"], "config": dict(chosen["config"])}


def refuse_secrets_on_command_line(given: Mapping[str, Any], secret: set[str], kind: str, backend: str) -> None:
    named = sorted(set(given) & secret)
    if named:
        field_name = named[0]
        raise BadRequest(f"{', '.join(named)} of {kind} backend {backend!r} is secret: give it with "
                         f"--secret-env {kind}.{field_name}=ENVVAR or in a --config file, not on the command line")


def run_options(args: Any, backends: Mapping[str, Any] | None) -> RunOptions:
    """Merge ``--config``, then the options on the command line, then the secrets (files, environment).

    ``backends`` (the API's ``GET backends``) tells which fields are secret; defaults fill blanks.
    """
    base = config_file(getattr(args, "config", None))
    options = RunOptions(compute=base["compute"], storage=base["storage"], params=base["params"],
                         credentials=base["credentials"])
    defaults = (backends or {}).get("defaults", {})
    for kind in KINDS:
        chosen = getattr(options, kind)
        if getattr(args, kind, None):
            if chosen["backend"] and chosen["backend"] != getattr(args, kind):
                chosen["config"] = {}  # another backend than the file's: its configuration does not apply
            chosen["backend"] = getattr(args, kind)
        backend = chosen["backend"] or defaults.get(kind)
        schemas = (backends or {}).get(kind, [])
        given = assignments(getattr(args, f"{kind}_config", None), f"--{kind}-config",
                            text_fields=text_fields(schemas, backend))
        refuse_secrets_on_command_line(given, secret_fields(schemas, backend), kind, str(backend))
        chosen["config"].update(given)
    options.params.update(assignments(getattr(args, "param", None), "--param", dotted=True))
    for artifact, fields in credentials_file(getattr(args, "credentials", None)).items():
        options.credentials.setdefault(artifact, {}).update(fields)
    for item in getattr(args, "secret_env", None) or ():
        target, variable = _secret_assignment(item)
        kind, _, rest = target.partition(".")
        if kind == "credentials":
            artifact, dot, field_name = rest.partition(".")
            if not (artifact and dot and field_name):
                raise BadRequest(f"--secret-env credentials.ARTIFACT.FIELD=ENVVAR, got {item!r}")
            options.credentials.setdefault(artifact, {})[field_name] = environment_secret(variable, target)
            continue
        if kind not in KINDS or not rest:
            kind = _kind_of(target, options, backends)
            rest = target
        getattr(options, kind)["config"][rest] = environment_secret(variable, f"{kind}.{rest}")
    return options


def _secret_assignment(item: str) -> tuple[str, str]:
    target, equals, variable = item.partition("=")
    if not equals or not target.strip() or not variable.strip():
        raise BadRequest(f"--secret-env takes FIELD=ENVVAR (the name of an environment variable), got {item!r}")
    return target.strip(), variable.strip()


def _kind_of(field_name: str, options: RunOptions, backends: Mapping[str, Any] | None) -> str:
    """Which backend an unqualified ``--secret-env FIELD=…`` is for: the one that declares it secret."""
    defaults = (backends or {}).get("defaults", {})
    owners = [kind for kind in KINDS
              if field_name in secret_fields((backends or {}).get(kind, []),
                                             getattr(options, kind)["backend"] or defaults.get(kind))]
    if len(owners) != 1:
        which = "both backends declare it" if owners else "no chosen backend declares it as a secret"
        raise BadRequest(f"--secret-env {field_name}=…: {which}; write compute.{field_name}, storage.{field_name} "
                         f"or credentials.ARTIFACT.{field_name}")
    return owners[0]


def upload_options(args: Any, backends: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``artifacts upload``: the storage ``{"backend", "config"}`` and the credentials for the copy."""
    base = config_file(getattr(args, "config", None))
    storage = base["storage"]
    if args.storage:
        if storage["backend"] and storage["backend"] != args.storage:
            storage["config"] = {}
        storage["backend"] = args.storage
    backend = storage["backend"] or (backends or {}).get("defaults", {}).get("storage") or "local"
    storage["backend"] = backend
    schemas = (backends or {}).get("storage", [])
    given = assignments(args.storage_config, "--storage-config", text_fields=text_fields(schemas, backend))
    refuse_secrets_on_command_line(given, secret_fields(schemas, backend), "storage", backend)
    storage["config"].update(given)
    credentials = credentials_file(args.credentials, per_artifact=False)
    for item in args.secret_env or ():
        target, variable = _secret_assignment(item)
        field_name = target.removeprefix("storage.")
        credentials[field_name] = environment_secret(variable, f"storage.{field_name}")
    return storage, credentials
