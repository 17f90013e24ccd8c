"""Configuration fields that backends declare; forms in the widget and the side panel are drawn from them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .errors import BadRequest

CASTS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict}


@dataclass(frozen=True)
class Field:
    """One configuration field: its type, default, allowed choices, and whether it is a secret."""

    name: str
    type: str = "str"
    default: Any = None
    description: str = ""
    choices: tuple[Any, ...] = ()
    secret: bool = False
    required: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "description": self.description,
                "choices": list(self.choices), "secret": self.secret, "required": self.required}

    def parse(self, value: Any, owner: str) -> Any:
        """Convert ``value`` to the field's type, or raise BadRequest naming the field."""
        if value is None or value == "":
            if self.required:
                raise BadRequest(f"missing field {self.name!r} of {owner}")
            return self.default
        cast = CASTS.get(self.type, str)
        try:
            if cast is bool and isinstance(value, str):
                parsed: Any = value.strip().lower() in ("1", "true", "yes", "on")
            elif cast is dict and not isinstance(value, dict):
                raise TypeError("expected an object")
            else:
                parsed = cast(value)
        except (TypeError, ValueError):
            shown = "a value of another type" if self.secret else repr(value)
            raise BadRequest(f"field {self.name!r} of {owner} must be {self.type}, got {shown}") from None
        if self.choices and parsed not in self.choices:
            shown = "another value" if self.secret else repr(parsed)
            raise BadRequest(f"field {self.name!r} of {owner} must be one of {list(self.choices)}, got {shown}")
        return parsed


def parse_config(fields: Iterable[Field], config: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
    """Validate ``config`` against ``fields``: unknown names, missing required values, types, choices."""
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
