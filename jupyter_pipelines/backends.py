"""Backend plug-ins: the base of compute and storage backends, found through entry points."""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, Mapping, TypeVar

from .errors import BadRequest
from .fields import Field, parse_config, public


@dataclass(frozen=True)
class Context:
    """What the engine tells every backend: where its files live and how many workers it may use."""

    data_dir: str
    storage_root: str
    workers: int


class Backend:
    """A configurable plug-in; subclasses declare ``name``, ``title``, ``description`` and ``fields``."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()

    def __init__(self, config: Mapping[str, Any], context: Context) -> None:
        self.config = parse_config(self.fields, config, f"{self.kind} backend {self.name!r}")
        self.context = context

    kind: ClassVar[str] = "backend"

    @property
    def public_config(self) -> dict[str, Any]:
        return public(self.fields, self.config)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {"name": cls.name, "title": cls.title or cls.name, "description": cls.description,
                "fields": [field.to_dict() for field in cls.fields]}


B = TypeVar("B", bound=Backend)


class Registry(Generic[B]):
    """Backends of one kind, by name, loaded from an entry-point group."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._classes: dict[str, type[B]] | None = None

    def classes(self) -> dict[str, type[B]]:
        if self._classes is None:
            found: dict[str, type[B]] = {}
            for entry in sorted(entry_points(group=self.group), key=lambda e: e.name):
                found[entry.name] = entry.load()
            self._classes = found
        return self._classes

    def get(self, name: str) -> type[B]:
        classes = self.classes()
        if name not in classes:
            raise BadRequest(f"unknown {self.kind} backend {name!r}; available: {sorted(classes)}")
        return classes[name]

    def create(self, name: str, config: Mapping[str, Any] | None, context: Context) -> B:
        return self.get(name)(config or {}, context)

    def schemas(self) -> list[dict[str, Any]]:
        return [cls.schema() for cls in self.classes().values()]
