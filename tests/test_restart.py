"""Executions survive the death of their engine: resumed by the next one, or clearly marked."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from job_operations import daemon_pids, kill_recorded, recorded_pids
from polling import gone, wait_until

from jupyter_pipelines import Pipeline, operation
from jupyter_pipelines.engine import ExecutionManager

pytestmark = pytest.mark.timeout(150)

ENGINE_SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    from jupyter_pipelines import Pipeline, operation
    from jupyter_pipelines.engine import ExecutionManager

    home, folder, mode = sys.argv[1], sys.argv[2], sys.argv[3]

    @operation
    def a(folder: str = ""):
        with open(os.path.join(folder, "a.runs"), "a") as file:
            file.write(f"{os.getpid()}\\n")
        return 1

    @operation
    def b(x, folder: str = ""):
        with open(os.path.join(folder, "b.runs"), "a") as file:
            file.write(f"{os.getpid()}\\n")
        first = not os.path.exists(os.path.join(folder, "b.slept"))
        open(os.path.join(folder, "b.slept"), "w").close()
        time.sleep(120 if first else 3)  # the first attempt is interrupted long before it ends
        return x + 1

    @operation
    def c(x):
        return x * 10

    with Pipeline("restartable", project="restart") as p:
        c(b(a(folder=folder), folder=folder))

    storage = None
    if mode == "secret":  # a secret storage option: kept in this process's memory only
        storage = {"backend": "fsspec", "config": {"url": "file://" + os.path.join(folder, "data"),
                                                   "secret_options": {"auto_mkdir": True}}}
    manager = ExecutionManager(home)
    record = manager.submit(p, "survivor", storage=storage)
    print(json.dumps({"name": record.name}), flush=True)
    time.sleep(600)
''')


@operation
def numbers(n: int = 3):
    return list(range(n))


@operation
def total(values):
    return sum(values)


def job_status(db: str, node: str) -> str | None:
    if not os.path.exists(db):
        return None
    connection = sqlite3.connect(db, timeout=30)
    try:
        row = connection.execute("SELECT jobs.status FROM jobs JOIN executions ON executions.id = jobs.execution_id "
                                 "WHERE executions.name = 'survivor' AND jobs.node = ?", (node,)).fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:  # not created yet
        return None
    finally:
        connection.close()


def read_text(path: str) -> str:
    try:
        with open(path) as file:
            return file.read()
    except FileNotFoundError:
        return ""


def start_and_kill_engine(home: str, folder: str, mode: str) -> list[int]:
    """Run the engine script until ``b`` runs, then SIGKILL it; return the pids of ``b``'s first attempt."""
    script = os.path.join(folder, "engine.py")
    with open(script, "w") as file:
        file.write(ENGINE_SCRIPT)
    env = {**os.environ, "JUPYTER_PIPELINES_HOME": home, "JUPYTER_PIPELINES_EMBEDDED": "1"}
    process = subprocess.Popen([sys.executable, script, home, folder, mode], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    db = os.path.join(home, "pipelines.db")
    try:
        deadline = time.monotonic() + 90
        runs = os.path.join(folder, "b.runs")
        while job_status(db, "b") != "running" or not read_text(runs).strip():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "b never started running"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    with open(os.path.join(folder, "b.runs")) as file:
        return [int(line) for line in file.read().split()]


def test_resume_after_the_engine_was_killed(pipelines_home, tmp_path) -> None:
    folder = str(tmp_path)
    first_b = start_and_kill_engine(pipelines_home, folder, "plain")
    manager = ExecutionManager(pipelines_home)
    try:
        record = manager.get("restart", "survivor")
        assert record.status == "running" and record.job("b").status == "running"  # as the dead engine left it
        assert manager.resume() == [("restart", "survivor")]
        record = manager.wait("restart", "survivor", timeout=90)
        assert record.status == "success", record.to_dict()
        assert record.job("a").attempt == 1  # its stored output was reused
        assert record.job("b").attempt == 2
        assert record.job("c").attempt == 1
        assert all(job.status != "running" for job in record.jobs)
        interrupted, again = record.job("b").attempts  # the attempt the crash cut short is kept
        assert (interrupted["status"], again["status"]) == ("canceled", "success")
        assert "interrupted" in interrupted["error"] and interrupted["ended"]
        with open(tmp_path / "a.runs") as file:
            assert len(file.read().split()) == 1
        with open(tmp_path / "b.runs") as file:
            assert len(file.read().split()) == 2
        for pid in first_b:  # the orphaned first attempt of b was killed
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        events = manager.store.events(execution_id=record.id)
        assert any(e.type == "execution" and e.data.get("resumed") for e in events)
        from jupyter_pipelines.client import EmbeddedApi
        from jupyter_pipelines.session import Execution

        assert Execution(EmbeddedApi(manager), record.to_dict()).result("c") == 20
        assert manager.resume() == []  # nothing left to take over
    finally:
        manager.close()


def test_execution_with_secrets_is_marked_failed_on_restart(pipelines_home, tmp_path) -> None:
    folder = str(tmp_path)
    start_and_kill_engine(pipelines_home, folder, "secret")
    manager = ExecutionManager(pipelines_home)
    try:
        record = manager.get("restart", "survivor")
        assert record.needs_secrets
        assert "secret_options" not in json.dumps(record.storage)  # never written
        assert manager.resume() == [("restart", "survivor")]
        record = manager.get("restart", "survivor")
        assert record.status == "failed"
        assert "restart" in record.error and "credentials" in record.error
        assert record.job("a").status == "success"
        assert record.job("b").status == "failed" and "restart" in (record.job("b").error or "")
        assert record.job("c").status == "skipped"
        assert all(job.status != "running" for job in record.jobs)
    finally:
        manager.close()


def test_needs_secrets_flag_set_in_the_store(engine, pipelines_home, tmp_path) -> None:
    """The same rule, simulated: a row that needed secrets, whose engine is gone."""
    with Pipeline("flagged") as p:
        total(numbers(n=3))
    record = engine.submit(p, "flagged")
    engine.wait("default", "flagged", timeout=60)
    connection = sqlite3.connect(engine.store.path, timeout=30)
    with connection:
        connection.execute("UPDATE executions SET status = 'running', ended = NULL, needs_secrets = 1, "
                           "owner = '999999999:1.0' WHERE id = ?", (record.id,))
        connection.execute("UPDATE jobs SET status = 'pending' WHERE execution_id = ? AND node = 'total'",
                           (record.id,))
    connection.close()
    other = ExecutionManager(pipelines_home)
    try:
        assert other.resume() == [("default", "flagged")]
        after = other.get("default", "flagged")
        assert after.status == "failed"
        assert "interrupted by a restart" in after.error
        assert after.job("total").status == "skipped"
    finally:
        other.close()


CRASH_SCRIPT = textwrap.dedent('''
    import sys, time
    from jupyter_pipelines import Pipeline
    from jupyter_pipelines.engine import ExecutionManager
    from job_operations import daemons

    home, folder = sys.argv[1], sys.argv[2]
    with Pipeline("crash", project="restart") as p:
        daemons(folder=folder, linger=True)
    ExecutionManager(home).submit(p, "crashed")
    time.sleep(600)
''')


def start_engine_with_daemons(home: str, folder: str) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """An engine process (leading its own process group) whose job runs and has left daemons; their pids."""
    script = os.path.join(folder, "crash.py")
    with open(script, "w") as file:
        file.write(CRASH_SCRIPT)
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "JUPYTER_PIPELINES_HOME": home, "JUPYTER_PIPELINES_EMBEDDED": "1",
           "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, script, home, folder], env=env, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)

    def recorded() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        return any(name == "job" for name, _ in recorded_pids(folder))

    wait_until(recorded, what="the job to record its processes")
    return process, daemon_pids(folder)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_the_jobs_of_a_killed_engine_are_ended_by_its_fork_server(pipelines_home, tmp_path) -> None:
    process, pids = start_engine_with_daemons(pipelines_home, str(tmp_path))
    try:
        servers = [child.pid for child in psutil.Process(process.pid).children()
                   if "jupyter_pipelines.runner.forkserver" in child.cmdline()]
        assert servers
        process.kill()  # the engine only: its fork server sees it die
        process.wait(30)
        wait_until(lambda: all(gone(pid) for pid in [*servers, *pids.values()]),
                   what="the fork server to end the job's processes and exit")
    finally:
        kill_group(process.pid)
        kill_recorded(str(tmp_path))


def test_the_jobs_of_a_crashed_engine_and_fork_server_are_ended_at_the_next_start(pipelines_home, tmp_path) -> None:
    process, pids = start_engine_with_daemons(pipelines_home, str(tmp_path))
    try:
        kill_group(process.pid)  # the engine and its fork server at once: nobody ends the job
        process.wait(30)
        assert not any(gone(pid) for pid in pids.values())
        manager = ExecutionManager(pipelines_home)
        try:
            assert manager.resume() == [("restart", "crashed")]
            wait_until(lambda: all(gone(pid) for pid in pids.values()), what="the orphaned job's processes to die")
        finally:
            manager.close()
    finally:
        kill_recorded(str(tmp_path))  # the resumed attempt's too
