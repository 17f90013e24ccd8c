"""A real `jupyter server` process for tests: isolated runtime dir and engine home, token auth on."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`jupyter server` in its own process group, with an isolated engine home and (unless given) its own
    root and runtime dir; with or without the pipelines extension."""

    def __init__(self, tmp_path: Path, root: Path | None = None, runtime: Path | None = None,
                 extension: bool = True) -> None:
        self.tmp = tmp_path
        self.token = secrets.token_hex(16)
        self.root = root or tmp_path / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.extension = extension
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER_PIPELINES")}
        self.env.update(JUPYTER_PIPELINES_HOME=str(tmp_path / "home"),
                        JUPYTER_RUNTIME_DIR=str(runtime or tmp_path / "runtime"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and return once it answers and has written its ``jpserver-<pid>.json``."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        log = open(self.tmp / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={self.port}",
             "--ip=127.0.0.1", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
             "--ServerApp.allow_unauthenticated_access=False",
             f"--ServerApp.jpserver_extensions={{'jupyter_pipelines': {self.extension}}}"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"
        runtime = Path(self.env["JUPYTER_RUNTIME_DIR"])
        probe = "pipelines/api/backends" if self.extension else "api/status"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.session.get(self.url + probe, timeout=2).status_code == 200 and \
                        any(runtime.glob(f"jpserver-{self.process.pid}.json")):
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError((self.tmp / "server.log").read_text()[-3000:])

    def api(self, method: str, path: str, **kwargs):
        response = self.session.request(method, self.url + "pipelines/api/" + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
