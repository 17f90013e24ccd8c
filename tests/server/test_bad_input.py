"""Bad input is a 4xx with a message that names the problem, and nothing is written (each case here was a
500, or a write, before)."""
from __future__ import annotations

import pytest
import server_pipelines as pipelines
from store_state import state

from jupyter_pipelines.engine.checks import MAX_BODY_BYTES, MAX_SOURCE_CHARS

pytestmark = pytest.mark.timeout(120)


def with_operations(garbage) -> dict:
    return {"name": "x", "operations": garbage, "nodes": []}


SUBMITS = [
    ({"pipeline": pipelines.simple(), "compute": {"backend": "local", "config": "workers=2"}}, 400,
     "'compute.config' must be an object"),
    ({"pipeline": pipelines.simple(), "compute": {"backend": "local", "config": {"workers": -1}}}, 400,
     "'workers' of compute backend 'local' must be at least 0"),
    ({"pipeline": pipelines.simple(), "compute": {"backend": "local", "config": {"workers": "abc"}}}, 400,
     "'workers' of compute backend 'local' must be int"),
    ({"pipeline": pipelines.simple(), "credentials": {"a": "x"}}, 400, "'credentials.a' must be an object"),
    ({"pipeline": with_operations("garbage")}, 400, "'operations' must be an object"),
    ({"pipeline": with_operations({"f": "garbage"})}, 400, "operation 'f' must be an object"),
    ({"pipeline": {"name": "x", "nodes": [{"id": 3}]}}, 400, "'id' of node 0 must be a string"),
    ({"pipeline": {"name": "x", "nodes": "abc"}}, 400, "'nodes' must be a list"),
    ({"pipeline": [1, 2]}, 400, "missing field 'pipeline'"),
    ({"pipeline": pipelines.simple(), "debug": "no"}, 400, "'debug' must be true or false"),
    ({"pipeline": pipelines.simple(), "save": 1}, 400, "'save' must be true or false"),
    ({"pipeline": pipelines.simple(), "name": 7}, 400, "'name' must be a string"),
    ({"pipeline": pipelines.simple(), "params": {"produce.n": "three"}}, 400, "attribute 'n' of 'produce' must be int"),
    ({"pipeline": pipelines.simple(), "params": {"ghost.n": 1}}, 400, "has no operation 'ghost'"),
    ({"pipeline": pipelines.simple(), "params": ["produce.n"]}, 400, "'params' must be an object"),
    ({"pipeline": pipelines.simple(), "compute": {"backend": "local", "extra": 1}}, 400,
     "takes 'backend' and 'config'"),
    ("[1]", 400, "must be an object"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, 400, "malformed JSON"),
]


@pytest.mark.parametrize("body,status,needle", SUBMITS)
async def test_bad_submits_are_4xx_and_write_nothing(api, manager, server_home, body, status, needle):
    before = state(server_home)
    code, data = await api("POST", "executions", body)
    assert code == status and needle in data["message"], data
    assert state(server_home) == before


async def test_sizes_over_the_limits_are_413(api, manager, server_home):
    before = state(server_home)
    big_source = pipelines.simple()
    big_source["operations"]["produce"]["source"] += "#" * MAX_SOURCE_CHARS
    code, data = await api("POST", "executions", {"pipeline": big_source})
    assert code == 413 and "the source of operation 'produce' is longer than" in data["message"], data
    big_attribute = pipelines.simple()
    next(n for n in big_attribute["nodes"] if n["id"] == "produce")["attributes"]["n"] = 1
    big_attribute["operations"]["produce"]["attributes"]["n"] = {"type": "any", "default": 1}
    next(n for n in big_attribute["nodes"] if n["id"] == "produce")["attributes"]["n"] = ["x" * 1000] * 300
    code, data = await api("POST", "executions", {"pipeline": big_attribute})
    assert code == 413 and "attribute 'n' of 'produce' is larger than" in data["message"], data
    code, data = await api("POST", "executions", b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert code == 413 and "larger than" in data["message"], data
    assert state(server_home) == before


async def test_bad_queries_and_headers_are_400(api, jp_fetch, server_home):
    from test_api import wait_final

    code, _ = await api("POST", "executions", {"pipeline": pipelines.simple(), "name": "q"})
    assert code == 201
    await wait_final(api, "q")
    before = state(server_home)
    for path, params, headers, needle in [
        ("executions/q/jobs/produce/log", {"offset": "abc"}, {}, "offset must be an integer"),
        ("executions/q/jobs/produce/log", {"offset": "-5"}, {}, "offset must be at least 0"),
        ("executions/q/events", {}, {"Last-Event-ID": "abc"}, "Last-Event-ID must be an integer"),
        ("executions", {"limit": "abc"}, {}, "limit must be an integer"),
        ("executions", {"limit": "0"}, {}, "limit must be between 1 and"),
        ("executions", {"before": "x"}, {}, "before must be an integer"),
        ("executions/q", {"project": "../up"}, {}, "bad project name"),
    ]:
        code, data = await api("GET", path, headers=headers, **params)
        assert code == 400 and needle in data["message"], (path, params, headers, data)
    assert state(server_home) == before


@pytest.mark.parametrize("body,needle", [
    ({"compute": {"backend": "local", "config": "x"}}, "'compute.config' must be an object"),
    ({"compute": {"backend": "local", "config": {"workers": "abc"}}}, "'workers' of compute backend 'local' must be int"),
    ({"debug": "no"}, "'debug' must be true or false"),
    ({"storage": {"backend": "nowhere"}}, "unknown storage backend 'nowhere'"),
    ({"colour": "blue"}, "unknown settings ['colour']"),
    ({"storage": {"backend": "local", "config": {"ghost": 1}}}, "unknown field(s) ['ghost']"),
])
async def test_bad_settings_are_400_and_not_saved(api, server_home, body, needle):
    code, _ = await api("PUT", "settings/p", {"debug": True})
    assert code == 200
    before = state(server_home)
    code, data = await api("PUT", "settings/p", body)
    assert code == 400 and needle in data["message"], data
    assert state(server_home) == before


async def test_settings_keep_typed_values(api):
    code, saved = await api("PUT", "settings/p", {"compute": {"backend": "local", "config": {"workers": "3"}}})
    assert code == 200 and saved["compute"]["config"] == {"workers": 3}


@pytest.mark.parametrize("body,status,needle", [
    ({"pipeline": pipelines.simple(), "credentials": "x"}, 400, "'credentials' must be an object"),
    ({"pipeline": pipelines.simple(), "credentials": {"a": "x"}}, 400, "'credentials.a' must be an object"),
    ({"pipeline": pipelines.simple(), "bundle": "raw"}, 400, "'bundle' must be a list of names"),
    ({"pipeline": pipelines.simple(), "embed_credentials": [1]}, 400, "'embed_credentials' must be an object"),
    ({"pipeline": "x"}, 400, "missing field 'pipeline'"),
    ({"execution": 3}, 400, "'execution' must be a string"),
])
async def test_bad_exports_are_4xx_and_leave_no_file(api, server_home, body, status, needle):
    before = state(server_home)
    code, data = await api("POST", "exports", body)
    assert code == status and needle in data["message"], data
    assert state(server_home) == before


@pytest.mark.parametrize("body,needle", [
    ({"operations": "x"}, "'operations' must be an object"),
    ({"operations": {"produce": 3}}, "'operations.produce' must be a string"),
    ({"operations": {"produce": "def produce(n: int = 3):\n    return [\n"}}, "does not compile: line 2"),
    ({"operations": {"produce": "def produce(m, n: int = 3):\n    return []\n"}},
     "line 1: the edit changes the parameters of produce()"),
    ({"operations": {"produce": "def other(n: int = 3):\n    return []\n"}}, "must define the function 'produce'"),
])
async def test_bad_rerun_edits_are_400_and_change_nothing(api, server_home, body, needle):
    from test_api import wait_final

    code, _ = await api("POST", "executions", {"pipeline": pipelines.simple(), "name": "edit", "debug": True})
    assert code == 201
    await wait_final(api, "edit")
    before = state(server_home)
    code, data = await api("POST", "executions/edit/rerun", body)
    assert code == 400 and needle in data["message"], data
    assert state(server_home) == before


@pytest.mark.parametrize("body,needle", [
    ({"name": "x", "path": "/nope"}, "does not exist"),
    ({"name": "../x", "path": "/nope"}, "bad name"),
    ({"name": "x"}, "missing field 'path'"),
    ({"name": "x", "path": "/tmp", "storage": {"backend": "s3"}}, "missing field 'bucket'"),
    ({"name": "x", "path": "/tmp", "credentials": "k"}, "'credentials' must be an object"),
])
async def test_bad_artifact_registrations_are_400(api, server_home, body, needle):
    code, _ = await api("GET", "artifacts")
    before = state(server_home)
    code, data = await api("POST", "artifacts", body, headers={"Content-Type": "application/json"})
    assert code == 400 and needle in data["message"], data
    assert state(server_home) == before
