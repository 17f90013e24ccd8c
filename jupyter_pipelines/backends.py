"""Backend plug-ins: the base of compute and storage backends, found through entry points."""
from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Generic, TypeVar

from .errors import BadRequest
from .fields import Field, parse_config, public
from .paths import Context
from .runner.secrets import is_credential


class Backend:
    """A configurable plug-in; subclasses declare ``name``, ``title``, ``description`` and ``fields``.

    ``requires`` names the modules it cannot work without and ``install`` how to get them: a
    backend whose modules are missing is listed as unavailable, with the reason and the command.
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    install: ClassVar[str] = ""
    kind: ClassVar[str] = "backend"

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        self.config = parse_config(self.fields, config, f"{self.kind} backend {self.name!r}")
        self.context = context

    @property
    def public_config(self) -> dict[str, Any]:
        return public(self.fields, self.config)

    @classmethod
    def missing(cls) -> list[str]:
        """The required modules that cannot be imported here."""
        return [module for module in cls.requires if not _importable(module)]

    @classmethod
    def schema(cls) -> dict[str, Any]:
        missing = cls.missing()
        return {"name": cls.name, "title": cls.title or cls.name, "description": cls.description,
                "fields": [field.schema(is_credential(field.name, field.secret)) for field in cls.fields],
                "available": not missing,
                "reason": f"needs {', '.join(missing)}, which is not installed" if missing else None,
                "install": cls.install if missing else None}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or the module was blocked
        return False


B = TypeVar("B", bound=Backend)


class Registry(Generic[B]):
    """Backends of one kind, by name, from an entry-point group; each plug-in is loaded when first
    needed, and one that fails to load is listed as unavailable with its error instead of breaking
    the others."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._entries: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, type[B]] = {}
        self._broken: dict[str, str] = {}

    def names(self) -> list[str]:
        if self._entries is None:
            self._entries = {entry.name: entry for entry in entry_points(group=self.group)}
        return sorted(self._entries)

    def refresh(self) -> None:
        """Forget what was found and loaded (plug-ins installed since are found at the next use)."""
        self._entries, self._loaded, self._broken = None, {}, {}

    def _load(self, name: str) -> type[B] | None:
        if name not in self._loaded and name not in self._broken:
            self.names()
            assert self._entries is not None
            try:
                self._loaded[name] = self._entries[name].load()
            except Exception as error:  # noqa: BLE001 - a broken plug-in must not break the others
                self._broken[name] = f"the plug-in failed to load: {type(error).__name__}: {error}"
        return self._loaded.get(name)

    def get(self, name: str) -> type[B]:
        """The class of an available backend; BadRequest naming the problem otherwise."""
        if name not in self.names():
            raise BadRequest(f"unknown {self.kind} backend {name!r}; available: {self.names()}")
        cls = self._load(name)
        if cls is None:
            raise BadRequest(f"{self.kind} backend {name!r} is unavailable: {self._broken[name]}")
        missing = cls.missing()
        if missing:
            hint = f"; install it with: {cls.install}" if cls.install else ""
            raise BadRequest(f"{self.kind} backend {name!r} is unavailable: it needs {', '.join(missing)}, "
                             f"which is not installed{hint}")
        return cls

    def create(self, name: str, config: Mapping[str, Any] | None, context: Context) -> B:
        return self.get(name)(config or {}, context)

    def schemas(self) -> list[dict[str, Any]]:
        schemas = []
        for name in self.names():
            cls = self._load(name)
            if cls is None:
                schemas.append({"name": name, "title": name, "description": "", "fields": [], "available": False,
                                "reason": self._broken[name], "install": None})
            else:
                schemas.append(cls.schema())
        return schemas
