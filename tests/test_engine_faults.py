"""Faults inside the engine: a store that refuses writes, a run that gave up, the watchdog, bad graphs."""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from job_operations import chatty
from polling import WAIT, wait_until

from jupyter_pipelines import Pipeline
from jupyter_pipelines.engine import scheduler
from jupyter_pipelines.errors import BadRequest


class CommitFails:
    """A store connection whose COMMITs fail, as on a full disk, while ``failing`` is set."""

    def __init__(self, db: sqlite3.Connection, switch: dict[str, Any]) -> None:
        self.db = db
        self.switch = switch

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.switch["failing"]:
            self.switch["refused"] += 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


@pytest.fixture
def full_disk(engine, monkeypatch) -> dict[str, Any]:
    """Turn the engine's store into one whose writes fail at COMMIT (``switch["failing"] = True``)."""
    switch = {"failing": False, "refused": 0}
    connection = engine.store._connection
    monkeypatch.setattr(engine.store, "_connection", lambda: CommitFails(connection(), switch))
    return switch


def held(engine, tmp_path, name: str) -> str:
    """Submit a one-job execution that runs until ``tmp_path/release`` exists; returns its name."""
    with Pipeline("held") as p:
        chatty(release=str(tmp_path / "release"))
    record = engine.submit(p, name)
    wait_until(lambda: engine.get("default", record.name).job("chatty").status == "running", what="the job to run")
    return record.name


def test_a_store_write_failing_at_commit_fails_the_execution_with_the_reason(engine, full_disk, tmp_path,
                                                                             caplog) -> None:
    caplog.set_level(logging.ERROR, logger="jupyter_pipelines")
    name = held(engine, tmp_path, "full")
    full_disk["failing"] = True
    (tmp_path / "release").touch()  # the job ends: recording that is refused
    wait_until(lambda: full_disk["refused"] >= 3, what="the run to retry recording its end")
    full_disk["failing"] = False  # space was freed
    record = engine.wait("default", name, timeout=WAIT)
    assert record.status == "failed"
    assert "OperationalError: database or disk is full" in record.error
    assert record.job("chatty").status == "failed"
    failures = [r for r in caplog.records if "the engine failed while running it" in r.getMessage()]
    assert failures and failures[0].exc_info and "database or disk is full" in caplog.text  # with its traceback
    assert engine.store.read("SELECT 1")  # no transaction was left open on the connection


def test_an_execution_whose_run_gave_up_can_be_canceled(engine, full_disk, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(scheduler, "GIVE_UP_SECONDS", 0)
    name = held(engine, tmp_path, "gave-up")
    full_disk["failing"] = True
    (tmp_path / "release").touch()
    wait_until(lambda: not engine.runs, what="the run to give up")
    full_disk["failing"] = False
    assert engine.get("default", name).status == "running"  # nothing drives it now
    record = engine.cancel("default", name)
    assert record.status == "canceled" and record.error == "canceled by the user"


def test_the_watchdog_fails_an_execution_nothing_drives(engine, full_disk, tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(scheduler, "GIVE_UP_SECONDS", 0)
    name = held(engine, tmp_path, "orphan")
    full_disk["failing"] = True
    (tmp_path / "release").touch()
    wait_until(lambda: not engine.runs, what="the run to give up")
    full_disk["failing"] = False
    engine.watchdog.round()
    assert engine.get("default", name).status == "running"  # once could be a run just starting
    engine.watchdog.round()
    record = engine.get("default", name)
    assert record.status == "failed" and "lost track of this execution" in record.error
    assert record.job("chatty").status == "failed"
    assert "left running with nothing running it" in caplog.text


def test_the_watchdog_leaves_healthy_executions_alone(engine, tmp_path) -> None:
    name = held(engine, tmp_path, "healthy")
    for _ in range(3):
        engine.watchdog.round()
    assert engine.get("default", name).status == "running"
    (tmp_path / "release").touch()
    assert engine.wait("default", name, timeout=WAIT).status == "success"


@pytest.mark.parametrize("bad", ["../escape", "a/b", "nul\x00", ".."])
def test_node_ids_and_artifact_names_that_are_paths_are_refused_at_submit(engine, bad: str) -> None:
    with Pipeline("paths") as p:
        chatty()
    data = p.to_dict()
    node = dict(data["nodes"][0], id=bad)
    with pytest.raises(BadRequest, match="bad node id"):
        engine.submit({**data, "nodes": [node]}, "paths")
    output = {"id": "out", "kind": "output", "artifact": bad, "inputs": {"data": {"node": "chatty"}}}
    with pytest.raises(BadRequest, match="bad artifact name"):
        engine.submit({**data, "nodes": [*data["nodes"], output]}, "paths")
    operations = {bad: data["operations"]["chatty"]}
    with pytest.raises(BadRequest, match="bad operation key"):
        engine.submit({**data, "operations": operations, "nodes": [dict(data["nodes"][0], operation=bad)]}, "paths")
    assert engine.executions() == []


def test_old_event_logs_can_be_compacted_keeping_each_final_state(engine) -> None:
    with Pipeline("compact") as p:
        chatty(release=__file__)  # released at once
    name = engine.submit(p, "old").name
    assert engine.wait("default", name, timeout=WAIT).status == "success"
    record, events = engine.events("default", name)
    assert len(events) > 3
    assert engine.compact(older_than_days=1) == 0  # it ended just now: kept whole
    dropped = engine.compact(older_than_days=-1)  # every finished execution counts as old
    assert dropped == len(events) - 1
    _, left = engine.events("default", name)
    assert [(e.type, e.data["status"]) for e in left] == [("execution", "success")]
    assert engine.describe("default", name)["jobs"][0]["status"] == "success"  # the state itself stays
