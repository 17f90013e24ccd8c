"""A job's processes: cancel kills all it started, even daemons that left its session; what a
job leaves running is ended when it returns; ``kill_tree`` finds what a dead job left."""
from __future__ import annotations

import os
import signal

import pytest
from job_operations import cancel_kills_its_daemons, daemon_pids, daemons, kill_recorded
from polling import gone, wait_until

from jupyter_pipelines import Pipeline
from jupyter_pipelines.compute.plumbing.forkserver import ForkServer
from jupyter_pipelines.runner.tree import kill_tree, start_time

pytestmark = pytest.mark.timeout(120)


def test_cancel_kills_daemons_that_left_the_job_session(engine, tmp_path) -> None:
    with Pipeline("daemons") as p:
        daemons(folder=str(tmp_path), linger=True)
    cancel_kills_its_daemons(p.run(name="lingering"), str(tmp_path))


def test_what_a_successful_job_left_running_is_ended(engine, tmp_path) -> None:
    with Pipeline("daemons") as p:
        daemons(folder=str(tmp_path))
    ex = p.run(name="leaving", wait=True)
    try:
        assert ex.status == "success", ex.jobs
        assert ex.jobs["daemons"]["exit_code"] == 0 and ex.result("daemons") == "left"
        pids = daemon_pids(str(tmp_path))
        wait_until(lambda: all(gone(pid) for pid in pids.values()), what="the leftovers to die")
    finally:
        kill_recorded(str(tmp_path))


def test_kill_tree_finds_by_its_cookie_what_a_dead_job_left(tmp_path) -> None:
    definition = daemons.definition()
    spec = {"node": "daemons", "kind": "operation", "function": definition.function, "source": definition.source,
            "attributes": {"folder": str(tmp_path), "linger": True}, "inputs": {},
            "outputs": {"output": str(tmp_path / "out")}, "storage": {"protocol": "file", "options": {}}}
    server = ForkServer([])
    try:
        conn, pid = server.child()
        started = start_time(pid)
        conn.send((spec, str(tmp_path / "log")))
        pids = daemon_pids(str(tmp_path))
        os.kill(pid, signal.SIGKILL)  # the job dies unexpectedly: the daemons lose their place in its tree
        wait_until(lambda: gone(pid), what="the job to die")
        conn.close()
        assert not gone(pids["executed"]) and not gone(pids["plain"])
        kill_tree(pid, started)
        wait_until(lambda: gone(pids["executed"]) and gone(pids["plain"]), what="the job's leftovers to die")
        server.close()  # ends what only the fork server's tree still holds (the daemon forked without exec)
        wait_until(lambda: gone(pids["forked"]), what="the fork server to end its tree")
    finally:
        server.close()
        kill_recorded(str(tmp_path))
