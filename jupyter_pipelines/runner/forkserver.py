"""A pre-warmed process that forks one child per job.

``python -m jupyter_pipelines.runner.forkserver ADDRESS [MODULE ...]`` imports the modules
once, runs a few tiny jobs itself (``warm_up``), listens on the unix socket ADDRESS (inside a
folder only its user can enter), and for each connection forks a child that runs one job (see
``process.job_child``). It reaps children and tells each connection its child's exit code
(which matters only for a child that died before it reported). It exits when its parent closes
its stdin.

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


def _preload(modules: list[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a missing optional module only costs speed
            pass


_WARM_UP_SOURCE = "def warm_up(value=None):\n    return value if value is not None else {'step': 0}\n"


def warm_up(runs: int = 16) -> None:
    """Run tiny jobs (write a value; read it and write it again) in a private temporary folder.

    Python specialises code as it runs it, writing into its code objects: code that already ran
    here before the fork is not specialised again in each job, where every such write copies a
    page (that was a third of a small job's time).
    """
    from .job import run_job

    folder = tempfile.mkdtemp(prefix="jupyter-pipelines-warm-up-")
    storage = {"protocol": "file", "options": {}}
    first, second = os.path.join(folder, "first"), os.path.join(folder, "second")
    try:
        for _ in range(runs):
            run_job({"node": "warm_up", "kind": "operation", "function": "warm_up", "source": _WARM_UP_SOURCE,
                     "inputs": {}, "outputs": {"output": first}, "storage": storage})
            run_job({"node": "warm_up", "kind": "operation", "function": "warm_up", "source": _WARM_UP_SOURCE,
                     "inputs": {"value": first}, "outputs": {"output": second}, "storage": storage})
    except Exception:  # noqa: BLE001 - only ever a matter of speed
        pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def serve(address: str, modules: list[str]) -> None:
    _preload(["jupyter_pipelines.runner.process", *modules])
    from .process import job_child

    warm_up()  # before the first fork: jobs inherit the specialised code

    listener = Listener(address, family="AF_UNIX")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, Connection] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener._listener._socket, selectors.EVENT_READ, "accept")  # type: ignore[attr-defined]
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 1024):
                    return
            elif key.data == "child":
                os.read(wake_r, 4096)
            else:
                conn = listener.accept()
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for fd in (wake_r, wake_w):
                        os.close(fd)
                    job_child(conn)
                children[pid] = conn
        _reap(children)


def _reap(children: dict[int, Connection]) -> None:
    while children:
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
    serve(sys.argv[1], sys.argv[2:])
