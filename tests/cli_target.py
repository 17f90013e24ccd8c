"""Where the CLI's commands go in the tests: an embedded engine, or a real `jupyter server` process.

``Target.cli(*args)`` runs ``python -m jupyter_pipelines`` in a subprocess from the repository root,
with an environment that reaches only that engine.
"""
from __future__ import annotations

import glob
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from live_server import Server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository: examples/ is here


def clean_environment() -> dict[str, str]:
    """This process's environment without the package's variables (the conftest sets some)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER_PIPELINES")}


class Target:
    """The engine the CLI talks to: ``kind`` is ``embedded`` or ``server``."""

    def __init__(self, kind: str, tmp: Path, server: Server | None = None) -> None:
        self.kind = kind
        self.server = server
        self.env = clean_environment()
        self.env["JUPYTER_RUNTIME_DIR"] = str(tmp / "cli-runtime")  # no other running server is seen
        if server is None:
            self.home = str(tmp / "home")
            self.env.update(JUPYTER_PIPELINES_HOME=self.home, JUPYTER_PIPELINES_EMBEDDED="1")
        else:
            self.home = str(server.tmp / "home")
            # the CLI's own data dir stays empty: everything goes through the server
            self.env.update(JUPYTER_PIPELINES_HOME=str(tmp / "cli-home"), JUPYTER_PIPELINES_URL=server.url,
                            JUPYTER_PIPELINES_TOKEN=server.token)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "jupyter_pipelines", *args]

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 150
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env={**self.env, **(env or {})}, cwd=ROOT, text=True,
                              capture_output=True, timeout=timeout)

    def start(self, *args: str, env: dict[str, str] | None = None) -> Lines:
        process = subprocess.Popen(self.argv(*args), env={**self.env, **(env or {})}, cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return Lines(process)

    def stored_bytes(self) -> bytes:
        """Everything the engine wrote: its store (with the WAL), logs, and the server's own log."""
        paths = glob.glob(os.path.join(self.home, "pipelines.db*")) + glob.glob(
            os.path.join(self.home, "logs", "**", "*"), recursive=True)
        if self.server is not None:
            paths.append(str(self.server.tmp / "server.log"))
        data = b""
        for path in paths:
            if os.path.isfile(path):
                with open(path, "rb") as file:
                    data += file.read()
        return data


class Lines:
    """A running CLI process whose output lines are read as they come (a thread per stream)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.err: list[str] = []
        self._out_reader = threading.Thread(target=self._read, args=(process.stdout, self.lines), daemon=True)
        self._out_reader.start()
        self._err_reader = threading.Thread(target=self._collect, args=(process.stderr,), daemon=True)
        self._err_reader.start()

    @staticmethod
    def _read(stream: IO[str], into: queue.Queue[str]) -> None:
        for line in stream:
            into.put(line)

    def _collect(self, stream: IO[str]) -> None:
        for line in stream:
            self.err.append(line)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        """Read lines until one contains ``text`` (an error after ``timeout`` seconds or at the end)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r} in {self.seen} (stderr {self.err})")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.process.poll() is not None:
                    self._out_reader.join(10)  # the process ended: its last lines are in the queue once this ends
                    if self.lines.empty():
                        raise AssertionError(f"ended ({self.process.returncode}) without {text!r}: {self.seen} "
                                             f"{self.err}") from None
                continue
            self.seen.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the end; the exit code, all of stdout and stderr."""
        code = self.process.wait(timeout)
        self._out_reader.join(10)
        self._err_reader.join(10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen), "".join(self.err)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
