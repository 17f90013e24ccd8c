"""Waiting in tests without timed assertions: poll a condition up to a generous bound."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil

WAIT = 90  # seconds: generous upper bound for anything to happen


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
