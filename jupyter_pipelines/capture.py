"""Self-contained source for operations defined in notebooks, scripts or modules.

An operation's captured source is what runs in a job process and what an export shows:
the imports, constants and helper functions it uses from its globals, then the function
itself without its decorators.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

from .errors import BadRequest

CONSTANT_TYPES = (type(None), bool, int, float, complex, str, bytes)


class CaptureError(BadRequest):
    """A function uses something that cannot be captured as source."""


def capture_source(func: Callable[..., Any]) -> str:
    """Return source that defines ``func`` (same name) with everything it uses."""
    capture = _Capture()
    capture.add_function(func, decorators=False)
    return capture.render()


def function_source(func: Callable[..., Any], decorators: bool = False) -> str:
    """The dedented source of ``func``, optionally without its decorators."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as error:
        raise CaptureError(f"cannot find the source of {func.__qualname__!r}: {error}") from None
    if decorators:
        return source
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        raise CaptureError(f"{func.__qualname__!r} is not defined by a def statement")
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1 : node.end_lineno]) + "\n"


def _used_globals(func: types.FunctionType, source: str) -> list[str]:
    """Global names that ``source`` loads, in order of first use."""
    local_names = set(func.__code__.co_varnames) | set(func.__code__.co_cellvars)
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
            if name in func.__globals__ and name not in local_names and name not in names:
                names.append(name)
    return names


def _is_constant(value: Any) -> bool:
    if isinstance(value, CONSTANT_TYPES):
        return not isinstance(value, float) or value == value  # NaN does not round-trip
    if isinstance(value, (tuple, list, set, frozenset)):
        return all(_is_constant(item) for item in value)
    if isinstance(value, dict):
        return all(_is_constant(k) and _is_constant(v) for k, v in value.items())
    return False


def _importable_from(value: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` when ``value`` can be re-imported by name."""
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not module_name or not qualname or "<" in qualname or module_name == "__main__":
        return None
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:  # noqa: BLE001 - any failure to import or look it up: it is not importable by name
        return None
    return (module_name, qualname) if found is value else None


class _Capture:
    def __init__(self) -> None:
        self.imports: list[str] = []
        self.constants: list[str] = []
        self.definitions: list[str] = []
        self.seen: set[int] = set()
        self.bound: dict[str, int] = {}

    def render(self) -> str:
        parts = ["\n".join(self.imports), "\n".join(self.constants), *self.definitions]
        return "\n\n".join(part for part in parts if part).rstrip() + "\n"

    def _bind(self, name: str, value: Any, owner: str) -> bool:
        """Record that ``name`` is defined; False if it already is (for this value)."""
        previous = self.bound.get(name)
        if previous is None:
            self.bound[name] = id(value)
            return True
        if previous != id(value):
            raise CaptureError(
                f"{owner!r} uses the global {name!r}, which names two different objects "
                "in the functions it calls; rename one of them"
            )
        return False

    def add_function(self, func: Any, decorators: bool) -> None:
        func = getattr(func, "func", func)  # an Operation wraps its function
        if id(func) in self.seen:
            return
        self.seen.add(id(func))
        if not isinstance(func, types.FunctionType):
            raise CaptureError(f"{func!r} is not a Python function")
        if func.__code__.co_freevars:
            raise CaptureError(
                f"{func.__qualname__!r} uses variables of an enclosing function "
                f"({', '.join(func.__code__.co_freevars)}); define it at the top level"
            )
        source = function_source(func, decorators=decorators)
        for name in _used_globals(func, source):
            self.add_global(name, func.__globals__[name], func.__qualname__)
        self.bound.setdefault(func.__name__, id(func))
        self.definitions.append(source.rstrip())

    def add_global(self, name: str, value: Any, owner: str) -> None:
        if getattr(builtins, name, None) is value:
            return
        if isinstance(value, types.ModuleType):
            if self._bind(name, value, owner):
                module = value.__name__
                self.imports.append(f"import {module}" if module == name else f"import {module} as {name}")
            return
        if _is_constant(value):
            if self._bind(name, value, owner):
                self.constants.append(f"{name} = {value!r}")
            return
        target = getattr(value, "func", value)
        imported = _importable_from(target) if not _defined_interactively(target) else None
        if imported is not None:
            if self._bind(name, value, owner):
                module, qualname = imported
                if "." in qualname:
                    self.imports.append(f"import {module}")
                    self.constants.append(f"{name} = {module}.{qualname}")
                else:
                    alias = "" if qualname == name else f" as {name}"
                    self.imports.append(f"from {module} import {qualname}{alias}")
            return
        if isinstance(target, types.FunctionType):
            if target.__name__ != name:
                raise CaptureError(f"{owner!r} uses {name!r}, an alias of {target.__name__!r}; call it by its name")
            self._bind(name, value, owner)
            self.add_function(target, decorators=not _is_operation(value))
            return
        raise CaptureError(
            f"{owner!r} uses the global {name!r} (a {type(value).__name__}), which cannot be "
            "captured as source; pass it as an attribute or an input, or import it inside the function"
        )


def _defined_interactively(value: Any) -> bool:
    """True for functions defined in a notebook, a script run as __main__, or exec'd code."""
    module = getattr(value, "__module__", None)
    if module in (None, "__main__") or module.startswith("<"):
        return True
    code = getattr(value, "__code__", None)
    return code is not None and "ipykernel" in code.co_filename


#: Set on every ``Operation`` (by ``pipeline``), so capture recognises one without importing the model.
OPERATION_MARK = "__jupyter_pipelines_operation__"


def _is_operation(value: Any) -> bool:
    return getattr(type(value), OPERATION_MARK, False) is True
