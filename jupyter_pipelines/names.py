"""Execution names: normalization and the ``_2``, ``_3`` suffix rule."""
from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import BadRequest

UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def normalize(name: str | None, pipeline: str) -> str:
    """Trim, replace characters outside ``[A-Za-z0-9_-]`` with ``_``; blank means ``<pipeline>_execution``.

    Names that try to be paths (``/``, ``\\``, ``..``) are refused rather than rewritten.
    """
    text = (name or "").strip()
    if "/" in text or "\\" in text or "\x00" in text or ".." in text:
        raise BadRequest(f"bad execution name {name!r}: it must not contain '/', '\\\\' or '..'")
    if not text:
        text = f"{pipeline}_execution"
    return UNSAFE.sub("_", text)[:200]


def first_free(base: str, taken: Iterable[str]) -> str:
    """``base`` if free, else ``base_2``, ``base_3``, …"""
    used = set(taken)
    if base not in used:
        return base
    n = 2
    while f"{base}_{n}" in used:
        n += 1
    return f"{base}_{n}"
