"""Where the dialogs learn an Input artifact's storage backend (to ask for its credentials)."""
from __future__ import annotations

import os
import sqlite3
from typing import Any


def artifact_record(api: Any, project: str, name: str) -> dict[str, Any] | None:
    """The registered artifact's record (``backend``, public ``config``, …), or None when unknown.

    In order: ``api.artifact(project, name)`` when the API offers it; the embedded engine's store;
    else (server mode on this machine) the store of :func:`jupyter_pipelines.client.data_dir`,
    opened read-only. Only public configuration is stored there: no secret can come from it.
    """
    lookup = getattr(api, "artifact", None)
    try:
        if callable(lookup):
            return dict(lookup(project, name))
        manager = getattr(api, "manager", None)
        if manager is not None:
            return manager.store.artifact(project, name).to_dict()
        return _from_local_store(project, name)
    except Exception:  # noqa: BLE001 - unknown here: no credentials group; Run/Export report the problem
        return None


def _from_local_store(project: str, name: str) -> dict[str, Any] | None:
    from ..client import data_dir
    from ..store.models import ArtifactRecord

    path = os.path.join(data_dir(), "pipelines.db")
    if not os.path.isfile(path):
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM artifacts WHERE project = ? AND name = ?", (project, name)).fetchall()
    finally:
        db.close()
    return ArtifactRecord.from_row(rows[0]).to_dict() if rows else None
