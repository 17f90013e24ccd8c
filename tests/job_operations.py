"""Operations shared by the engine and backend tests (top level, so they are captured as source)."""
from __future__ import annotations

import json
import os
import time

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
