"""``python -m jupyter_pipelines``: run, show, logs, list, tags, cancel, against a temporary home."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.timeout(180)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository: examples/ is here


def cli(home: str, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JUPYTER_PIPELINES_HOME": home, "JUPYTER_PIPELINES_EMBEDDED": "1"}
    return subprocess.run([sys.executable, "-m", "jupyter_pipelines", *args], env=env, cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def test_run_the_digits_example_then_inspect_it(pipelines_home) -> None:
    pytest.importorskip("sklearn")
    result = cli(pipelines_home, "run", "examples/digits.py")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Execution digits_execution of examples/digits" in out
    for op in ("load_digits", "split", "train", "evaluate"):
        assert any(line.split("] ", 1)[-1].startswith(op) and "running" in line for line in out.splitlines()), out
        assert any(line.split("] ", 1)[-1].startswith(op) and "success" in line for line in out.splitlines()), out
    assert "digits_execution: success" in out and "(6/6 operations succeeded)" in out

    show = cli(pipelines_home, "show", "digits_execution", "--project", "examples")
    assert show.returncode == 0, show.stderr
    assert "digits_execution  success  pipeline digits  project examples" in show.stdout
    assert "evaluate" in show.stdout and "metrics (dict" in show.stdout

    logs = cli(pipelines_home, "logs", "digits_execution", "evaluate", "--project", "examples")
    assert logs.returncode == 0 and "accuracy" in logs.stdout

    listing = cli(pipelines_home, "list")
    assert listing.returncode == 0
    assert "NAME" in listing.stdout and "digits_execution" in listing.stdout and "success" in listing.stdout

    tags = cli(pipelines_home, "tags", "--project", "examples")
    assert tags.returncode == 0 and "digits_execution" in tags.stdout and "digits" in tags.stdout

    again = cli(pipelines_home, "run", "examples/digits.py", "--name", "digits_execution")
    assert again.returncode == 0 and "digits_execution_2: success" in again.stdout

    missing = cli(pipelines_home, "show", "nope")
    assert missing.returncode == 2 and "no execution named 'nope'" in missing.stderr


FAILING = '''
from jupyter_pipelines import Pipeline, operation


@operation
def fine():
    return 1


@operation
def divide(x):
    return x / 0


with Pipeline("failing") as p:
    divide(fine())
'''


def test_a_failing_pipeline_exits_non_zero_with_its_traceback(pipelines_home, tmp_path) -> None:
    path = tmp_path / "failing.py"
    path.write_text(FAILING)
    result = cli(pipelines_home, "run", str(path))
    assert result.returncode != 0
    assert "failing_execution: failed" in result.stdout
    assert "divide failed: ZeroDivisionError: division by zero" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "return x / 0" in result.stderr and "in divide" in result.stderr


def test_a_file_without_pipeline_or_missing_is_an_error(pipelines_home, tmp_path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    result = cli(pipelines_home, "run", str(empty))
    assert result.returncode == 2 and "defines no Pipeline" in result.stderr
    result = cli(pipelines_home, "run", str(tmp_path / "absent.py"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_a_notebook_runs_too(pipelines_home, tmp_path) -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A pipeline in a notebook"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport math\nfrom jupyter_pipelines import Pipeline, operation"),
        nbformat.v4.new_code_cell("def hyp(a, b):\n    return math.sqrt(a * a + b * b)"),
        nbformat.v4.new_code_cell("@operation\ndef side(n: int = 3):\n    return n\n\n"
                                  "@operation\ndef diagonal(x, y: int = 4):\n    return hyp(x, y)"),
        nbformat.v4.new_code_cell("with Pipeline('nb') as p:\n    diagonal(side())\n"
                                  "p.run(wait=True)  # not run while the CLI reads the notebook"),
    ]
    path = tmp_path / "pipeline.ipynb"
    nbformat.write(notebook, str(path))
    result = cli(pipelines_home, "run", str(path), "--name", "from nb")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from_nb: success" in result.stdout and "(2/2 operations succeeded)" in result.stdout
    show = cli(pipelines_home, "show", "from_nb", "--json")
    assert '"status": "success"' in show.stdout
    from jupyter_pipelines.engine import ExecutionManager

    manager = ExecutionManager(pipelines_home)
    try:
        assert len(manager.executions()) == 1  # the p.run() in the notebook did not submit another
        from jupyter_pipelines.client import EmbeddedApi
        from jupyter_pipelines.session import get

        assert get("from_nb", api=EmbeddedApi(manager)).result("diagonal") == 5.0
    finally:
        manager.close()


SLOW = '''
from jupyter_pipelines import Pipeline, operation


@operation
def stalls(path: str = ""):
    import os, time
    with open(path, "w") as file:
        file.write(str(os.getpid()))
    time.sleep(300)


@operation
def after(x):
    return x


with Pipeline("slow") as p:
    after(stalls(path=%r))
'''


def test_cancel_from_another_process(pipelines_home, tmp_path) -> None:
    pid_file = tmp_path / "stalls.pid"
    path = tmp_path / "slow.py"
    path.write_text(SLOW % str(pid_file))
    env = {**os.environ, "JUPYTER_PIPELINES_HOME": pipelines_home, "JUPYTER_PIPELINES_EMBEDDED": "1"}
    runner = subprocess.Popen([sys.executable, "-m", "jupyter_pipelines", "run", str(path), "--name", "long"],
                              env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not pid_file.exists() or not pid_file.read_text():
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the operation never started"
            time.sleep(0.05)
        job_pid = int(pid_file.read_text())
        canceled = cli(pipelines_home, "cancel", "long")
        assert canceled.returncode == 0, canceled.stderr
        assert canceled.stdout.startswith("long: ")
        out, err = runner.communicate(timeout=90)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 1, out + err
    assert "long: canceled" in out
    connection = sqlite3.connect(os.path.join(pipelines_home, "pipelines.db"))
    try:
        assert connection.execute("SELECT status FROM executions WHERE name = 'long'").fetchone()[0] == "canceled"
        statuses = dict(connection.execute("SELECT node, status FROM jobs"))
    finally:
        connection.close()
    assert statuses == {"stalls": "canceled", "after": "canceled"}
    try:
        assert psutil.Process(job_pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
