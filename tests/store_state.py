"""What an engine has written, read without writing: to check that a refused request changed nothing."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any


def state(home: str | Path) -> dict[str, Any]:
    """Every row of the store at ``home`` (opened read-only) and the files of its exports folder."""
    db = sqlite3.connect(f"file:{Path(home) / 'pipelines.db'}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}
    finally:
        db.close()
    exports = Path(home) / "exports"
    return {"rows": rows, "exports": sorted(os.listdir(exports)) if exports.exists() else []}
