"""A third-party compute backend registered through the ``jupyter_pipelines.compute`` entry point
appears among the engine's backends with its fields."""
from __future__ import annotations

import os
import sys

import pytest

from jupyter_pipelines.compute.base import compute_backends

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_backend")


@pytest.fixture
def plugin_installed(tmp_path, monkeypatch):
    """Install the plug-in in-process: its package and a dist-info with its entry points on sys.path."""
    site = tmp_path / "site"
    dist = site / "jp_plugin_backend-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jp-plugin-backend\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        '[jupyter_pipelines.compute]\necho-plugin = jp_plugin_backend:EchoCompute\n')
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(PLUGIN)
    saved = compute_backends._classes
    compute_backends._classes = None
    yield
    compute_backends._classes = saved
    sys.modules.pop("jp_plugin_backend", None)


def test_plugin_backend_is_listed_with_its_fields(plugin_installed, make_engine) -> None:
    engine = make_engine()
    compute = {schema["name"]: schema for schema in engine.backends()["compute"]}
    assert "local" in compute
    plugin = compute["echo-plugin"]
    assert plugin["title"] == "Echo (plug-in)"
    fields = {field["name"]: field for field in plugin["fields"]}
    assert fields["greeting"]["default"] == "hello" and fields["greeting"]["secret"] is False
    assert fields["api_key"]["secret"] is True


def test_plugin_backend_runs_a_pipeline(plugin_installed, make_engine) -> None:
    from jupyter_pipelines import Pipeline, operation

    engine = make_engine()

    @operation
    def one():
        return 1

    with Pipeline("plugged") as p:
        one()
    record = engine.submit(p, "plugged", compute={"backend": "echo-plugin",
                                                  "config": {"greeting": "hi", "api_key": "k-123"}})
    record = engine.wait("default", record.name, timeout=30)
    assert record.status == "success"
    assert record.compute == {"backend": "echo-plugin", "config": {"greeting": "hi"}}  # no secret stored
    assert engine.log("default", record.name, "one") == "hi from one\n"
