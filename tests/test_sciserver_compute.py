"""The ``sciserver-compute`` backend against the loopback SciServer stand-in (Files + RACM jobm)."""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import psutil
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from job_operations import numbers, parity, plant_link, total
from polling import WAIT, wait_until
from sciserver_standin import SciServerStandin, enable_compute  # noqa: E402

from jupyter_pipelines import Pipeline, operation  # noqa: E402
from jupyter_pipelines.compute.sciserver_compute import SciServerCompute  # noqa: E402
from jupyter_pipelines.errors import BadRequest  # noqa: E402

pytestmark = pytest.mark.timeout(180)
VOLUME = "Storage/alice/persistent"


@pytest.fixture(scope="module")
def standin():
    with SciServerStandin() as server:
        enable_compute(server)
        yield server


@pytest.fixture(scope="module")
def token(standin) -> str:
    return standin.issue_token("alice")


@pytest.fixture
def choices(standin, token) -> dict[str, Any]:
    compute = {"backend": "sciserver-compute", "config": {
        "racm_url": standin.url + "/racm", "files_url": standin.files_url, "login_url": standin.login_url,
        "token": token, "token_file": "~/keystone.token", "poll_interval": 0.1}}
    storage = {"backend": "sciserver-files", "config": {
        "volume": f"{VOLUME}/pipelines", "files_url": standin.files_url, "login_url": standin.login_url,
        "token": token}}
    return {"compute": compute, "storage": storage}


# -- operations ------------------------------------------------------------------------------------------


@operation
def talker(seconds: float = 30.0):
    print("first line from the container", flush=True)
    deadline = time.time() + seconds
    while time.time() < deadline and not os.path.exists("release"):
        time.sleep(0.05)
    print("last line")
    return os.getpid()


@operation
def broken(x):
    raise ValueError(f"bad value {len(x)}")


@operation
def forever():
    print(f"pid {os.getpid()}", flush=True)
    time.sleep(300)


# -- tests -----------------------------------------------------------------------------------------------

def test_schema_is_declared() -> None:
    fields = {field["name"]: field for field in SciServerCompute.schema()["fields"]}
    assert {"racm_url", "files_url", "login_url", "token", "username", "password", "domain", "image",
            "volumes", "poll_interval"} <= set(fields)
    assert fields["token"]["secret"] and fields["password"]["secret"]


def test_pipeline_runs_on_sciserver_compute(make_engine, standin, choices, token) -> None:
    engine = make_engine()
    with Pipeline("remote") as p:
        evens, odds = parity(numbers(n=6))
        total(evens, odds)
    ex = p.run(name="remote", wait=True, **choices)
    assert ex.status == "success", ex.jobs
    assert ex.result("total") == 15
    assert ex.result("parity", "odds") == [1, 3, 5]
    assert ex.jobs["total"]["outputs"][0]["preview"] == {"kind": "value", "text": "15"}  # made in the container
    assert "making 6 numbers" in ex.logs("numbers")
    assert engine.get("default", "remote").compute["config"].get("token") is None
    submitted = standin.compute.submitted[-3:]
    assert {body["dockerImageName"] for body in submitted} == {"python-standin"}
    assert all(body["userVolumes"] and body["resultsFolderURI"].startswith("/home/idies/workspace/")
               for body in submitted)
    # the token is in no command and no spec file
    for body in standin.compute.submitted:
        assert token not in json.dumps(body)
    for folder, _, files in os.walk(os.path.join(standin.root, VOLUME)):
        for name in files:
            if name == "spec.json":
                with open(os.path.join(folder, name)) as file:
                    assert token not in file.read()


def test_log_is_streamed_while_running(make_engine, standin, choices) -> None:
    engine = make_engine()
    with Pipeline("talk") as p:
        talker()
    ex = p.run(name="talk", **choices)
    wait_until(lambda: "first line from the container" in engine.job_log("default", "talk", "talker"),
               what="the job's stdout in its log")
    assert engine.get("default", "talk").job("talker").status == "running"
    job = next(job for job in standin.compute.jobs.values() if job["status"] == 8)
    cwd = job["process"].pid and psutil.Process(job["process"].pid).cwd()
    open(os.path.join(cwd, "release"), "w").close()
    assert ex.wait(WAIT).status == "success"
    log = ex.logs("talker")
    assert log.index("first line from the container") < log.index("last line")


def test_failing_operation(make_engine, choices) -> None:
    make_engine()
    with Pipeline("bad") as p:
        data = numbers(n=3)
        broken(data)
    ex = p.run(name="bad", wait=True, **choices)
    assert ex.status == "failed"
    assert ex.jobs["broken"]["status"] == "failed"
    assert ex.jobs["broken"]["error"] == "ValueError: bad value 3"
    assert 'raise ValueError(f"bad value {len(x)}")' in ex.jobs["broken"]["traceback"]
    assert "bad value 3" in ex.logs("broken")


def test_cancel(make_engine, standin, choices) -> None:
    engine = make_engine()
    with Pipeline("stop") as p:
        forever()
    ex = p.run(name="stop", **choices)
    wait_until(lambda: "pid " in engine.job_log("default", "stop", "forever"), what="the job to run")
    pid = int(engine.job_log("default", "stop", "forever").split("pid ")[1].split()[0])
    assert psutil.pid_exists(pid)
    ex.cancel()
    assert ex.wait(WAIT).status == "canceled"
    assert ex.jobs["forever"]["status"] == "canceled"

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, timeout=30, what="the stand-in's job process to end")
    assert any(job["status"] == 128 for job in standin.compute.jobs.values())


def test_storage_it_cannot_reach_is_refused(make_engine, choices) -> None:
    make_engine()
    backend = SciServerCompute(choices["compute"]["config"], None)  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="'memory' storage"):
        backend.check_storage({"protocol": "memory", "options": {}})
    with pytest.raises(BadRequest, match="credentials"):
        backend.check_storage({"protocol": "s3", "options": {"key": "AKIA", "secret": "x"}})
    with Pipeline("local-data") as p:
        numbers(n=2)
    with pytest.raises(BadRequest, match="'file' storage is not reachable"):
        p.run(name="local-data", wait=True, compute=choices["compute"], storage="local")


def test_missing_credentials_are_a_bad_request(make_engine, standin) -> None:
    make_engine()
    with pytest.raises(BadRequest, match="token"):
        SciServerCompute({"racm_url": standin.url + "/racm"}, None)  # type: ignore[arg-type]


def test_a_symlink_at_a_log_path_fails_the_job_and_is_not_followed(make_engine, choices, tmp_path) -> None:
    engine = make_engine()
    outside = tmp_path / "outside.txt"
    plant_link(engine.log_path("default", "linked", "numbers", 1), outside)
    with Pipeline("linked") as p:
        numbers(n=3)  # prints a line
    ex = p.run(name="linked", wait=True, **choices)
    assert ex.status == "failed"
    assert "symbolic link" in ex.jobs["numbers"]["error"]
    assert outside.read_text() == "precious\n"
