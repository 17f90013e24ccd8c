"""Files the engine writes: logs are never opened through a symbolic link; the store and logs are private."""
from __future__ import annotations

import os
import stat

import pytest
from job_operations import numbers, plant_link

from jupyter_pipelines import Pipeline
from jupyter_pipelines.engine.manager import read_chunk, read_log
from jupyter_pipelines.errors import Conflict

pytestmark = pytest.mark.timeout(120)


def test_a_symlink_at_a_log_path_fails_the_job_and_is_not_followed(engine, tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    plant_link(engine.log_path("default", "linked", "numbers", 1), outside)
    with Pipeline("linked") as p:
        numbers(n=3)
    ex = p.run(name="linked", wait=True)
    assert ex.status == "failed"
    assert "cannot write the job's log" in ex.jobs["numbers"]["error"]
    assert "symbolic link" in ex.jobs["numbers"]["error"]
    assert outside.read_text() == "precious\n"


def test_a_log_is_never_read_through_a_symlink(engine, tmp_path) -> None:
    with Pipeline("readable") as p:
        numbers(n=3)
    assert p.run(name="readable", wait=True).status == "success"
    log = engine.log_path("default", "readable", "numbers", 1)
    assert read_log(log) == "making 3 numbers\n"
    os.remove(log)
    plant_link(log, tmp_path / "outside.txt")
    with pytest.raises(Conflict, match="replaced by a symbolic link, which is not followed"):  # a 409, not a 500
        engine.job_log("default", "readable", "numbers")
    with pytest.raises(Conflict, match="symbolic link"):
        read_chunk(log, 2)


def test_the_store_and_logs_are_private(make_engine) -> None:
    umask = os.umask(0o022)  # what a default umask would leave readable by all
    try:
        engine = make_engine()
        with Pipeline("private") as p:
            numbers(n=3)
        assert p.run(name="private", wait=True).status == "success"
    finally:
        os.umask(umask)
    db = engine.store.path
    for path in (db, f"{db}-wal", f"{db}-shm", engine.log_path("default", "private", "numbers", 1)):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
