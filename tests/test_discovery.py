"""Discovery with real `jupyter server` processes: the server whose root holds the current directory,
else any running server of this user with the pipelines extension, else the embedded engine — said
on stderr. The CLI's commands reach the server found."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from cli_target import ROOT, clean_environment  # noqa: E402
from live_server import Server  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

PIPELINE = '''
from jupyter_pipelines import Pipeline, operation


@operation
def hello(who: str = "world"):
    return f"hello {who}"


with Pipeline("greeting") as greeting:
    hello()
'''


@pytest.fixture
def runtime(tmp_path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir()
    return folder


@pytest.fixture
def servers(tmp_path, runtime):
    started: list[Server] = []

    def start(name: str, root: Path, extension: bool = True) -> Server:
        folder = tmp_path / name
        folder.mkdir()
        root.mkdir(parents=True, exist_ok=True)
        server = Server(folder, root, runtime, extension)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def cli(runtime: Path, tmp_path: Path, *args: str, cwd: str = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**clean_environment(), "JUPYTER_RUNTIME_DIR": str(runtime),
                   "JUPYTER_PIPELINES_HOME": str(tmp_path / "cli-home"), **env}
    return subprocess.run([sys.executable, "-m", "jupyter_pipelines", *args], env=environment, cwd=cwd, text=True,
                          capture_output=True, timeout=150)


def chosen(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("jupyter_pipelines: using")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_server_rooted_elsewhere_is_found_and_run_reaches_it(servers, runtime, tmp_path) -> None:
    elsewhere = servers("elsewhere", tmp_path / "some" / "other" / "folder")
    assert not ROOT.startswith(str(elsewhere.root))
    pipeline = tmp_path / "greeting.py"
    pipeline.write_text(PIPELINE)
    result = cli(runtime, tmp_path, "run", str(pipeline), "--name", "found-it")
    assert result.returncode == 0, result.stdout + result.stderr
    assert chosen(result) == (f"jupyter_pipelines: using the Jupyter server at {elsewhere.url} "
                              f"(a running server of yours (root {os.path.realpath(elsewhere.root)})).")
    assert f"on the Jupyter server at {elsewhere.url}" in result.stdout and "found-it: success" in result.stdout
    listed = elsewhere.api("GET", "executions")["executions"]
    assert [e["name"] for e in listed] == ["found-it"]  # in that server's store
    assert not (tmp_path / "cli-home").exists()  # and nothing beside the CLI


def test_the_server_whose_root_holds_the_directory_is_preferred(servers, runtime, tmp_path) -> None:
    project = tmp_path / "project"
    work = project / "analysis" / "deep"
    other = servers("other", tmp_path / "other-root")
    outer = servers("outer", tmp_path)  # also holds the directory, less closely
    inner = servers("inner", project)
    work.mkdir(parents=True)
    result = cli(runtime, tmp_path, "list", cwd=str(work))
    assert result.returncode == 0, result.stderr
    assert chosen(result) == (f"jupyter_pipelines: using the Jupyter server at {inner.url} "
                              f"(its root {os.path.realpath(project)} holds this directory).")
    # the explicit variable wins over discovery
    explicit = cli(runtime, tmp_path, "list", cwd=str(work), JUPYTER_PIPELINES_URL=other.url,
                   JUPYTER_PIPELINES_TOKEN=other.token)
    assert chosen(explicit) == f"jupyter_pipelines: using the Jupyter server at {other.url} (set by " \
                               "JUPYTER_PIPELINES_URL)."
    # an explicit URL that does not answer is said, and discovery goes on
    dead = cli(runtime, tmp_path, "list", cwd=str(work), JUPYTER_PIPELINES_URL="http://127.0.0.1:9/")
    assert chosen(dead).startswith(f"jupyter_pipelines: using the Jupyter server at {inner.url} (its root")
    assert "JUPYTER_PIPELINES_URL=http://127.0.0.1:9/ does not answer" in chosen(dead)
    # and the embedded engine when asked for
    embedded = cli(runtime, tmp_path, "list", cwd=str(work), JUPYTER_PIPELINES_EMBEDDED="1")
    assert chosen(embedded) == ("jupyter_pipelines: using the embedded engine (JUPYTER_PIPELINES_EMBEDDED=1); "
                                "executions run in this process.")
    assert outer.process is not None and outer.process.poll() is None


def test_servers_without_the_extension_are_passed_over(servers, runtime, tmp_path) -> None:
    plain = servers("plain", Path(ROOT), extension=False)  # holds the directory, but has no pipelines API
    assert plain.session.get(plain.url + "pipelines/api/backends", timeout=10).status_code == 404
    result = cli(runtime, tmp_path, "list")
    assert result.returncode == 0, result.stderr
    assert chosen(result) == ("jupyter_pipelines: using the embedded engine (no running Jupyter server has the "
                              "pipelines extension); executions run in this process.")
    with_extension = servers("with", tmp_path / "elsewhere")
    result = cli(runtime, tmp_path, "list")
    assert chosen(result).startswith(f"jupyter_pipelines: using the Jupyter server at {with_extension.url} ")


def test_no_server_at_all_means_embedded(runtime, tmp_path) -> None:
    result = cli(runtime, tmp_path, "list")
    assert result.returncode == 0, result.stderr
    assert chosen(result) == ("jupyter_pipelines: using the embedded engine (no Jupyter server with the pipelines "
                              "extension found); executions run in this process.")
