"""Configuration fields that backends declare; forms in the widget and the side panel are drawn from them."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest

TYPES = ("str", "int", "float", "bool", "dict")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Field:
    """One configuration field: its type, default, allowed choices or range, and whether it is a secret."""

    name: str
    type: str = "str"
    default: Any = None
    description: str = ""
    choices: tuple[Any, ...] = ()
    secret: bool = False
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "description": self.description,
                "choices": list(self.choices), "secret": self.secret, "required": self.required,
                "minimum": self.minimum, "maximum": self.maximum}

    def schema(self, credential: bool) -> dict[str, Any]:
        """What forms draw: ``to_dict`` and whether the field is part of an account's credentials."""
        return {**self.to_dict(), "credential": credential}

    def parse(self, value: Any, owner: str) -> Any:
        """``value`` as the field's type, or BadRequest naming the field.

        Strict: text is accepted for numbers and flags (forms and command lines send text) only when
        it reads as one; nothing is silently turned into something else.
        """
        if value is None or value == "":
            if self.required:
                raise BadRequest(f"missing field {self.name!r} of {owner}")
            return self.default
        parsed = self._convert(value)
        shown = "another value" if self.secret else repr(value)
        if parsed is None:
            raise BadRequest(f"field {self.name!r} of {owner} must be {self.type}, got {shown}")
        if self.choices and parsed not in self.choices:
            raise BadRequest(f"field {self.name!r} of {owner} must be one of {list(self.choices)}, got {shown}")
        if self.minimum is not None and parsed < self.minimum:
            raise BadRequest(f"field {self.name!r} of {owner} must be at least {self.minimum:g}, got {shown}")
        if self.maximum is not None and parsed > self.maximum:
            raise BadRequest(f"field {self.name!r} of {owner} must be at most {self.maximum:g}, got {shown}")
        return parsed

    def _convert(self, value: Any) -> Any:
        """The value in the field's type, or None when it is not one."""
        kind = self.type
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = value.strip().lower() if isinstance(value, str) else None
            return True if text in TRUE else False if text in FALSE else None
        if kind in ("int", "float"):
            if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
                value = float(value) if kind == "float" or not value.strip().lstrip("+-").isdigit() else int(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            if kind == "int":
                return int(value) if float(value).is_integer() else None
            return float(value) if math.isfinite(value) else None
        if kind == "dict":
            return dict(value) if isinstance(value, dict) else None
        return value if isinstance(value, str) else None


def parse_config(fields: Iterable[Field], config: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
    """Validate ``config`` against ``fields``: unknown names, missing required values, types, choices."""
    if config is not None and not isinstance(config, Mapping):
        raise BadRequest(f"the configuration of {owner} must be an object, got {type(config).__name__}")
    config = dict(config or {})
    known = {field.name: field for field in fields}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown} for {owner}; known: {sorted(known)}")
    return {name: field.parse(config.get(name), owner) for name, field in known.items()}


def public(fields: Iterable[Field], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without its secret fields: what may be stored, logged or returned."""
    secret = {field.name for field in fields if field.secret}
    return {name: value for name, value in config.items() if name not in secret}


def has_secrets(fields: Iterable[Field], config: Mapping[str, Any]) -> bool:
    return any(field.secret and config.get(field.name) not in (None, "") for field in fields)
