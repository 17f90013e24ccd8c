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
        '[jupyter_pipelines.compute]\necho-plugin = jp_plugin_backend:EchoCompute\n'
        'broken-plugin = jp_plugin_broken:Nothing\n')
    (site / "jp_plugin_broken.py").write_text("raise RuntimeError('this plug-in is broken')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(PLUGIN)
    compute_backends.refresh()
    yield
    compute_backends.refresh()
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
    assert engine.job_log("default", record.name, "one") == "hi from one\n"


def test_a_broken_plugin_is_listed_unavailable_and_the_others_still_work(plugin_installed, make_engine) -> None:
    engine = make_engine()
    compute = {schema["name"]: schema for schema in engine.backends()["compute"]}
    assert compute["local"]["available"] and compute["echo-plugin"]["available"]
    broken = compute["broken-plugin"]
    assert broken["available"] is False
    assert "RuntimeError: this plug-in is broken" in broken["reason"]
    from jupyter_pipelines import Pipeline, operation
    from jupyter_pipelines.errors import BadRequest

    @operation
    def one():
        return 1

    with Pipeline("plugged") as p:
        one()
    with pytest.raises(BadRequest, match="'broken-plugin' is unavailable: the plug-in failed to load"):
        engine.submit(p, "broken", compute={"backend": "broken-plugin"})
    assert engine.executions() == []


@pytest.mark.parametrize(("kind", "backend", "module", "extra"), [
    ("compute", "dask", "distributed", "dask"),
    ("storage", "s3", "s3fs", "s3"),
])
def test_a_backend_whose_package_is_missing_is_unavailable_up_front(make_engine, monkeypatch, kind, backend, module,
                                                                    extra) -> None:
    from jupyter_pipelines import Pipeline, operation
    from jupyter_pipelines.errors import BadRequest

    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed: imports of it fail
    engine = make_engine()
    schema = {s["name"]: s for s in engine.backends()[kind]}[backend]
    assert schema["available"] is False
    assert schema["reason"] == f"needs {module}, which is not installed"
    assert schema["install"] == f"pip install 'jupyter_pipelines[{extra}]'"

    @operation
    def one():
        return 1

    with Pipeline("missing") as p:
        one()
    with pytest.raises(BadRequest, match=rf"{kind} backend '{backend}' is unavailable: it needs {module}.*"
                                         rf"install it with: pip install 'jupyter_pipelines\[{extra}\]'"):
        engine.submit(p, "missing", **{kind: {"backend": backend, "config": {"bucket": "b"} if backend == "s3" else {}}})
    assert engine.executions() == []  # nothing recorded, no name used up
