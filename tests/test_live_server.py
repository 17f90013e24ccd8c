"""A real `jupyter server` process: a kernel it started finds it, and executions survive SIGKILL."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import requests
from jupyter_client import BlockingKernelClient
from live_server import Server

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path)
    running.start()
    yield running
    running.stop()
    print((tmp_path / "server.log").read_text()[-20000:])  # shown when the test failed


NOTEBOOK_CELLS = [
    "import numpy as np\nfrom jupyter_pipelines import Pipeline, operation",
    "def scale(values):\n    return [2 * v for v in values]",
    "@operation\ndef make(n: int = 4):\n    import os\n    return {'pid': os.getpid(), 'values': scale(np.arange(n).tolist())}",
    "with Pipeline('from_kernel') as p:\n    make(n=5)\nex = p.run(name='kernel-run', wait=True)\n"
    "import os, json\nprint(json.dumps({'api': type(ex.api).__name__, 'status': ex.status, 'kernel': os.getpid(), "
    "'result': ex.result('make'), 'events': sum(1 for _ in ex.events())}))",
]


def test_a_kernel_started_by_the_server_finds_it_and_runs_there(server):
    kernel = server.session.post(server.url + "api/kernels", json={"name": "python3"}, timeout=30).json()
    connection = Path(server.env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kernel['id']}.json"
    deadline = time.monotonic() + 30
    while not connection.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    client = BlockingKernelClient()
    client.load_connection_file(str(connection))
    client.start_channels()
    try:
        client.kernel_info()
        client.get_shell_msg(timeout=60)
        printed: list[str] = []
        for cell in NOTEBOOK_CELLS:
            reply = client.execute_interactive(cell, timeout=120, output_hook=lambda msg: printed.append(
                msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        print("kernel printed:", "".join(printed))
    outcome = json.loads([line for line in "".join(printed).splitlines() if line.startswith("{")][-1])
    assert outcome["api"] == "RemoteApi" and outcome["status"] == "success"
    assert outcome["result"]["values"] == [0, 2, 4, 6, 8] and outcome["result"]["pid"] != outcome["kernel"]
    assert outcome["events"] >= 4
    listed = server.api("GET", "executions")["executions"]
    assert [e["name"] for e in listed] == ["kernel-run"]


def slow_pipeline() -> dict:
    sys.path.insert(0, str(Path(__file__).parent / "server"))
    from server_pipelines import slow_pipeline as build

    return build(seconds=4)


def read_events(server: Server, name: str, after: int) -> list[tuple[int, str, dict]]:
    """Events after ``after`` until the execution ends."""
    events = []
    headers = {"Last-Event-ID": str(after)} if after else {}
    with server.session.get(server.url + f"pipelines/api/executions/{name}/events", headers=headers, stream=True,
                            timeout=120) as response:
        current: dict[str, str] = {}
        for line in response.iter_lines(decode_unicode=True):
            if line:
                key, _, value = line.partition(": ")
                current[key] = value
                continue
            if "id" in current:
                events.append((int(current["id"]), current["event"], json.loads(current["data"])))
            current = {}
    return events


def test_executions_survive_sigkill_of_the_server(server):
    server.api("POST", "executions", json={"pipeline": slow_pipeline(), "name": "survivor"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = {job["op"]: job for job in server.api("GET", "executions/survivor")["jobs"]}
        if jobs["slow"]["status"] == "running":
            break
        time.sleep(0.1)
    assert jobs["slow"]["status"] == "running"
    seen = server.session.get(server.url + "pipelines/api/executions/survivor/events", stream=True, timeout=10)
    last_id = 0
    for line in seen.iter_lines(decode_unicode=True):
        if line.startswith("id: "):
            last_id = int(line[4:])
        if line.startswith("data: ") and json.loads(line[6:]).get("op") == "slow" and '"running"' in line:
            break
    seen.close()
    server.kill()
    server.start()
    rest = read_events(server, "survivor", last_id)
    ids = [seq for seq, _, _ in rest]
    assert ids == sorted(set(ids)) and min(ids) > last_id
    assert any(kind == "execution" and data.get("resumed") for _, kind, data in rest)
    assert rest[-1][1] == "execution" and rest[-1][2]["status"] == "success"
    final = {job["op"]: job for job in server.api("GET", "executions/survivor")["jobs"]}
    assert final["produce"]["attempt"] == 1 and final["slow"]["attempt"] == 2
    assert all(job["status"] == "success" for job in final.values())


def test_browser_posts_need_the_xsrf_token(server):
    browser = requests.Session()  # cookie-authenticated, as a browser is after logging in with the token
    browser.get(server.url + f"api/status?token={server.token}", timeout=10).raise_for_status()
    browser.get(server.url + f"lab?token={server.token}", timeout=10)
    assert browser.get(server.url + "pipelines/api/executions", timeout=10).status_code == 200
    body = {"pipeline": slow_pipeline(), "name": "from-browser"}
    refused = browser.post(server.url + "pipelines/api/executions", json=body, timeout=10)
    assert refused.status_code == 403 and "xsrf" in refused.text.lower()
    assert server.api("GET", "executions")["executions"] == []
    xsrf = browser.cookies.get("_xsrf")
    accepted = browser.post(server.url + "pipelines/api/executions", json=body, headers={"X-XSRFToken": xsrf},
                            timeout=10)
    assert accepted.status_code == 201, accepted.text
    server.api("POST", "executions/from-browser/cancel")


def test_artifacts_go_through_the_server_api(server, tmp_path, monkeypatch):
    """The kernel's Artifact API writes records through the server (one owner of the store): a server
    with its own data dir sees them, and uploads stream in chunks."""
    from jupyter_pipelines import client
    from jupyter_pipelines.artifacts import Artifact

    monkeypatch.setenv("JUPYTER_PIPELINES_HOME", str(tmp_path / "kernel-home"))  # not the server's data dir
    client.use(client.RemoteApi(server.url, server.token))
    source = tmp_path / "table.csv"
    source.write_bytes(b"a,b\n" * 300_000)  # 1.2 MB: several chunks
    record = Artifact.upload(str(source), "table")
    assert record.type == "file" and record.size == source.stat().st_size
    assert record.path.startswith(str(tmp_path / "home" / "storage"))  # the server's storage root
    value = Artifact.upload({"x": [1, 2]}, "conf")
    assert value.type == "dict"
    registered = Artifact.register(str(source), "same-file")
    assert registered.size == record.size
    listed = server.api("GET", "artifacts")["artifacts"]
    assert [a["name"] for a in listed] == ["conf", "same-file", "table"]
    assert Artifact.load("conf") == {"x": [1, 2]} and Artifact.load("table") == source.read_bytes()
    assert not (tmp_path / "kernel-home").exists()  # nothing written beside the kernel


def test_a_printed_line_reaches_a_raw_sse_client_while_the_job_still_runs(server, tmp_path):
    """Log chunks used to wait for the next stored event or the 15 s keepalive before being flushed."""
    sys.path.insert(0, str(Path(__file__).parent / "server"))
    from server_pipelines import ticking

    gate = tmp_path / "gate"
    server.api("POST", "executions", json={"pipeline": ticking(str(gate)), "name": "tick"})
    with server.session.get(server.url + "pipelines/api/executions/tick/events", stream=True,
                            timeout=(10, 60)) as response:
        event: dict[str, str] = {}
        for line in response.iter_lines(decode_unicode=True):
            if line:
                key, _, value = line.partition(": ")
                event[key] = value
                continue
            data = json.loads(event.get("data") or "{}")
            if event.get("event") == "job" and data.get("status") == "running":
                (tmp_path / "gate.start").touch()  # the stream is past the job's start: now it prints
            if event.get("event") == "log" and "tick 0" in data["text"]:
                gate.touch()  # the job is still waiting: the line came live
                break
            event = {}
    record = server.api("GET", "executions/tick")
    deadline = time.monotonic() + 60
    while record["status"] not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        record = server.api("GET", "executions/tick")
    from jupyter_pipelines import client

    api = client.RemoteApi(server.url, server.token)
    assert record["status"] == "success"
    from jupyter_pipelines.session import Execution

    assert Execution(api, record).result("ticks") == "released"
