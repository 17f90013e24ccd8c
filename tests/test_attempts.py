"""A re-run never erases the past: every attempt keeps its times, status, exit code and log."""
from __future__ import annotations

import pytest
from job_operations import chatty
from polling import WAIT, wait_until

from jupyter_pipelines import Pipeline, operation
from jupyter_pipelines.errors import Conflict, NotFound


@operation
def flaky(marker: str = ""):
    import os

    print("attempt at", marker)
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("fails the first time")
    return 7


def test_rerun_after_a_failure_keeps_the_failed_attempt_and_its_log(engine, tmp_path) -> None:
    with Pipeline("flaky") as p:
        flaky(marker=str(tmp_path / "marker"))
    ex = p.run(name="flaky", wait=True)
    assert ex.status == "failed"
    first = engine.get("default", "flaky").job("flaky")
    ex.rerun()
    assert ex.wait(WAIT).status == "success"
    job = engine.describe("default", "flaky")["jobs"][0]
    assert [(a["attempt"], a["status"], a["exit_code"]) for a in job["attempts"]] == [(1, "failed", 1),
                                                                                       (2, "success", 0)]
    assert job["attempts"][0]["started"] == first.started and job["attempts"][0]["ended"] == first.ended
    assert "fails the first time" in job["attempts"][0]["error"] and job["attempts"][1]["error"] is None
    assert job["attempts"][0]["duration"] is not None
    first_log = engine.job_log("default", "flaky", "flaky", attempt=1)
    assert "attempt at" in first_log and "RuntimeError: fails the first time" in first_log
    assert "RuntimeError" not in engine.job_log("default", "flaky", "flaky")  # the latest attempt's log
    assert ex.api.log("default", "flaky", "flaky", attempt=1) == first_log
    with pytest.raises(NotFound, match="has no attempt 3"):
        engine.job_log("default", "flaky", "flaky", attempt=3)


def test_rerun_of_a_canceled_execution_keeps_the_earlier_log(engine, tmp_path) -> None:
    with Pipeline("held") as p:
        chatty(release=str(tmp_path / "release"))
    ex = p.run(name="held")
    wait_until(lambda: "hello from the job" in engine.job_log("default", "held", "chatty"), what="the job to print")
    assert ex.cancel().status == "canceled"
    (tmp_path / "release").touch()
    ex.rerun()
    assert ex.wait(WAIT).status == "success"
    job = engine.describe("default", "held")["jobs"][0]
    assert [(a["attempt"], a["status"]) for a in job["attempts"]] == [(1, "canceled"), (2, "success")]
    assert engine.job_log("default", "held", "chatty", attempt=1) == "hello from the job\n"
    assert "released" in engine.job_log("default", "held", "chatty")


def test_a_rerun_with_nothing_to_do_says_so_and_changes_nothing(engine) -> None:
    with Pipeline("fine") as p:
        flaky(marker=__file__)  # the marker exists: succeeds at once
    ex = p.run(name="fine", wait=True)
    before = engine.describe("default", "fine")
    with pytest.raises(Conflict, match="nothing to re-run"):
        ex.rerun()
    after = engine.describe("default", "fine")
    assert (after["started"], after["ended"], after["duration"]) == (before["started"], before["ended"],
                                                                      before["duration"])
    assert after["jobs"][0]["attempts"] == before["jobs"][0]["attempts"]


def test_events_follow_a_rerun_to_its_end_and_end_for_a_finished_execution(engine, tmp_path) -> None:
    """The history of a re-run execution holds an earlier end: following it stops at the current end."""
    from jupyter_pipelines.client import EmbeddedApi

    with Pipeline("flaky-events") as p:
        flaky(marker=str(tmp_path / "marker"))
    ex = p.run(name="events", wait=True)
    assert ex.status == "failed"
    ex.rerun()
    api = EmbeddedApi(engine)
    statuses = [e["data"]["status"] for e in api.events("default", "events") if e["type"] == "execution"]
    assert statuses[-1] == "success" and "failed" in statuses[:-1]  # past the first end, to the current one
    last = engine.events("default", "events")[1][-1].seq
    assert list(api.events("default", "events", after=last)) == []  # finished: nothing more, and it returns
