"""Every route of /pipelines/api through a real Jupyter server (pytest-jupyter), auth on."""
from __future__ import annotations

import asyncio
import glob
import json
import os
import time

import pytest
import server_pipelines as pipelines
from server_pipelines import SECRET

from jupyter_pipelines.runner import serialize
from jupyter_pipelines.store import ArtifactRecord
from jupyter_pipelines.store.models import now

pytestmark = pytest.mark.timeout(120)


async def wait_final(api, name: str, project: str = "default", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, data = await api("GET", f"executions/{name}", project=project)
        assert status == 200, data
        if data["status"] in ("success", "failed", "canceled"):
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {data}")


async def wait_job(api, name: str, op: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, data = await api("GET", f"executions/{name}")
        if {job["op"]: job["status"] for job in data["jobs"]}[op] == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{op} of {name} never became {status}")


def execution_count(manager) -> int:
    return len(manager.store.executions())


ROUTES = [
    ("GET", "backends"), ("GET", "executions"), ("POST", "executions"), ("GET", "executions/x"),
    ("DELETE", "executions/x"), ("POST", "executions/x/cancel"), ("POST", "executions/x/rerun"),
    ("GET", "executions/x/events"), ("GET", "executions/x/jobs/y/log"), ("GET", "tags"), ("GET", "tags/a/diff/b"),
    ("GET", "artifacts"), ("POST", "artifacts"), ("GET", "artifacts/x"), ("POST", "exports"),
    ("GET", "exports/0123456789abcdef0123456789abcdef"), ("GET", "settings/p"), ("PUT", "settings/p"),
    ("GET", "executions/x/jobs/y/figures/0"),
]


@pytest.mark.parametrize("method,path", ROUTES)
async def test_every_route_refuses_requests_without_the_token(api, method, path):
    status, _ = await api(method, path, headers={"Authorization": ""}, body="{}" if method in ("POST", "PUT") else None)
    assert status == 403


async def test_backends_lists_fields_with_secret_flags(api):
    status, data = await api("GET", "backends")
    assert status == 200
    storage = {backend["name"]: backend for backend in data["storage"]}
    assert {"local", "memory", "s3", "fsspec", "sciserver-files"} <= set(storage)
    s3_fields = {field["name"]: field for field in storage["s3"]["fields"]}
    assert s3_fields["secret"]["secret"] is True and s3_fields["bucket"]["required"] is True
    assert "local" in {backend["name"] for backend in data["compute"]}


async def test_submit_run_inspect(api):
    status, created = await api("POST", "executions", {"pipeline": pipelines.simple(5), "name": "first"})
    assert status == 201, created
    assert created["name"] == "first" and created["tag"] == "first"
    done = await wait_final(api, "first")
    assert done["status"] == "success"
    assert [job["status"] for job in done["jobs"]] == ["success"] * 3
    status, text = await api("GET", "executions/first/jobs/total/log")
    assert status == 200 and "total of [0, 1, 2, 3, 4]" in text
    status, listing = await api("GET", "executions", status="success")
    assert [e["name"] for e in listing["executions"]] == ["first"]
    status, listing = await api("GET", "executions", pipeline="other")
    assert listing["executions"] == []
    _, second = await api("POST", "executions", {"pipeline": pipelines.simple(5), "name": "first"})
    assert second["name"] == "first_2"


async def test_events_stream_and_resume_with_last_event_id(api, jp_fetch):
    _, created = await api("POST", "executions", {"pipeline": pipelines.simple(), "name": "streamed"})
    await wait_final(api, created["name"])
    response = await jp_fetch("pipelines", "api", "executions", "streamed", "events")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    blocks = [b for b in response.body.decode().split("\n\n") if b.startswith("id:")]
    ids = [int(b.split("\n")[0][4:]) for b in blocks]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and len(ids) > 5
    assert '"status": "success"' in blocks[-1]
    middle = ids[len(ids) // 2]
    resumed = await jp_fetch("pipelines", "api", "executions", "streamed", "events",
                             headers={"Last-Event-ID": str(middle)})
    again = [int(b.split("\n")[0][4:]) for b in resumed.body.decode().split("\n\n") if b.startswith("id:")]
    assert again == [i for i in ids if i > middle]


@pytest.mark.parametrize("body,needle,status", [
    ("{not json", "malformed JSON", 400),
    ({"name": "x"}, "missing field 'pipeline'", 400),
    ({"pipeline": pipelines.simple(), "compute": {"backend": "nope"}}, "unknown compute backend 'nope'", 400),
    ({"pipeline": pipelines.simple(), "storage": {"backend": "s3", "config": {}}}, "missing field 'bucket'", 400),
    ({"pipeline": pipelines.simple(), "name": "../escape"}, "bad execution name", 400),
    ({"pipeline": pipelines.simple(), "name": "a/b"}, "bad execution name", 400),
])
async def test_bad_submissions_name_the_problem_and_leave_nothing(api, manager, body, needle, status):
    code, data = await api("POST", "executions", body)
    assert code == status and needle in data["message"], data
    assert execution_count(manager) == 0
    assert manager.store.tags() == []


async def test_cycle_and_unknown_input_in_pipeline_json(api, manager):
    pipeline = pipelines.simple()
    pipeline["nodes"][0]["inputs"] = {}
    produce = next(n for n in pipeline["nodes"] if n["id"] == "produce")
    total = next(n for n in pipeline["nodes"] if n["id"] == "total")
    cyclic = json.loads(json.dumps(pipeline))
    cyclic_operations = cyclic["operations"]
    cyclic_operations["produce"]["inputs"] = ["values"]
    next(n for n in cyclic["nodes"] if n["id"] == "produce")["inputs"] = {"values": {"node": "total", "output": "output"}}
    code, data = await api("POST", "executions", {"pipeline": cyclic})
    assert code == 400 and "cycle" in data["message"] and "produce" in data["message"]
    unknown = json.loads(json.dumps(pipeline))
    next(n for n in unknown["nodes"] if n["id"] == "total")["inputs"] = {"values": {"node": "ghost", "output": "output"}}
    code, data = await api("POST", "executions", {"pipeline": unknown})
    assert code == 400 and "unknown node 'ghost'" in data["message"]
    assert produce and total and execution_count(manager) == 0


async def test_unknown_execution_is_404(api):
    for method, path in [("GET", "executions/ghost"), ("POST", "executions/ghost/cancel"),
                         ("POST", "executions/ghost/rerun"), ("DELETE", "executions/ghost"),
                         ("GET", "executions/ghost/jobs/x/log"), ("GET", "executions/ghost/events")]:
        code, data = await api(method, path)
        assert code == 404 and "ghost" in data["message"], (method, path, data)


async def test_rerun_rules(api):
    await api("POST", "executions", {"pipeline": pipelines.simple(), "name": "plain"})
    await wait_final(api, "plain")
    edited = "def total(values):\n    return -sum(values)\n"
    code, data = await api("POST", "executions/plain/rerun", {"operations": {"total": edited}})
    assert code == 409 and "debug" in data["message"]
    code, data = await api("POST", "executions/plain/rerun", {})
    assert code == 409 and "nothing to re-run" in data["message"]  # it succeeded, nothing was edited
    await api("POST", "executions", {"pipeline": pipelines.simple(), "name": "dbg", "debug": True})
    await wait_final(api, "dbg")
    code, data = await api("POST", "executions/dbg/rerun", {"operations": {"total": edited}})
    assert code == 200, data
    done = await wait_final(api, "dbg")
    jobs = {job["op"]: job for job in done["jobs"]}
    assert jobs["produce"]["attempt"] == 1 and jobs["total"]["attempt"] == 2
    code, tags = await api("GET", "tags")
    assert {"plain", "dbg"} <= {tag["name"] for tag in tags["tags"]}
    code, diff = await api("GET", "tags/plain/diff/dbg")
    assert code == 200 and [c["node"] for c in diff["operations"]["changed"]] == ["total"]


async def test_cancel_and_delete(api, manager):
    await api("POST", "executions", {"pipeline": pipelines.slow_pipeline(), "name": "long"})
    await wait_job(api, "long", "slow", "running")
    code, data = await api("POST", "executions/long/cancel")
    assert code == 200
    done = await wait_final(api, "long")
    assert done["status"] == "canceled"
    assert {job["op"]: job["status"] for job in done["jobs"]} == {"produce": "success", "slow": "canceled"}
    code, _ = await api("DELETE", "executions/long")
    assert code == 204
    code, _ = await api("GET", "executions/long")
    assert code == 404
    assert manager.store.tags() == []


async def test_failure_is_reported(api):
    await api("POST", "executions", {"pipeline": pipelines.failing(), "name": "bad"})
    done = await wait_final(api, "bad")
    jobs = {job["op"]: job for job in done["jobs"]}
    assert done["status"] == "failed" and "fails on purpose" in done["error"]
    assert jobs["fail"]["status"] == "failed" and "ValueError" in jobs["fail"]["traceback"]
    assert jobs["total"]["status"] == "skipped"


async def test_settings_drop_secrets(api):
    body = {"debug": True, "storage": {"backend": "s3", "config": {"bucket": "b", "secret": SECRET}}}
    code, saved = await api("PUT", "settings/simple", body)
    assert code == 200 and SECRET not in json.dumps(saved)
    code, loaded = await api("GET", "settings/simple")
    assert loaded["storage"]["config"] == {"bucket": "b"} and loaded["debug"] is True
    code, data = await api("PUT", "settings/simple", {"storage": {"backend": "nope"}})
    assert code == 400 and "nope" in data["message"]


async def test_secrets_never_reach_store_logs_responses_or_events(api, manager, jp_fetch, jp_serverapp, tmp_path):
    raw = tmp_path / "raw.pkl"
    with open(raw, "wb") as file:
        serialize.dump(b"0123456789", file)
    manager.store.save_artifact(ArtifactRecord(
        project="default", name="raw", backend="fsspec", config={"url": f"file://{tmp_path}", "options": {}},
        path=str(raw), type="bytes", size=raw.stat().st_size, created=now()))
    emitted = []

    async def listen(logger, schema_id, data):
        emitted.append(json.dumps(data))

    jp_serverapp.event_logger.add_listener(
        schema_id="https://events.jupyter.org/jupyter_pipelines/execution/v1", listener=listen)
    body = {"pipeline": pipelines.with_input("raw"), "name": "secretive",
            "storage": {"backend": "fsspec", "config": {"url": f"file://{tmp_path}/data",
                                                         "secret_options": {"password": SECRET}}},
            "credentials": {"raw": {"secret_options": {"token": SECRET}}}}
    responses = []
    code, created = await api("POST", "executions", body)
    responses.append(json.dumps(created))
    assert code == 201, created
    done = await wait_final(api, "secretive")
    assert done["status"] == "success", (done["error"], [(job["op"], job["error"]) for job in done["jobs"]])
    for method, path in [("GET", "executions"), ("GET", "executions/secretive"), ("GET", "tags"), ("GET", "artifacts"),
                         ("GET", "settings/reader"), ("GET", "executions/secretive/jobs/read_raw/log")]:
        responses.append(json.dumps((await api(method, path))[1]))
    events = (await jp_fetch("pipelines", "api", "executions", "secretive", "events")).body.decode()
    await asyncio.sleep(0.2)
    assert emitted, "status changes go out on the jupyter_events bus"
    stored = b"".join(open(path, "rb").read() for path in glob.glob(f"{manager.data_dir}/**/*", recursive=True)
                      if os.path.isfile(path))
    for place, text in [("responses", "".join(responses)), ("events", events), ("bus", "".join(emitted)),
                        ("store and logs", stored.decode("latin-1"))]:
        assert SECRET not in text, place


async def test_a_slow_engine_call_does_not_stall_other_requests(api, manager, monkeypatch):
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = manager.submit

    def slow_submit(*args, **kwargs):
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(manager, "submit", slow_submit)
    submit = asyncio.ensure_future(api("POST", "executions", {"pipeline": pipelines.simple(), "name": "held"}))
    await asyncio.sleep(0.2)
    code, _ = await api("GET", "executions")
    assert code == 200 and not submit.done(), "GET answered while a submission is still blocked in the engine"
    release.set()
    code, created = await submit
    assert code == 201 and created["name"] == "held"


async def test_export_download_and_crafted_ids(api, jp_fetch):
    await api("POST", "executions", {"pipeline": pipelines.simple(), "name": "to-zip"})
    await wait_final(api, "to-zip")
    code, made = await api("POST", "exports", {"project": "default", "execution": "to-zip"})
    assert code == 201, made
    response = await jp_fetch(*made["url"].split("/"))
    assert response.headers["Content-Disposition"] == 'attachment; filename="simple.zip"'
    import io
    import zipfile

    assert "main.py" in zipfile.ZipFile(io.BytesIO(response.body)).namelist()
    for crafted in ("..%2F..%2Fpipelines.db", "0123456789abcdef0123456789abcdeg", made["id"] + "x"):
        code, _ = await api("GET", f"exports/{crafted}")
        assert code == 404, crafted
    code, data = await api("POST", "exports", {"execution": "ghost"})
    assert code == 404 and "ghost" in data["message"]
    code, data = await api("POST", "exports", {})
    assert code == 400


async def test_executions_of_other_processes_on_the_store_reach_the_event_bus(api, jp_serverapp, server_home):
    """The CLI or a script with an embedded engine writes to the same store: the side panel hears of it
    (the bus) without a refresh, and the API lists it."""
    import subprocess
    import sys

    emitted: list[dict] = []

    async def listen(logger, schema_id, data):
        emitted.append(data)

    jp_serverapp.event_logger.add_listener(
        schema_id="https://events.jupyter.org/jupyter_pipelines/execution/v1", listener=listen)
    script = ("import json, sys\nfrom jupyter_pipelines.engine import ExecutionManager\n"
              "from jupyter_pipelines.pipeline import Pipeline\n"
              "manager = ExecutionManager(sys.argv[1])\n"
              "record = manager.submit(Pipeline.from_dict(json.loads(sys.argv[2])), 'from-elsewhere')\n"
              "print(manager.wait(record.project, record.name, timeout=60).status)\nmanager.close()\n")
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(server_home),
                                                   json.dumps(pipelines.simple()), stdout=subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert out.decode().strip() == "success"
    deadline = time.monotonic() + 30
    while not any(e["execution"] == "from-elsewhere" and e["status"] == "success" for e in emitted):
        assert time.monotonic() < deadline, emitted
        await asyncio.sleep(0.05)
    code, listed = await api("GET", "executions")
    assert code == 200 and [e["name"] for e in listed["executions"]] == ["from-elsewhere"]


async def test_an_export_holding_credentials_lives_for_one_download_and_every_export_expires(api, jp_fetch, manager,
                                                                                              tmp_path):
    raw = tmp_path / "raw.pkl"
    with open(raw, "wb") as file:
        serialize.dump(b"0123456789", file)
    manager.store.save_artifact(ArtifactRecord(
        project="default", name="raw", backend="fsspec", config={"url": f"file://{tmp_path}", "options": {}},
        path=str(raw), type="bytes", size=raw.stat().st_size, created=now()))
    code, made = await api("POST", "exports", {"pipeline": pipelines.with_input("raw"),
                                               "embed_credentials": {"raw": {"secret_options": {"token": SECRET}}}})
    assert code == 201, made
    first = await jp_fetch(*made["url"].split("/"))
    assert first.body[:2] == b"PK"
    code, _ = await api("GET", f"exports/{made['id']}")
    assert code == 404  # deleted once downloaded: the credentials are not left on the server
    code, plain = await api("POST", "exports", {"pipeline": pipelines.simple()})
    assert code == 201
    for _ in range(2):  # no credentials: downloadable again…
        assert (await jp_fetch(*plain["url"].split("/"))).body[:2] == b"PK"
    manager.exports.ttl = 0
    manager.exports.expire()
    code, _ = await api("GET", f"exports/{plain['id']}")
    assert code == 404  # …until it expires
    assert os.listdir(os.path.join(manager.data_dir, "exports")) == []
