"""Operations shared by the engine and backend tests (top level, so they are captured as source),
helpers that follow the processes the ``daemons`` operation leaves, and one that plants a link at a log."""
from __future__ import annotations

import json
import os
import signal
import time

from polling import WAIT, gone, wait_until

from jupyter_pipelines import operation


@operation
def numbers(n: int = 5):
    print(f"making {n} numbers")
    return list(range(n))


@operation(outputs=("evens", "odds"))
def parity(data):
    return [x for x in data if x % 2 == 0], [x for x in data if x % 2]


@operation
def total(evens, odds):
    return sum(evens) + sum(odds)


@operation
def start():
    return 1


@operation
def broken(x):
    def inner(value):
        raise ValueError(f"bad value {value}")

    return inner(x)


@operation
def chatty(release: str = ""):
    """Print, then wait until the file ``release`` exists (bounded), then print again."""
    print("hello from the job", flush=True)
    deadline = time.time() + 60
    while not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.05)
    print("released")
    return "done"


@operation
def waits_for_failure(x, db: str = "", failing: str = ""):
    """Finish only after the engine has recorded the failure of ``failing`` (bounded wait)."""
    import sqlite3

    deadline = time.time() + 60
    while time.time() < deadline:
        connection = sqlite3.connect(db, timeout=30)
        rows = connection.execute("SELECT status FROM jobs WHERE node = ?", (failing,)).fetchall()
        connection.close()
        if rows and rows[0][0] == "failed":
            return "finished"
        time.sleep(0.05)
    raise TimeoutError("the failure was never recorded")


@operation
def join2(a, b):
    return [a, b]


@operation
def tree(pids: str = ""):
    import subprocess

    import psutil

    child = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300 & wait"])
    deadline = time.time() + 30
    while len(psutil.Process(child.pid).children()) < 2 and time.time() < deadline:
        time.sleep(0.02)
    family = [os.getpid(), child.pid] + [p.pid for p in psutil.Process(child.pid).children()]
    with open(pids + ".tmp", "w") as file:
        json.dump(family, file)
    os.rename(pids + ".tmp", pids)
    time.sleep(300)


@operation
def daemons(folder: str = "", linger: bool = False):
    """Leave processes behind, then sleep (``linger``) or return.

    They are a plain child not waited for, a daemon that a program starts by double-forking and
    calling setsid (it inherits the job's environment), and one the job itself forks the same
    way without exec (so it shows no environment of its own). Each is recorded as it starts, as
    a line ``name pid`` in ``folder``/pids, and the job's own line comes last.
    """
    import subprocess
    import sys

    def record(name, pid):
        with open(os.path.join(folder, "pids"), "a") as file:
            file.write(f"{name} {pid}\n")

    record("plain", subprocess.Popen(["sleep", "1000"]).pid)
    program = ("import os, time\n"
               "if os.fork() == 0:\n"
               "    os.setsid()\n"
               "    if os.fork() == 0:\n"
               "        os.write(1, str(os.getpid()).encode())\n"
               "        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)\n"
               "        time.sleep(1000)\n"
               "    os._exit(0)\n"
               "os.wait()\n")
    record("executed", int(subprocess.run([sys.executable, "-c", program], stdout=subprocess.PIPE, check=True).stdout))
    read, write = os.pipe()
    first = os.fork()
    if first == 0:
        try:
            os.close(read)
            os.setsid()
            if os.fork() == 0:
                os.write(write, str(os.getpid()).encode())
                os.close(write)
                time.sleep(1000)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        record("forked", int(pipe.read()))
    os.waitpid(first, 0)
    record("job", os.getpid())
    if linger:
        time.sleep(1000)
    return "left"


def recorded_pids(folder: str) -> list[tuple[str, int]]:
    """The ``name pid`` lines that jobs running ``daemons`` wrote in ``folder``."""
    try:
        with open(os.path.join(folder, "pids")) as file:
            return [(name, int(pid)) for name, pid in (line.split() for line in file if line.endswith("\n"))]
    except FileNotFoundError:
        return []


def daemon_pids(folder: str) -> dict[str, int]:
    """Wait until the first job running ``daemons`` has recorded its processes; their pids by name."""
    wait_until(lambda: any(name == "job" for name, _ in recorded_pids(folder)), what="the job to record its processes")
    pids: dict[str, int] = {}
    for name, pid in recorded_pids(folder):
        pids.setdefault(name, pid)
    return pids


def kill_recorded(folder: str) -> None:
    """Clean up after a failed test: nothing a job running ``daemons`` started may outlive it."""
    for _, pid in recorded_pids(folder):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cancel_kills_its_daemons(ex, folder: str) -> None:
    """Cancel ``ex``, running ``daemons(folder=folder, linger=True)``: every process its job started dies
    (also those that left its session), and it ends canceled."""
    try:
        pids = daemon_pids(folder)
        assert not any(gone(pid) for pid in pids.values())
        ex.cancel()
        wait_until(lambda: all(gone(pid) for pid in pids.values()), what="every process of the job to die")
        assert ex.wait(WAIT).status == "canceled"
    finally:
        kill_recorded(folder)


def plant_link(path: str, target) -> None:
    """A symbolic link at ``path`` (a log's) to ``target``, a file outside the data dir."""
    target.write_text("precious\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
