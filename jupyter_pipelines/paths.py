"""Where things live: the engine's data dir, its store, its storage root, and the backends' context.

The one module that decides these paths; everything else asks it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

STORE_FILE = "pipelines.db"


def data_dir() -> str:
    """Where the store, logs, exports and default storage live (shared by the server, the CLI and
    embedded mode): ``$JUPYTER_PIPELINES_HOME``, else ``<jupyter data dir>/pipelines``."""
    explicit = os.environ.get("JUPYTER_PIPELINES_HOME")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    from jupyter_core.paths import jupyter_data_dir  # imported when needed: jupyter_core is slow to import

    return os.path.join(jupyter_data_dir(), "pipelines")


def store_path(home: str) -> str:
    return os.path.join(home, STORE_FILE)


def logs_dir(home: str) -> str:
    return os.path.join(home, "logs")


def exports_dir(home: str) -> str:
    return os.path.join(home, "exports")


@dataclass(frozen=True)
class Context:
    """What the engine tells every backend: where its files live and how many workers it may use."""

    data_dir: str
    storage_root: str
    workers: int

    @classmethod
    def at(cls, home: str, storage_root: str | None = None, workers: int = 0) -> Context:
        """The context of an engine whose data dir is ``home`` (storage root default: ``<home>/storage``)."""
        home = os.path.abspath(home)
        return cls(home, os.path.abspath(storage_root or os.path.join(home, "storage")), workers or os.cpu_count() or 1)
