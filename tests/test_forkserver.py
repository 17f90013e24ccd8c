"""The fork server and its client: spare children, final reports, warm-up, its folder and its end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from polling import gone, wait_until

from jupyter_pipelines.compute.plumbing import forkserver as forkserver_client
from jupyter_pipelines.compute.plumbing.forkserver import ForkServer, read_outcome
from jupyter_pipelines.runner import forkserver, serialize
from jupyter_pipelines.runner.tree import start_time

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server():
    fork_server = ForkServer([])
    yield fork_server
    fork_server.close()


def job_spec(folder) -> dict:
    return {"node": "double", "kind": "operation", "function": "double", "attributes": {"x": 21},
            "source": "def double(x):\n    print('doubling', x)\n    return 2 * x\n",
            "inputs": {}, "outputs": {"output": str(folder / "out")}, "storage": {"protocol": "file", "options": {}}}


def test_a_report_is_final_and_the_output_complete(server, tmp_path) -> None:
    conn, pid = server.child()
    conn.send((job_spec(tmp_path), str(tmp_path / "log")))
    outcome, code = read_outcome(conn)
    conn.close()
    assert outcome["status"] == "success" and code == 0
    assert outcome["outputs"][0]["location"] == str(tmp_path / "out")
    assert open(tmp_path / "log").read() == "doubling 21\n"  # written before the report
    with open(tmp_path / "out", "rb") as file:
        assert serialize.load(file) == 42
    wait_until(lambda: gone(pid), what="the job process to exit")


def test_a_failed_job_reports_exit_code_1(server, tmp_path) -> None:
    spec = dict(job_spec(tmp_path), source="def double(x):\n    raise KeyError(x)\n")
    conn, _ = server.child()
    conn.send((spec, str(tmp_path / "log")))
    outcome, code = read_outcome(conn)
    conn.close()
    assert outcome["status"] == "failed" and code == 1
    assert outcome["error"] == "KeyError: 21"


def test_a_child_killed_before_it_reports_gives_its_signal(server, tmp_path) -> None:
    conn, pid = server.child()
    os.kill(pid, signal.SIGKILL)
    assert read_outcome(conn) == (None, -signal.SIGKILL)
    conn.close()


def test_the_spare_child_is_used_and_a_dead_one_replaced(server, tmp_path) -> None:
    server.prefork()
    spare_pid = server.spare.result()[1]
    conn, pid = server.child()
    assert pid == spare_pid
    conn.close()

    server.prefork()
    dead = server.spare.result()[1]
    os.kill(dead, signal.SIGKILL)
    wait_until(lambda: gone(dead), what="the spare to die")
    conn, pid = server.child()
    assert pid != dead
    conn.send((job_spec(tmp_path), str(tmp_path / "log")))
    assert read_outcome(conn)[0]["status"] == "success"
    conn.close()


def test_a_dead_spare_is_not_taken_for_a_waiting_one_before_the_server_reaps_it(server) -> None:
    """The fork server tells a connection its child died only once it reaped it: until then the dead
    spare is a zombie with a silent connection, and was handed out (its job then 'died' at once)."""
    server.prefork()
    conn, pid = server.spare.result()[:2]
    assert forkserver_client._waiting(conn, pid)
    os.kill(server.process.pid, signal.SIGSTOP)  # the server cannot reap until it continues
    try:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: gone(pid), what="the spare to become a zombie")
        assert not conn.poll()
        assert not forkserver_client._waiting(conn, pid)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def test_close_ends_the_spare_child_and_removes_the_folder(tmp_path) -> None:
    fork_server = ForkServer([])
    fork_server.prefork()
    pid = fork_server.spare.result()[1]
    assert os.path.exists(fork_server.address)
    fork_server.close()
    wait_until(lambda: gone(pid), what="the spare child to end")
    assert not os.path.exists(fork_server.folder)


def test_warm_up_leaves_nothing_behind(tmp_path) -> None:
    forkserver.warm_up(str(tmp_path / "warm-up"), runs=2)
    assert os.listdir(tmp_path) == []


CLIENT = textwrap.dedent("""
    import json, os, sys, time
    from jupyter_pipelines.compute.plumbing.forkserver import ForkServer

    server = ForkServer([])
    conn, job = server.child()
    conn.send((json.loads(sys.argv[1]), sys.argv[2]))
    holder = os.fork()
    if holder == 0:  # holds the server's stdin open, as a process forked by a notebook would
        time.sleep(600)
        os._exit(0)
    print(json.dumps({"folder": server.folder, "server": server.process.pid, "job": job, "holder": holder}),
          flush=True)
    time.sleep(600)
""")


def test_the_server_of_a_killed_client_ends_its_jobs_removes_its_folder_and_exits(tmp_path) -> None:
    spec = dict(job_spec(tmp_path), source="def double(x):\n    import time\n    time.sleep(600)\n")
    client = subprocess.Popen([sys.executable, "-c", CLIENT, json.dumps(spec), str(tmp_path / "log")],
                              stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    info = json.loads(client.stdout.readline())
    try:
        assert os.path.isdir(info["folder"]) and not gone(info["job"])
        client.kill()
        client.wait(30)
        wait_until(lambda: gone(info["job"]) and gone(info["server"]) and not os.path.exists(info["folder"]),
                   what="the server to end its job, remove its folder and exit")
    finally:
        for pid in (info["holder"], info["job"], info["server"]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_starting_server_removes_the_folders_of_dead_servers_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    dead_owner = f"{dead.pid}:{start_time(dead.pid)!r}"
    dead.kill()
    dead.wait()
    me = os.getpid()
    folders = {"jupyter-pipelines-stale": dead_owner, "jupyter-pipelines-live": f"{me}:{start_time(me)!r}",
               "jupyter-pipelines-unmarked": None, "elsewhere-stale": dead_owner}
    for name, owner in folders.items():
        (tmp_path / name).mkdir(mode=0o700)
        if owner:
            (tmp_path / name / "owner").write_text(owner)
    kept = ["elsewhere-stale", "jupyter-pipelines-live", "jupyter-pipelines-unmarked"]
    server = ForkServer([])
    try:
        server.child()[0].close()  # started: it swept before it said it was ready
        assert os.path.dirname(server.folder) == str(tmp_path)
        assert sorted(os.listdir(tmp_path)) == sorted([*kept, os.path.basename(server.folder)])
    finally:
        server.close()
    assert sorted(os.listdir(tmp_path)) == kept
