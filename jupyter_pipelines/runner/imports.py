"""The modules an operation imports, read from its source: what the fork server warms for its jobs.

``modules_of(source)`` finds every absolute ``import a.b`` and ``from a.b import c`` anywhere in
the source — at module level and inside function bodies (``from sklearn.svm import SVC`` within
the operation) — without running anything. ``from a.b import c`` gives ``a.b`` and ``a.b.c``
(``c`` may be a submodule: the fork server finds out which, cheaply). Relative imports and
``__future__`` are left out. A source that does not parse gives nothing (the job will say why).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: A dotted module name, as the fork server accepts it.
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def modules_of(source: str | None) -> list[str]:
    """The absolute modules ``source`` imports, in order of first appearance, without repeats."""
    if not source:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.name] = None
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module and node.module != "__future__":
            found[node.module] = None
            for alias in node.names:
                if alias.name != "*":
                    found[f"{node.module}.{alias.name}"] = None
    return [name for name in found if MODULE_NAME.match(name)]


#: fsspec protocols whose filesystem lives outside fsspec, and the module that provides it (used
#: when fsspec's own registry cannot be asked).
_PROTOCOL_MODULES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "az": "adlfs"}


def filesystem_modules(protocols: Iterable[str | None]) -> list[str]:
    """The modules that implement these fsspec protocols (``s3`` → ``s3fs``), those of fsspec itself left out."""
    try:
        from fsspec.registry import known_implementations  # fsspec is the runner's only dependency; loaded when needed
    except ImportError:  # pragma: no cover - fsspec is a dependency
        known_implementations = {}
    found: dict[str, None] = {}
    for protocol in protocols:
        if not protocol:
            continue
        entry = known_implementations.get(protocol) or {}
        module = str(entry.get("class", "")).rpartition(".")[0] or _PROTOCOL_MODULES.get(protocol, "")
        if module and not module.startswith("fsspec.") and MODULE_NAME.match(module):
            found[module] = None
    return list(found)


class JobImports:
    """The modules a job imports — its operation's and its filesystems' — worked out once per
    source and pair of protocols (the same operation runs many times)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str | None, str | None], list[str]] = {}

    def __call__(self, spec: Mapping[str, Any]) -> list[str]:
        protocols = ((spec.get("storage") or {}).get("protocol"), (spec.get("artifact") or {}).get("protocol"))
        key = (spec.get("source") or "", *protocols)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = [*filesystem_modules(protocols), *modules_of(spec.get("source"))]
        return found
