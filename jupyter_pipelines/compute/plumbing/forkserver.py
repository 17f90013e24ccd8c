"""The client of ``runner.forkserver``: one pre-warmed process, one forked child per job."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Client, Connection
from typing import Any

import psutil

from ...runner.process import OUTCOME_EXIT_CODES


class ForkServer:
    """Starts the fork server on first use and hands out forked children, one per job.

    A child is a connection to a process forked from the server, leading its own session and
    waiting for its request (see ``runner.process.job_child``). One spare child is kept forked
    ahead, so a job does not wait for a fork. The server makes (and removes) its own folder, which
    holds its socket; it kills its jobs when it exits, which it does when this process dies.
    """

    def __init__(self, preload: list[str] | tuple[str, ...]) -> None:
        self.preload = list(preload)
        self.process: subprocess.Popen[bytes] | None = None
        self.folder = ""
        self.address = ""
        self.lock = threading.Lock()
        self.spare: Future[tuple[Connection, int]] | None = None
        self.spare_lock = threading.Lock()
        self.refill = ThreadPoolExecutor(1, thread_name_prefix="forkserver-spare")
        self.closed = False

    def _ensure_running(self) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError("the job fork server was closed")
            if self.process is not None and self.process.poll() is None:
                return
            command = [sys.executable, "-m", "jupyter_pipelines.runner.forkserver", *self.preload]
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
            assert self.process.stdout is not None
            word, _, address = self.process.stdout.readline().rstrip(b"\n").partition(b" ")
            if word != b"ready":
                raise RuntimeError("the job fork server did not start")
            self.address = os.fsdecode(address)
            self.folder = os.path.dirname(self.address)

    def _fork(self) -> tuple[Connection, int]:
        self._ensure_running()
        conn = Client(self.address, family="AF_UNIX")
        try:
            _, pid = conn.recv()
        except BaseException:
            conn.close()
            raise
        return conn, pid

    def child(self) -> tuple[Connection, int]:
        """A forked child waiting for its request, and its pid: the spare if there is one."""
        with self.spare_lock:
            spare, self.spare = self.spare, None
        if spare is not None:
            try:
                conn, pid = spare.result()  # waits if it is being forked right now
            except Exception:  # noqa: BLE001 - fork another below, which reports why it cannot
                pass
            else:
                if _waiting(conn, pid):
                    return conn, pid
                conn.close()
        return self._fork()

    def prefork(self) -> None:
        """Fork the spare child in the background, unless there is one."""
        with self.spare_lock:
            if self.spare is None and not self.closed:
                self.spare = self.refill.submit(self._fork)

    def close(self) -> None:
        with self.spare_lock:
            self.closed = True
            spare, self.spare = self.spare, None
        self.refill.shutdown(wait=True)
        if spare is not None and spare.exception() is None:
            spare.result()[0].close()  # the child ends on EOF
        with self.lock:
            if self.process is not None:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(timeout=10)  # it removes its folder as it exits
                self.process = None
            shutil.rmtree(self.folder, ignore_errors=True)  # in case it was killed


def _waiting(conn: Connection, pid: int) -> bool:
    """True if a forked child still waits for its request: it has sent nothing (the fork server
    reports a child's death on its connection) and it is not a zombie the server has yet to reap."""
    if conn.poll():
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def read_outcome(conn: Connection) -> tuple[tuple[str, Any] | None, int | None]:
    """Wait for a child's report: its outcome and exit code, or no outcome and the code it died with."""
    kind, value = conn.recv()
    if kind == "exit":  # the fork server reaped it before it reported anything
        return None, value
    return (kind, value), OUTCOME_EXIT_CODES[kind]
