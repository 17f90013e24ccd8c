"""Pipelines the server tests submit (module-level, so their sources are captured)."""
from __future__ import annotations

from jupyter_pipelines import Input, Output, Pipeline, operation

SECRET = "S3CR3T-do-not-leak-4f9a1c"


@operation
def produce(n: int = 3):
    print("producing", n)
    return list(range(n))


@operation
def total(values):
    print("total of", values)
    return sum(values)


@operation
def slow(values, seconds: float = 60.0):
    import time

    time.sleep(seconds)
    return values


@operation
def fail(values):
    raise ValueError("this operation fails on purpose")


@operation
def read_raw(data):
    return len(data)


def simple(n: int = 3, project: str = "default") -> dict:
    with Pipeline("simple", project=project) as p:
        Output(total(produce(n=n)), name="sum")
    return p.to_dict()


def slow_pipeline(seconds: float = 60.0) -> dict:
    with Pipeline("slow") as p:
        slow(produce(), seconds=seconds)
    return p.to_dict()


def failing() -> dict:
    with Pipeline("failing") as p:
        total(fail(produce()))
    return p.to_dict()


def with_input(artifact: str) -> dict:
    with Pipeline("reader") as p:
        read_raw(Input(artifact))
    return p.to_dict()


@operation
def ticks(gate: str = "", patience: float = 12.0):
    """Wait for ``gate.start`` (a view saw the job running), print a line, then wait for ``gate``
    (at most ``patience`` s): the line must have reached the view live for the test to open it."""
    import os
    import time

    deadline = time.time() + 60
    while not os.path.exists(gate + ".start") and time.time() < deadline:
        time.sleep(0.01)
    print("tick 0", flush=True)
    deadline = time.time() + patience
    while not os.path.exists(gate):
        if time.time() > deadline:
            return "not released"
        time.sleep(0.01)
    print("tick 1", flush=True)
    return "released"


def ticking(gate: str) -> dict:
    with Pipeline("ticking") as p:
        ticks(gate=gate)
    return p.to_dict()
