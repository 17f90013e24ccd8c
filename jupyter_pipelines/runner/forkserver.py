"""A pre-warmed process that forks one child per job.

``python -m jupyter_pipelines.runner.forkserver [MODULE ...]`` imports the modules once, makes
its folder (a ``jupyter-pipelines-*`` temporary folder only its user can enter), runs a few tiny
jobs there (``warm_up``), listens on the unix socket ``forkserver`` in it and prints
``ready <socket path>``. For each connection it forks a child that runs one job (see
``process.job_child``); it reaps children and tells each connection its child's exit code
(which matters only for a child that died before it reported).

It exits when its parent closes its stdin or dies (watched through a pidfd on Linux, as the
stdin pipe may be held open by another process the parent forked). As it exits it kills every
process in its tree — its jobs, and the leftovers of jobs that died, which it adopts as a child
subreaper — and removes its folder. Its folder holds an ``owner`` file (its pid and start
time): a server starting removes the folders of servers that were killed before they could.

Unlike multiprocessing's fork server, children never re-import the parent's ``__main__``,
so a script or notebook that submits executions is never run again inside a job.
"""
from __future__ import annotations

import importlib
import os
import selectors
import shutil
import signal
import sys
import tempfile
from multiprocessing.connection import Connection, Listener

from .tree import adopt_orphans, end_descendants, is_same_process, start_time

FOLDER_PREFIX = "jupyter-pipelines-"
OWNER_FILE = "owner"


def _preload(modules: list[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a missing optional module only costs speed
            pass


_WARM_UP_SOURCE = "def warm_up(value=None):\n    return value if value is not None else {'step': 0}\n"


def warm_up(folder: str, runs: int = 16) -> None:
    """Run tiny jobs (write a value; read it and write it again) in ``folder``, made and removed here.

    Python specialises code as it runs it, writing into its code objects: code that already ran
    here before the fork is not specialised again in each job, where every such write copies a
    page (that was a third of a small job's time).
    """
    from .job import run_job

    storage = {"protocol": "file", "options": {}}
    first, second = os.path.join(folder, "first"), os.path.join(folder, "second")
    try:
        os.mkdir(folder, 0o700)
        for _ in range(runs):
            run_job({"node": "warm_up", "kind": "operation", "function": "warm_up", "source": _WARM_UP_SOURCE,
                     "inputs": {}, "outputs": {"output": first}, "storage": storage})
            run_job({"node": "warm_up", "kind": "operation", "function": "warm_up", "source": _WARM_UP_SOURCE,
                     "inputs": {"value": first}, "outputs": {"output": second}, "storage": storage})
    except Exception:  # noqa: BLE001 - only ever a matter of speed
        pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_folder(parent: str) -> str:
    """A new private folder in ``parent`` whose ``owner`` file names this process."""
    folder = tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=parent)  # mode 0700: only we can connect
    pid = os.getpid()
    partial = os.path.join(folder, OWNER_FILE + ".partial")
    with open(partial, "w") as file:
        file.write(f"{pid}:{start_time(pid)!r}")
    os.replace(partial, os.path.join(folder, OWNER_FILE))  # whole or absent for a server sweeping stale folders
    return folder


def remove_stale_folders(parent: str) -> None:
    """Remove the folders in ``parent`` of this user's fork servers that died without removing them."""
    for entry in os.scandir(parent):
        if not entry.name.startswith(FOLDER_PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            owner = _read_owner(entry.path)
        except OSError:
            continue
        if owner is not None and not is_same_process(*owner):
            shutil.rmtree(entry.path, ignore_errors=True)


def _read_owner(folder: str) -> tuple[int, float] | None:
    """The pid and start time in ``folder``'s owner file; None without one (not a fork server's folder)."""
    try:
        fd = os.open(os.path.join(folder, OWNER_FILE), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as file:
        pid, _, started = file.read(100).partition(":")
    try:
        return int(pid), float(started)
    except ValueError:
        return None


def serve(modules: list[str]) -> None:
    """Run the fork server until its parent closes its stdin or dies; then end its tree and remove its folder."""
    parent = os.getppid()
    parent_exit = _pidfd(parent)
    adopt_orphans()
    remove_stale_folders(tempfile.gettempdir())
    folder = make_folder(tempfile.gettempdir())
    try:
        _preload(["jupyter_pipelines.runner.process", *modules])
        warm_up(os.path.join(folder, "warm-up"))  # before the first fork: jobs inherit the specialised code
        if os.getppid() == parent:  # else it died before we watched it
            _serve(os.path.join(folder, "forkserver"), parent_exit)
    finally:
        try:
            end_descendants()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _pidfd(pid: int) -> int | None:
    """A file descriptor readable once process ``pid`` has exited (Linux); None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _serve(address: str, parent_exit: int | None) -> None:
    from .process import job_child

    listener = Listener(address, family="AF_UNIX")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, Connection] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener._listener._socket, selectors.EVENT_READ, "accept")  # type: ignore[attr-defined]
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    if parent_exit is not None:
        selector.register(parent_exit, selectors.EVENT_READ, "parent exit")
    print(f"ready {address}", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "parent exit":
                return
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 1024):
                    return
            elif key.data == "child":
                os.read(wake_r, 4096)
            else:
                conn = listener.accept()
                pid = os.fork()
                if pid == 0:
                    try:
                        selector.close()
                        listener.close()
                        signal.set_wakeup_fd(-1)
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        for fd in (wake_r, wake_w, parent_exit):
                            if fd is not None:
                                os.close(fd)
                        job_child(conn)
                    finally:
                        os._exit(1)  # never back into the server's loop (job_child exits by itself)
                children[pid] = conn
        _reap(children)


def _reap(children: dict[int, Connection]) -> None:
    """Reap ended children: the jobs (whose connections hear their exit codes) and adopted leftovers."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            try:
                conn.send(("exit", os.waitstatus_to_exitcode(status)))
            except OSError:
                pass
            conn.close()


if __name__ == "__main__":
    serve(sys.argv[1:])
