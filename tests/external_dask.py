"""A Dask cluster of separate processes, started as users start one: ``dask scheduler`` and one
``dask worker`` per worker, each in a working directory of its own that shares no folder with
the engine (its temporary folder, its Dask scratch space and its home are inside it). The
workers run the jupyter_pipelines the engine runs (``PYTHONPATH``). Used by the external-cluster
tests and by ``benchmarks/bench_cluster.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

import jupyter_pipelines

#: The folder that holds the jupyter_pipelines package the engine runs.
SOURCE_ROOT = str(Path(jupyter_pipelines.__file__).resolve().parent.parent)


def _dask_command() -> list[str]:
    executable = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    return [executable] if executable else [sys.executable, "-m", "dask"]


class ExternalCluster:
    """``dask scheduler`` + ``workers`` × ``dask worker`` (one process, ``threads`` threads each)."""

    def __init__(self, root: Path, workers: int = 2, threads: int = 1, timeout: float = 90.0,
                 env: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.timeout = timeout
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join([SOURCE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
        self.env.pop("JUPYTER_PIPELINES_HOME", None)  # a worker has no engine home
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.folders: list[Path] = []
        self.address = ""
        try:
            self._start_scheduler()
            for index in range(workers):
                self.add_worker(threads, name=f"worker-{index}")
            self.wait_for_workers(workers)
        except BaseException:
            self.close()
            raise

    def _own_folder(self, name: str) -> tuple[Path, dict[str, str]]:
        folder = self.root / name
        (folder / "tmp").mkdir(parents=True)
        env = {**self.env, "TMPDIR": str(folder / "tmp"), "HOME": str(folder), "DASK_TEMPORARY_DIRECTORY":
               str(folder / "dask-scratch")}
        self.folders.append(folder)
        return folder, env

    def _start_scheduler(self) -> None:
        folder, env = self._own_folder("scheduler")
        info = folder / "scheduler.json"
        self.scheduler = subprocess.Popen(
            [*_dask_command(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(info)], cwd=folder, env=env, stdout=subprocess.DEVNULL,
            stderr=open(folder / "scheduler.log", "wb"), start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {(folder / 'scheduler.log').read_text()[-2000:]}")
            try:
                self.address = json.loads(info.read_text())["address"]
                return
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.05)

    def add_worker(self, threads: int = 1, name: str = "") -> subprocess.Popen[bytes]:
        name = name or f"worker-{len(self.workers)}"
        folder, env = self._own_folder(name)
        worker = subprocess.Popen(
            [*_dask_command(), "worker", self.address, "--nthreads", str(threads), "--nworkers", "1",
             "--no-dashboard", "--name", name, "--local-directory", str(folder / "dask-scratch")],
            cwd=folder, env={**env, "JP_TEST_WORKER": name}, stdout=subprocess.DEVNULL,
            stderr=open(folder / "worker.log", "wb"), start_new_session=True)
        self.workers.append(worker)
        return worker

    def client(self) -> Any:
        from distributed import Client

        return Client(self.address, timeout=self.timeout, set_as_default=False)

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=self.timeout)

    def worker_processes(self) -> list[psutil.Process]:
        """The worker processes (children of the ``dask worker`` nannies)."""
        found = []
        for nanny in self.workers:
            try:
                found.extend(psutil.Process(nanny.pid).children())
            except psutil.Error:
                pass
        return found

    def worker_of(self, pid: int) -> psutil.Process:
        """The worker process that ``pid`` (a job process) descends from."""
        workers = {process.pid: process for process in self.worker_processes()}
        process = psutil.Process(pid)
        while process is not None:
            if process.pid in workers:
                return process
            process = process.parent()
        raise LookupError(f"process {pid} does not descend from a worker of this cluster")

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is None or process.poll() is not None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in [*self.workers, self.scheduler]:
            if process is None:
                continue
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()

    def __enter__(self) -> ExternalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
