"""Killing a job's whole process tree, and recognising a process after a restart.

Finding every process a job started
-----------------------------------
A job process (``runner.process.job_child``, ``python -m jupyter_pipelines.runner``) calls
``become_job`` before it runs anything:

* It becomes a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): a process whose
  parent dies is re-parented to the job instead of init, so a daemon that double-forks and
  calls ``setsid`` leaves the job's session but stays in its tree while the job lives.
* It puts a cookie in its environment, ``JUPYTER_PIPELINES_JOB=<pid>:<start time>``, which every
  program it starts inherits, wherever that program is re-parented (Jenkins' ProcessTreeKiller
  trick). The engine records each job's pid and start time, so it can compute the cookie again,
  after a restart too, and find those processes by their environment once the job is gone.
  (``/proc/PID/environ`` shows the environment a process was *executed* with: a child that
  forks without exec shows its fork server's, and is found through the tree.)

The fork server is a subreaper too: the leftovers of a job that died unexpectedly stay in its
tree, and it ends everything in its tree when it exits.

``kill_tree`` and ``end_descendants`` first freeze (SIGSTOP) what they find and look again until
nothing new turns up — a stopped process neither forks nor exits, so nothing slips out of the
tree meanwhile — then SIGKILL it all.
"""
from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a script, the engine and a job process often need none of it
    import psutil  # only where a process tree is walked (a job's start-up)

#: The environment variable that marks every process of a job (see ``job_cookie``).
JOB_ENV = "JUPYTER_PIPELINES_JOB"
_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch, as psutil's ``create_time`` gives it:
    the same arithmetic on the same /proc values, without importing psutil or touching its
    objects — a forked job computes its own first thing, and each page it touches is copied);
    None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
        with open("/proc/stat", "rb") as file:  # read each time, as psutil does
            boot = next(float(line.split()[1]) for line in file if line.startswith(b"btime"))
        return float(data[data.rfind(b")") + 2:].split()[19]) / _CLOCK_TICKS + boot
    except FileNotFoundError:
        return None
    except (OSError, StopIteration, IndexError, ValueError):  # no /proc (not Linux)
        import psutil  # only where a process tree is walked (a job's start-up)

        try:
            return float(psutil.Process(pid).create_time())
        except psutil.Error:
            return None


def own_start_time() -> float | None:
    """This process's start time, as :func:`start_time` gives it."""
    return start_time(os.getpid())


def is_running(pid: int) -> bool:
    """True if ``pid`` exists and has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
        return data[data.rfind(b")") + 2:][:1] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux)
        pass
    import psutil  # only where a process tree is walked (a job's start-up)

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def is_same_process(pid: int | None, started: float | None) -> bool:
    """True if ``pid`` still names the process that started at ``started``."""
    return bool(pid) and started is not None and start_time(pid) == started  # type: ignore[arg-type]


def job_cookie(pid: int, started: float) -> str:
    """The value of ``JOB_ENV`` in the processes of the job whose process ``pid`` started at ``started``."""
    return f"{pid}:{started!r}"


def adopt_orphans() -> None:
    """Make this process a child subreaper: its orphaned descendants are re-parented to it (Linux only)."""
    if _LIBC is None:
        return
    if _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(error)}")


def become_job() -> float:
    """In a new job process, before it runs anything: keep its orphans, and mark what it starts with its
    cookie; returns its start time (as :func:`start_time` gives it)."""
    adopt_orphans()
    started = own_start_time()
    if started is None:
        raise OSError("cannot read this process's start time")
    os.environ[JOB_ENV] = job_cookie(os.getpid(), started)
    return started


def kill_tree(pid: int, started: float | None = None) -> None:
    """SIGKILL a job's process and every process the job started.

    ``started`` is the job process's start time as recorded; without it, that of ``pid`` now.
    With it, the processes a job that has ended left running are still found (by its cookie),
    and a new process that reuses ``pid`` is spared.
    """
    if started is None:
        started = start_time(pid)
        if started is None:
            return  # gone, and nothing to recognise what it left
    alive = start_time(pid) == started
    cookie = job_cookie(pid, started)
    _kill(_stop_all(lambda: _job_processes(pid, alive, cookie)))


def end_descendants() -> None:
    """SIGKILL every process this one started that still runs (a job's leftovers, as it ends)."""
    if hasattr(os, "waitid"):
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return  # no child, so (as a subreaper) no descendant at all: the common case, and cheap
    import psutil  # only where a process tree is walked (a job's start-up)

    me = psutil.Process()
    _kill(_stop_all(lambda: me.children(recursive=True)))


def _job_processes(pid: int, alive: bool, cookie: str) -> list[psutil.Process]:
    """This user's live processes of a job: its process ``pid`` if ``alive``, those carrying its ``cookie``,
    and all their descendants."""
    import psutil  # only where a process tree is walked (a job's start-up)

    uid = os.getuid()
    children: dict[int, list[psutil.Process]] = {}
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["ppid", "uids", "status"]):
        info = process.info
        if info["uids"] is None or info["uids"].real != uid or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        children.setdefault(info["ppid"], []).append(process)
        if (alive and process.pid == pid) or _carries(process, cookie):
            found.append(process)
    members = {process.pid: process for process in found}
    while found:
        for child in children.get(found.pop().pid, []):
            if child.pid not in members:
                members[child.pid] = child
                found.append(child)
    return list(members.values())


def _carries(process: psutil.Process, cookie: str) -> bool:
    import psutil  # only where a process tree is walked (a job's start-up)

    try:
        return bool(process.environ().get(JOB_ENV) == cookie)
    except psutil.Error:
        return False


def _stop_all(find: Callable[[], list[psutil.Process]]) -> list[psutil.Process]:
    """SIGSTOP what ``find`` returns, and again what it returns then, until nothing new: all of it."""
    import psutil  # only where a process tree is walked (a job's start-up)

    stopped: dict[int, psutil.Process] = {}
    while True:
        new = [process for process in find() if process.pid not in stopped]
        if not new:
            return list(stopped.values())
        for process in new:
            stopped[process.pid] = process
            try:
                process.suspend()
            except psutil.Error:
                pass


def _kill(processes: list[psutil.Process]) -> None:
    import psutil  # only where a process tree is walked (a job's start-up)

    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
