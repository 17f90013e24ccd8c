"""A pre-warmed process that forks one child per job, and imports once what jobs import.

Start and end
-------------
``python -m jupyter_pipelines.runner.forkserver [MODULE ...]`` starts the *root*. It has imported
what a job needs to run (``runner.process``: the runner and fsspec); it imports the modules given
(the client gives none: see below), makes its folder (a ``jupyter-pipelines-*`` temporary folder
only its user can enter), listens on the unix socket ``forkserver`` in it and prints
``ready <socket path>`` — nothing slower comes first: it warms up (``warm_up_steps``, a few tiny
jobs, so that the code Python specialises as it runs is specialised once, here, rather than in
every job, where each such write copies a page) only while it has nothing else to do, and it never
imports anything else itself.

The root exits when its parent closes its stdin or dies (watched through a pidfd on Linux, as the
stdin pipe may be held open by another process the parent forked). As it exits it kills every
process in its tree — jobs, warm servers, and the leftovers of jobs that died, which it adopts as
a child subreaper — and removes its folder. Its folder holds an ``owner`` file (its pid and start
time): a server starting removes the folders of servers that were killed before they could.

Requests
--------
The process serving forks is the *head* (at first the root). Each connection to its socket
carries one pickled request:

* ``("fork",)`` — it forks a job child (see ``process.job_child``), which leads its own session
  and answers ``("pid", pid, start time)``; the head reaps it and tells the connection its exit
  code (which matters only for a child that died before it reported).
* ``("warm", module)`` — import ``module`` for the jobs forked from now on (below).
* ``("modules",)`` — the names of the modules it has imported.
* ``("retire",)`` — a newer head took over: stop listening; a head other than the root exits
  once its jobs have ended.

Warm imports, and which imports are kept
----------------------------------------
A head never imports a module itself: forking a process is only safe while no other thread of
it runs, and an import is arbitrary code. For ``("warm", module)`` it forks a *candidate*, which
answers ``("pid", pid)``, imports the module with its output going nowhere, then looks at what
the import left behind. The import is **kept** — the candidate says ``("ready", its socket, its modules)``
and becomes the new head, with everything the old one had plus the module — only if it

* returned (an import that raises, even ``SystemExit``, is ``("refused", why)``; one that
  ends or kills the process is an EOF; one that takes too long is killed by the client), and
* left no *Python thread* running (``threading.enumerate``, ``sys._current_frames``): such a
  thread would be missing in every child, with whatever locks it held (e.g. a module that starts
  a background thread at import), and
* left no *child process* running (it would be adopted by jobs' trees, or outlive them).

Otherwise ``("refused", why)``: the candidate ends the processes it started and exits, and the
head it was forked from — which never ran that import — goes on serving, so nothing the import
did reaches any job. Jobs that import the module then do so themselves, and each says so in one
line of its log (``process.job_child``'s ``note``, written by the client: ``compute/plumbing/
forkserver.py``, which also gives up on — kills — a candidate whose import takes over 120 s).
Threads of native libraries that start no Python code (the thread pools of OpenBLAS, MKL or
OpenMP, which numpy, scipy and scikit-learn start at import) are allowed: those libraries
re-create their pools after ``fork(2)`` (``pthread_atfork``), and the runner always forked after
importing numpy. ``("none",)`` says a name is not a module (``from os import path``: ``os.path``
is, ``from os.path import join``: ``os.path.join`` is not) and ``("have",)`` that the head has it
already; both cost no fork when the head can tell by itself.

Heads stack up as modules are warmed, one at a time, each forked from the last, so a job pays only
for the imports that are new to it. A head that is replaced retires: it finishes its jobs
(reporting their exit codes) and exits. The root never does: the client keeps forking jobs that
import nothing more than the root has from it (a process with pandas costs 2-3 times more to
fork, copy pages of and end than one without). Heads are not subreapers: the leftovers of their
jobs go to the root, which ends them all as it exits. A head the client cannot reach any more
(killed) is replaced by the root, and its modules are warmed again.

Unlike multiprocessing's fork server, children never re-import the parent's ``__main__``,
so a script or notebook that submits executions is never run again inside a job.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import selectors
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Generator
from multiprocessing.connection import Connection, Listener

from .imports import MODULE_NAME
from .process import job_child, warm_up, warm_up_steps  # noqa: F401 - warm_up: part of this module's interface
from .tree import adopt_orphans, end_descendants, is_same_process, start_time

FOLDER_PREFIX = "jupyter-pipelines-"
OWNER_FILE = "owner"
#: A connection that sends no request within this many seconds is dropped.
REQUEST_SECONDS = 10.0
#: Connections waiting to be accepted (requests may come in bursts: forks and warm requests).
BACKLOG = 64


def _preload(modules: list[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S110 - a missing optional module only costs speed
            pass


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
    """Run the root until its parent closes its stdin or dies; then end its tree and remove its folder."""
    parent = os.getppid()
    parent_exit = _pidfd(parent)
    adopt_orphans()
    remove_stale_folders(tempfile.gettempdir())
    folder = make_folder(tempfile.gettempdir())
    root = os.getpid()
    try:
        _preload(modules)
        if os.getppid() != parent:  # it died before we watched it
            return
        head = Head(folder, os.path.join(folder, "forkserver"), parent_exit, root=True)
        print(f"ready {head.address}", flush=True)
        _to_devnull(1)  # nothing else goes to the parent's pipe (it reads one line)
        while True:
            try:
                head.loop()
                head.stop()
                return
            except Promoted as promoted:  # in a candidate whose import was kept: it serves from now on
                head = promoted.head
    finally:
        try:
            end_descendants()
        finally:
            if os.getpid() == root:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                os._exit(0)  # a head forked from the root: never back into the root's code


class Promoted(BaseException):
    """Raised in a candidate whose import was kept, up to :func:`serve`, which runs its new head (so
    a head's stack does not grow with each generation)."""

    def __init__(self, head: Head) -> None:
        super().__init__()
        self.head = head


def _pidfd(pid: int) -> int | None:
    """A file descriptor readable once process ``pid`` has exited (Linux); None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _to_devnull(fd: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


class Head:
    """The process that forks jobs: listens on ``address``, forks a child per ``fork`` request, a
    candidate per ``warm`` request, reaps its children."""

    def __init__(self, folder: str, address: str, parent_exit: int | None, root: bool) -> None:
        self.folder = folder
        self.address = address
        self.parent_exit = parent_exit
        self.root = root
        self.retired = False
        self.children: dict[int, Connection] = {}  # job children, told their exit code when reaped
        self.listener = Listener(address, family="AF_UNIX", backlog=BACKLOG)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener._listener._socket, selectors.EVENT_READ, "accept")  # type: ignore[attr-defined]
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "child")
        if parent_exit is not None:
            self.selector.register(parent_exit, selectors.EVENT_READ, "parent exit")
        # The root warms up while idle: a job that comes first is served first.
        self.warming: Generator[None, None, None] | None = warm_up_steps(os.path.join(folder, "warm-up")) if root else None

    def loop(self) -> None:
        """Serve until the engine goes (stdin closed, or its process gone)."""
        while True:
            events = self.selector.select(0 if self.warming is not None else None)
            if not events and self.warming is not None:
                if next(self.warming, StopIteration) is StopIteration:
                    self.warming = None
                continue
            for key, _ in events:
                if key.data == "parent exit":
                    return
                if key.data == "stdin":
                    if not os.read(sys.stdin.fileno(), 1024):
                        return
                elif key.data == "child":
                    os.read(self.wake_r, 4096)
                elif not self.retired:
                    self._accept()
            self._reap()
            if self.retired and not self.root and not self.children:
                os._exit(0)  # its jobs are done; the heads forked from it go on (re-parented to the root)

    def _accept(self) -> None:
        conn = self.listener.accept()
        try:
            request = conn.recv() if conn.poll(REQUEST_SECONDS) else None
        except (EOFError, OSError):
            request = None
        if not isinstance(request, tuple) or not request:
            request = (None,)
        kind = request[0]
        if kind == "fork":
            self._fork_job(conn)
        elif kind == "warm" and len(request) == 2 and isinstance(request[1], str):
            self._warm(conn, request[1])
        elif kind == "modules":
            _send(conn, ("modules", sorted(sys.modules)))
            conn.close()
        elif kind == "retire":
            self._retire()
            _send(conn, ("retired",))
            conn.close()
        else:
            conn.close()

    def stop(self) -> None:
        """Stop listening (its socket is removed)."""
        if not self.retired:
            self.retired = True
            self.listener.close()

    def _retire(self) -> None:
        self.retired = True
        if self.warming is not None:
            self.warming.close()
            self.warming = None
        self.selector.unregister(self.listener._listener._socket)  # type: ignore[attr-defined]
        self.listener.close()  # removes its socket

    def _fork_job(self, conn: Connection) -> None:
        pid = os.fork()
        if pid == 0:
            try:
                self._leave()
                if self.parent_exit is not None:
                    os.close(self.parent_exit)
                job_child(conn)
            finally:
                os._exit(1)  # never back into the server's loop (job_child exits by itself)
        self.children[pid] = conn

    def _warm(self, conn: Connection, module: str) -> None:
        answer = _known(module)
        if answer is not None:
            _send(conn, answer)
            conn.close()
            return
        pid = os.fork()
        if pid == 0:
            try:
                self._leave()
                head = _candidate(conn, module, self.folder, self.parent_exit)
            except BaseException:  # noqa: BLE001 - a candidate never returns into its parent's loop
                os._exit(1)
            raise Promoted(head)
        conn.close()  # the candidate holds it: its end is an EOF there

    def _leave(self) -> None:
        """In a child just forked: drop what belongs to this head (its socket, its wake-up pipe, the
        connections of its other children); the engine's pidfd and stdin stay, to watch the engine."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        self.listener._listener._socket.close()  # type: ignore[attr-defined]  # (not close(): that unlinks in the owner)
        os.close(self.wake_r)
        os.close(self.wake_w)
        for other in self.children.values():
            other.close()
        self.children.clear()
        if self.warming is not None:
            self.warming = None  # (its folder is the parent's: not removed here)

    def _reap(self) -> None:
        """Reap ended children: jobs (whose connections hear their exit codes), candidates, adopted leftovers."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                _send(conn, ("exit", os.waitstatus_to_exitcode(status)))
                conn.close()


def _send(conn: Connection, message: object) -> None:
    try:
        conn.send(message)
    except OSError:
        pass


def _known(module: str) -> tuple[str, ...] | None:
    """The answer to a warm request when the head can give it without importing anything."""
    if not MODULE_NAME.match(module):
        return ("none",)
    if module in sys.modules:
        return ("have",)
    parent = module.rpartition(".")[0]
    if not parent or parent in sys.modules:
        try:
            spec = importlib.util.find_spec(module)  # imports nothing new: the parent is here already
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return ("none",) if parent else ("refused", f"ModuleNotFoundError: No module named {module!r}")
    return None


def _candidate(conn: Connection, module: str, folder: str, parent_exit: int | None) -> Head:
    """In a forked candidate: import ``module``; return the new head when the import is kept, else
    report why not and exit."""
    _send(conn, ("pid", os.getpid()))
    before = _threads()
    saved = [os.dup(1), os.dup(2)]
    _to_devnull(1)
    _to_devnull(2)
    error = None
    try:
        importlib.import_module(module)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too: never kept
        error = exc
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
    if error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name == module and "." in module \
                and module.rpartition(".")[0] in sys.modules:
            _send(conn, ("none",))
        else:
            _send(conn, ("refused", f"its import raised {_describe(error)}"))
        os._exit(0)
    effects = _side_effects(before)
    if effects:
        _send(conn, ("refused", f"its import {effects}"))
        end_descendants()  # the processes it started go with it
        os._exit(0)
    head = Head(folder, os.path.join(folder, f"forkserver-{os.getpid()}"), parent_exit, root=False)
    _send(conn, ("ready", head.address, sorted(sys.modules)))
    conn.close()
    return head


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _threads() -> set[int]:
    """The Python threads of this process (those the threading module knows and those running Python code)."""
    return {thread.ident for thread in threading.enumerate() if thread.ident is not None} | \
        set(sys._current_frames())  # noqa: SLF001 - the one way to see threads started with _thread


def _side_effects(before: set[int]) -> str:
    """What an import left running that a fork must not inherit ("" when nothing): see the module's docstring."""
    new = _threads() - before
    if new:
        names = sorted({thread.name for thread in threading.enumerate() if thread.ident in new}) or ["unnamed"]
        return f"started {len(new)} thread(s) that still run ({', '.join(names)[:200]})"
    try:
        import psutil  # only when a warmed import left processes (start-up)

        children = [child for child in psutil.Process().children() if child.status() != psutil.STATUS_ZOMBIE]
    except Exception:  # noqa: BLE001 - psutil missing or the process gone: look no further
        children = []
    if children:
        return f"started {len(children)} process(es) that still run (pid {', '.join(str(c.pid) for c in children)})"
    return ""


if __name__ == "__main__":
    serve(sys.argv[1:])
