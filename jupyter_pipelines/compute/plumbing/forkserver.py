"""The client of ``runner.forkserver``: one pre-warmed process tree, one forked child per job, and
the modules jobs import imported once, ahead, in the process they fork from."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Client, Connection
from typing import Any

from ...runner.contracts import JobOutcome
from ...runner.process import exit_code
from ...runner.tree import is_running, kill_tree

#: A module whose import (in the fork server) takes longer than this is given up (its candidate
#: killed): jobs that need it import it themselves.
IMPORT_SECONDS = 120.0
#: Tries to reach the current head when a head retires at the moment we connect.
CONNECT_TRIES = 5


class Stopped(Exception):
    """A child was asked for, but its job was stopped while it waited for its imports."""


class Child(tuple[Connection, int]):
    """``(conn, pid)`` of a forked child waiting for its request, with its start time as ``started``."""

    started: float | None

    def __new__(cls, conn: Connection, pid: int, started: float | None) -> Child:
        child = super().__new__(cls, (conn, pid))
        child.started = started
        return child


class ForkServer:
    """Starts the fork server and hands out forked children, one per job; warms the modules jobs import.

    A child is a connection to a process forked from the server, leading its own session and
    waiting for its request (see ``runner.process.job_child``). ``spares`` children are kept forked
    ahead, so a job does not wait for a fork. The server makes (and removes) its own folder, which
    holds its sockets; it kills its jobs when it exits, which it does when this process dies.

    ``warm(modules)`` has the server import modules ahead, one at a time on a thread of this
    client, each in a process forked from the current *head* that becomes the next head when the
    import is kept (see ``runner.forkserver`` for which are not). ``child(modules)`` waits for the
    modules it names that are being warmed (asking for those not asked for yet), then forks from
    the *root* — the process this client started, which keeps only what every job needs — when the
    root has all the modules the job imports (forking a smaller process costs less: fork, page
    copies and exit all grow with its memory), else from the head. ``preload`` modules are warmed
    once the first child has been handed out: they never delay a first job.

    With ``start`` the server process is started at once (its start-up overlaps with the
    caller's); else at the first child.
    """

    def __init__(self, preload: Iterable[str] = (), start: bool = False, spares: int = 1) -> None:
        self.preload = list(preload)
        self.spare_count = max(1, spares)
        self.process: subprocess.Popen[bytes] | None = None
        self.folder = ""
        self.root = ""  # the socket of the root
        self.address = ""  # the socket of the head: the root, or the last process that kept an import
        self.lock = threading.Lock()
        self.spares: dict[bool, list[Future[tuple[Connection, int, float | None, str]]]] = {}  # by "from the root"
        self.spare_lock = threading.Lock()
        self.refill = ThreadPoolExecutor(1, thread_name_prefix="forkserver-spare")
        self.closed = False
        self.state = threading.Condition()
        self.have: set[str] = set()  # imported by the head (or not modules at all)
        self.root_have: set[str] = set()  # imported by the root
        self.refused: dict[str, str] = {}  # module -> why the server does not import it
        self.queue: list[str] = []  # modules to warm, in order; the first is under way while the warmer runs
        self.wanted: dict[str, None] = {}  # every module asked for (warmed again if the server restarts)
        self.warmer: threading.Thread | None = None
        self.deferred = list(self.preload)
        self.last_from_root = True
        if start:
            with self.lock:
                self._spawn()

    @property
    def spare(self) -> Future[tuple[Connection, int, float | None, str]] | None:
        """The spare child being forked or waiting (the last one asked for)."""
        waiting = self.spares.get(self.last_from_root)
        return waiting[0] if waiting else None

    # -- the server process ---------------------------------------------------------------------
    def _spawn(self) -> None:
        command = [sys.executable, "-m", "jupyter_pipelines.runner.forkserver"]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self.address = self.root = ""

    def _ensure_running(self) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError("the job fork server was closed")
            if self.process is not None and self.process.poll() is None:
                if self.address:
                    return
            else:
                if self.process is not None:  # it died: a new one, which has imported nothing yet
                    self._forget_process()
                self._spawn()
            assert self.process is not None and self.process.stdout is not None
            word, _, address = self.process.stdout.readline().rstrip(b"\n").partition(b" ")
            if word != b"ready":
                self.process.kill()
                raise RuntimeError("the job fork server did not start")
            self.address = self.root = os.fsdecode(address)
            self.folder = os.path.dirname(self.address)

    def _forget_process(self) -> None:
        """The server died: close its pipes (its heads see EOF and end); what it had imported is gone."""
        assert self.process is not None
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        with self.state:
            self.have.clear()
            self.root_have.clear()
            self.queue = [module for module in self.wanted if module not in self.refused]
            if self.queue:
                self._start_warmer()

    def _connect(self, request: tuple[Any, ...], root: bool = False) -> tuple[Connection, str]:
        """A connection to the head (or the root) with ``request`` sent, and the address it went to."""
        self._ensure_running()
        for attempt in range(CONNECT_TRIES):
            address = self.root if root else self.address
            try:
                conn = Client(address, family="AF_UNIX")
            except OSError:
                if attempt + 1 < CONNECT_TRIES and (self.address != address or not self._alive()):
                    self._ensure_running()
                    continue  # that head retired (or the server died) as we connected
                if attempt + 1 < CONNECT_TRIES and address != self.root:
                    self._lost_head(address)
                    continue
                raise
            try:
                conn.send(request)
            except OSError:
                conn.close()
                if attempt + 1 < CONNECT_TRIES and self.address != address:
                    continue
                raise
            return conn, address
        raise RuntimeError("the job fork server did not answer")

    def _lost_head(self, address: str) -> None:
        """The head at ``address`` is gone (killed): fork from the root again, and warm again what it had."""
        with self.spare_lock:
            if self.address != address:
                return
            self.address = self.root
            stale = self.spares.pop(False, [])
        for spare in stale:
            spare.add_done_callback(_close_spare)
        with self.state:
            self.have = set(self.root_have)
            self.queue = [module for module in self.wanted if module not in self.refused and module not in self.have]
            if self.queue and not self.closed:
                self._start_warmer()

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- children -------------------------------------------------------------------------------
    def _fork(self, root: bool = False) -> tuple[Connection, int, float | None, str]:
        for attempt in range(CONNECT_TRIES):
            conn, address = self._connect(("fork",), root)
            try:
                message = conn.recv()
            except (EOFError, OSError):
                conn.close()
                if attempt + 1 < CONNECT_TRIES and address not in (self.address, self.root):
                    continue  # the head retired before it accepted us
                raise
            except BaseException:
                conn.close()
                raise
            return conn, message[1], message[2] if len(message) > 2 else None, address
        raise RuntimeError("the job fork server did not answer")

    def _from_root(self, modules: Iterable[str]) -> bool:
        """Whether a job importing ``modules`` forks from the root (it has them all, or the head is the root)."""
        return self.address == self.root or all(m in self.root_have or m in self.refused for m in modules)

    def child(self, modules: Iterable[str] = (), stop: Callable[[], bool] | None = None) -> Child:
        """A forked child waiting for its request, once the ``modules`` its job imports are warm (or
        known not to be warmed): the spare if there is one from the right process. While it waits for
        imports, ``stop()`` (checked at each :meth:`wake`) ends the wait with ``Stopped``."""
        modules = list(modules)
        for attempt in range(CONNECT_TRIES):
            missing = [module for module in modules if module not in self.have]
            if missing:
                self.warm(missing)
                with self.state:
                    while not self.closed and any(module in self.queue for module in missing):
                        if stop is not None and stop():
                            raise Stopped("stopped while waiting for the imports of the job")
                        self.state.wait()
            from_root = self.last_from_root = self._from_root(modules)
            with self.spare_lock:
                waiting = self.spares.get(from_root)
                spare = waiting.pop(0) if waiting else None
            child: Child | None = None
            if spare is not None:
                try:
                    conn, pid, started, address = spare.result()  # waits if it is being forked right now
                except Exception:  # noqa: BLE001, S110 - fork another below, which reports why it cannot
                    pass
                else:
                    if address == (self.root if from_root else self.address) and _waiting(conn, pid):
                        child = Child(conn, pid, started)
                    else:
                        conn.close()
            if child is None:
                conn, pid, started, address = self._fork(root=from_root)
                if not from_root and address == self.root and attempt + 1 < CONNECT_TRIES \
                        and not all(m in self.root_have or m in self.refused for m in modules):
                    conn.close()  # the head was lost meanwhile: wait for its imports to be made again
                    continue
                child = Child(conn, pid, started)
            if self.deferred:
                deferred, self.deferred = self.deferred, []
                self.warm(deferred)
            return child
        raise RuntimeError("the job fork server did not answer")

    def wake(self) -> None:
        """Have the children waiting for imports check their ``stop``."""
        with self.state:
            self.state.notify_all()

    def prefork(self, modules: Iterable[str] | None = None) -> None:
        """Fork a spare child in the background — from where a job importing ``modules`` forks (default:
        where the last child came from) — unless there is one."""
        from_root = self.last_from_root if modules is None else self._from_root(modules)
        with self.spare_lock:
            waiting = self.spares.setdefault(from_root, [])
            while len(waiting) < self.spare_count and not self.closed:
                waiting.append(self.refill.submit(self._fork, from_root))

    # -- warm imports ---------------------------------------------------------------------------
    def warm(self, modules: Iterable[str]) -> None:
        """Have the server import ``modules`` (in this order, after those asked for before), in the background."""
        with self.state:
            added = False
            for module in modules:
                self.wanted[module] = None
                if module not in self.have and module not in self.refused and module not in self.queue:
                    self.queue.append(module)
                    added = True
            if added and not self.closed:
                self._start_warmer()

    def note(self, modules: Iterable[str]) -> str | None:
        """A line for the log of a job importing ``modules``: those the server did not import, and why."""
        refused = [f"{module} ({self.refused[module]})" for module in dict.fromkeys(modules) if module in self.refused]
        if not refused:
            return None
        return "not imported ahead by the fork server, so imported by this job: " + "; ".join(refused)

    def _start_warmer(self) -> None:
        if self.warmer is None or not self.warmer.is_alive():
            self.warmer = threading.Thread(target=self._warm_loop, name="forkserver-warm", daemon=True)
            self.warmer.start()

    def _learn_modules(self) -> None:
        """Ask the head which modules it has (they need no warming)."""
        conn, address = self._connect(("modules",))
        try:
            answer = conn.recv() if conn.poll(30) else None
        finally:
            conn.close()
        if answer and answer[0] == "modules":
            with self.state:
                self.have.update(answer[1])
                if address == self.root:
                    self.root_have.update(answer[1])

    def _warm_loop(self) -> None:
        try:
            if not self.have:
                self._learn_modules()
        except Exception:  # noqa: BLE001, S110 - then each is asked for, which answers the same
            pass
        while True:
            with self.state:
                while self.queue and self.queue[0] in self.have:
                    self.queue.pop(0)
                    self.state.notify_all()
                if self.closed or not self.queue:
                    self.warmer = None
                    return
                module = self.queue[0]
            try:
                answer = self._warm_one(module)
            except Exception as error:  # noqa: BLE001 - the jobs import it themselves
                answer = ("refused", f"the fork server could not import it: {type(error).__name__}: {error}")
            with self.state:
                if self.queue and self.queue[0] == module:
                    self.queue.pop(0)
                if answer is not None and answer[0] in ("have", "none", "ready"):
                    self.have.add(module)
                elif answer is not None and answer[0] == "refused":
                    self.refused[module] = str(answer[1])
                self.state.notify_all()

    def _warm_one(self, module: str) -> tuple[Any, ...] | None:
        """Ask the head to import ``module``; a candidate that kept it is the new head (the old one retires)."""
        conn, _ = self._connect(("warm", module))
        try:
            try:
                answer: tuple[Any, ...] = conn.recv() if conn.poll(IMPORT_SECONDS) else \
                    ("refused", "the fork server did not answer")
                if answer[0] == "pid":
                    candidate = int(answer[1])
                    if not conn.poll(IMPORT_SECONDS):
                        kill_tree(candidate)
                        return ("refused", f"its import took more than {IMPORT_SECONDS:g} s")
                    answer = conn.recv()
            except (EOFError, OSError):
                if not self._alive():
                    return None  # the server died: it is asked again of the next one
                return ("refused", "its import ended the process")
        finally:
            conn.close()
        if answer[0] == "ready":
            with self.state:
                self.have.update(answer[2])
            self._switch(str(answer[1]))
        return answer

    def _switch(self, address: str) -> None:
        """Fork from the head at ``address`` from now on; the old head retires, unless it is the root."""
        with self.spare_lock:
            old, self.address = self.address, address
            stale = self.spares.pop(False, [])
        for spare in stale:
            spare.add_done_callback(_close_spare)
        if old == self.root:
            return
        try:
            conn = Client(old, family="AF_UNIX")
        except OSError:
            return
        try:
            conn.send(("retire",))
            conn.poll(5)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        with self.state:
            self.closed = True
            self.state.notify_all()
        with self.spare_lock:
            self.closed = True
            spares = [spare for waiting in self.spares.values() for spare in waiting]
            self.spares = {}
        self.refill.shutdown(wait=True)
        for spare in spares:
            _close_spare(spare)
        with self.lock:
            if self.process is not None:
                if self.process.stdin:
                    self.process.stdin.close()
                try:
                    self.process.wait(timeout=10)  # it removes its folder as it exits
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                if self.process.stdout:
                    self.process.stdout.close()
                self.process = None
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)  # in case it was killed


def _close_spare(spare: Future[tuple[Connection, int, float | None, str]]) -> None:
    if spare.exception() is None:
        spare.result()[0].close()  # the child ends on EOF


def _waiting(conn: Connection, pid: int) -> bool:
    """True if a forked child still waits for its request: it has sent nothing (the fork server
    reports a child's death on its connection) and it is not a zombie the server has yet to reap."""
    if conn.poll():
        return False
    return is_running(pid)


def read_outcome(conn: Connection) -> tuple[JobOutcome | None, int | None]:
    """Wait for a child's report: its outcome and exit code, or no outcome and the code it died with."""
    kind, value = conn.recv()
    if kind == "exit":  # the fork server reaped it before it reported anything
        return None, value
    return value, exit_code(value)
