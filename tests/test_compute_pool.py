"""Compute backends: shared per configuration, closed when idle, connected outside any lock."""
from __future__ import annotations

import socket
import threading

import psutil
import pytest
from job_operations import numbers
from polling import WAIT, wait_until

from jupyter_pipelines import Pipeline
from jupyter_pipelines.errors import BadRequest


def one_step(name: str) -> Pipeline:
    with Pipeline(name) as p:
        numbers(n=3)
    return p


def fork_servers() -> list[int]:
    """Live fork servers started by this process (jobs and spares are the fork servers' children)."""
    found = []
    for child in psutil.Process().children():
        try:
            if "jupyter_pipelines.runner.forkserver" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:  # ended meanwhile, or a zombie about to be reaped
            pass
    return found


def test_ten_compute_settings_leave_one_warm_backend(make_engine) -> None:
    engine = make_engine()
    pipeline = one_step("settings")
    for workers in range(1, 11):
        record = engine.submit(pipeline, "s", compute={"backend": "local", "config": {"workers": workers}})
        assert engine.wait("default", record.name, timeout=WAIT).status == "success"
    # The older backend is closed when the last execution lets go of it, just after it ended.
    wait_until(lambda: engine.computes.live() == 1 and len(fork_servers()) == 1,
               what="the last backend only to stay warm")


def test_idle_backends_are_closed_after_a_while(make_engine) -> None:
    engine = make_engine()
    record = engine.submit(one_step("idle"), "idle")
    assert engine.wait("default", record.name, timeout=WAIT).status == "success"
    wait_until(lambda: not engine.runs, what="the execution to let go of its backend")
    engine.computes.reap()
    assert engine.computes.live() == 1  # not idle for long yet
    engine.computes.idle_seconds = 0
    engine.computes.reap()
    assert engine.computes.live() == 0
    assert fork_servers() == []
    record = engine.submit(one_step("idle"), "again")  # a new one is made when needed
    assert engine.wait("default", record.name, timeout=WAIT).status == "success"


@pytest.fixture
def silent_scheduler():
    """A TCP server that accepts connections and never says a word (a hung Dask scheduler)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    connections: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            connections.append(conn)
            accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for conn in connections:
        conn.close()


def test_a_scheduler_that_never_answers_delays_only_its_own_submit(make_engine, silent_scheduler) -> None:
    address, accepted = silent_scheduler
    engine = make_engine()
    outcome: list[BaseException | None] = []

    def submit_to_dask() -> None:
        try:
            engine.submit(one_step("hung"), "hung", compute={"backend": "dask",
                                                             "config": {"scheduler": address, "timeout": 8}})
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - checked below
            outcome.append(error)

    hung = threading.Thread(target=submit_to_dask)
    hung.start()
    assert accepted.wait(WAIT)  # the dask submit is connecting now
    record = engine.submit(one_step("meanwhile"), "meanwhile")
    assert engine.wait("default", record.name, timeout=WAIT).status == "success"
    assert hung.is_alive()  # the local execution did not wait for the scheduler
    hung.join(WAIT)
    assert isinstance(outcome[0], BadRequest), outcome
    assert "dask" in str(outcome[0]).lower()
    assert [r.name for r in engine.executions()] == ["meanwhile"]  # the failed submit left nothing behind
