"""Operations shared by the engine and backend tests (top level, so they are captured as source)."""
from __future__ import annotations

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
