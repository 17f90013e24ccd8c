"""Checks of what callers hand the engine (REST bodies, the kernel's API, the CLI): types and sizes.

Every problem is a :class:`~jupyter_pipelines.errors.BadRequest` (400) or :class:`TooLarge` (413)
whose message names the field, raised before anything is written.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest, PipelinesError
from ..pipeline import Pipeline

MAX_BODY_BYTES = 16 << 20  # a REST request body
MAX_SOURCE_CHARS = 1 << 20  # one operation's source
MAX_ATTRIBUTE_BYTES = 256 << 10  # one attribute value, as JSON
MAX_NODES = 5000
MAX_TEXT = 200  # names


class TooLarge(PipelinesError):
    """Something is larger than the engine accepts."""

    status = 413


def text(value: Any, label: str, *, default: str = "", limit: int = MAX_TEXT) -> str:
    """A string field (``None`` is ``default``)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"field {label!r} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise TooLarge(f"field {label!r} is longer than {limit} characters")
    return value


def flag(value: Any, label: str) -> bool:
    """A true/false field (``None`` is false); no other type is read as one."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"field {label!r} must be true or false, got {json.dumps(value)[:40]}")
    return value


def obj(value: Any, label: str) -> dict[str, Any]:
    """A JSON object with string keys (``None`` is empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise BadRequest(f"field {label!r} must be an object, got {type(value).__name__}")
    return dict(value)


def integer(value: Any, label: str, *, default: int = 0, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer, also from the text of a query argument or header."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{label} must be an integer, got {str(value)[:40]!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadRequest(f"{label} must be {bound}, got {value}")
    return value


def backend_choice(value: Any, label: str) -> dict[str, Any]:
    """``{"backend": name or None, "config": {...}}``; a bare name is the backend with no config."""
    if isinstance(value, str):
        value = {"backend": value}
    choice = obj(value, label)
    unknown = sorted(set(choice) - {"backend", "config"})
    if unknown:
        raise BadRequest(f"field {label!r} takes 'backend' and 'config', not {unknown}")
    return {"backend": text(choice.get("backend"), f"{label}.backend") or None,
            "config": obj(choice.get("config"), f"{label}.config")}


def credentials(value: Any, label: str = "credentials") -> dict[str, dict[str, Any]]:
    """``{artifact: {field: value}}``."""
    return {name: obj(fields, f"{label}.{name}") for name, fields in obj(value, label).items()}


def params(value: Any) -> dict[str, Any]:
    """Attribute overrides ``{"op.attr": value}``."""
    overrides = obj(value, "params")
    for key in overrides:
        node, dot, attribute = key.partition(".")
        if not (node and dot and attribute):
            raise BadRequest(f"parameter {key!r} must be written 'operation.attribute'")
    return overrides


def names(value: Any, label: str) -> list[str]:
    """A list of strings."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"field {label!r} must be a list of names")
    return list(value)


def sources(value: Any, label: str = "operations") -> dict[str, str]:
    """``{operation: source}`` edits, each a bounded text."""
    edits = obj(value, label)
    for key, source in edits.items():
        if source is None:
            raise BadRequest(f"field '{label}.{key}' must be a string, got NoneType")
        edits[key] = text(source, f"{label}.{key}", limit=MAX_SOURCE_CHARS)
    return edits


def pipeline_sizes(pipeline: Pipeline) -> None:
    """Refuse pipelines larger than the engine accepts (413)."""
    if len(pipeline.nodes) > MAX_NODES:
        raise TooLarge(f"pipeline {pipeline.name!r} has {len(pipeline.nodes)} nodes; at most {MAX_NODES} are accepted")
    for key, definition in pipeline.operations.items():
        if len(definition.source) > MAX_SOURCE_CHARS:
            raise TooLarge(f"the source of operation {key!r} is longer than {MAX_SOURCE_CHARS} characters")
    for node in pipeline.nodes.values():
        for name, value in node.attributes.items():
            if len(json.dumps(value)) > MAX_ATTRIBUTE_BYTES:
                raise TooLarge(f"attribute {name!r} of {node.id!r} is larger than {MAX_ATTRIBUTE_BYTES} bytes as JSON")


def pipeline_of(value: Any) -> Pipeline:
    """A validated pipeline from a :class:`Pipeline` or its JSON object."""
    if isinstance(value, Pipeline):
        value.validate()
        pipeline = value
    elif isinstance(value, Mapping):
        pipeline = Pipeline.from_dict(value)
    else:
        raise BadRequest("missing field 'pipeline' (the pipeline's JSON object)")
    pipeline_sizes(pipeline)
    return pipeline
