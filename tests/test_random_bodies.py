"""Random bodies at every POST/PUT route of a real `jupyter server`: always a 2xx or a 4xx, never a 500,
and after a 4xx the store and the exports folder are exactly as they were (hypothesis)."""
from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import Server
from store_state import state

sys.path.insert(0, str(Path(__file__).parent / "server"))
import server_pipelines as pipelines  # noqa: E402

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

EXAMPLES = settings(max_examples=int(os.environ.get("RANDOM_BODIES", "60")), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=12)


def mutated(document: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``document`` with one value somewhere inside it replaced by a random JSON value."""
    paths: list[list[Any]] = []

    def walk(value: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, [*path, key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, [*path, index])

    walk(document, [])

    def replace(path: list[Any], value: Any) -> dict[str, Any]:
        if not path:
            return value if isinstance(value, dict) else {"pipeline": value}
        changed = copy.deepcopy(document)
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return changed

    return st.builds(replace, st.sampled_from(paths), json_values)


SUBMIT = {"pipeline": pipelines.simple(), "name": "r", "debug": False, "compute": {"backend": "local", "config": {}},
          "storage": {"backend": "local", "config": {}}, "credentials": {}, "params": {"produce.n": 2}, "save": False}
SETTINGS = {"debug": True, "compute": {"backend": "local", "config": {"workers": 1}}, "params": {},
            "storage": {"backend": "memory", "config": {}}}
EXPORT = {"pipeline": pipelines.simple(), "bundle": [], "credentials": {}, "embed_credentials": {}}
RERUN = {"operations": {"produce": "def produce(n: int = 3):\n    return list(range(n))\n"}}
ARTIFACT = {"name": "a", "project": "default", "path": "/nonexistent", "type": "file",
            "storage": {"backend": "local", "config": {}}, "credentials": {}}


def bodies(template: dict[str, Any]) -> st.SearchStrategy[Any]:
    return mutated(template) | st.dictionaries(st.sampled_from(sorted(template)), json_values) | json_values


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("random-bodies"))
    running.start()
    response = running.session.post(running.url + "pipelines/api/executions",
                                    json={"pipeline": pipelines.simple(), "name": "base", "debug": True}, timeout=30)
    assert response.status_code == 201, response.text
    yield running
    running.stop()


def settle(server: Server) -> None:
    """Wait until no execution runs (an accepted submit changes the store while it runs)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = server.session.get(server.url + "pipelines/api/executions", params={"limit": 1000}, timeout=30).json()
        if all(e["status"] in ("success", "failed", "canceled") for e in listed["executions"]):
            return
        time.sleep(0.05)
    raise AssertionError("executions did not end")


def send(server: Server, method: str, path: str, body: Any) -> None:
    settle(server)
    home = server.env["JUPYTER_PIPELINES_HOME"]
    before = state(home)
    response = server.session.request(method, server.url + "pipelines/api/" + path, data=json.dumps(body),
                                      headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code < 500, (response.status_code, response.text, body)
    if response.status_code >= 400:
        assert response.json()["message"], body
        assert state(home) == before, body


@EXAMPLES
@given(body=bodies(SUBMIT))
def test_submit(server, body) -> None:
    send(server, "POST", "executions", body)


@EXAMPLES
@given(body=bodies(SETTINGS))
def test_settings(server, body) -> None:
    send(server, "PUT", "settings/simple", body)


@EXAMPLES
@given(body=bodies(EXPORT))
def test_export(server, body) -> None:
    send(server, "POST", "exports", body)


@EXAMPLES
@given(body=bodies(RERUN))
def test_rerun(server, body) -> None:
    send(server, "POST", "executions/base/rerun", body)


@EXAMPLES
@given(body=bodies(ARTIFACT))
def test_register_artifact(server, body) -> None:
    send(server, "POST", "artifacts", body)


@EXAMPLES
@given(body=json_values)
def test_cancel(server, body) -> None:
    send(server, "POST", "executions/base/cancel", body)
