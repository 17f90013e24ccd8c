"""Killing a job's whole process tree, and recognising a process after a restart."""
from __future__ import annotations

import os
import signal

import psutil


def start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_running(pid: int) -> bool:
    """True if ``pid`` exists and has not ended (a zombie has)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_same_process(pid: int | None, started: float | None) -> bool:
    """True if ``pid`` still names the process that started at ``started``."""
    return bool(pid) and started is not None and start_time(pid) == started  # type: ignore[arg-type]


def kill_tree(pid: int) -> None:
    """SIGKILL a job process, its process group and every descendant (grandchildren too)."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    try:
        os.killpg(pid, signal.SIGKILL)  # jobs lead their own session, so their group id is their pid
    except (ProcessLookupError, PermissionError):
        pass
    try:
        targets = [psutil.Process(pid), *descendants]
    except psutil.Error:  # it may end between the calls above and this one
        targets = descendants
    for process in targets:
        try:
            process.kill()
        except psutil.Error:
            pass
