"""Server figures on loopback: event latency to an SSE client, and GET executions while 20 run.

    python benchmarks/bench_server.py

Starts a real `jupyter server` with the extension, then measures
- the latency from a job's state change (its event's ``created`` time, written by the engine)
  to the event reaching an SSE client (target p95 ≤ 50 ms);
- `GET /pipelines/api/executions` latency while 20 executions run (target p99 ≤ 100 ms), beside
  the same server's `GET /api/status` as the baseline.
Writes benchmarks/results/server.json.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publish import publish  # noqa: E402
from workloads import w2_fan  # noqa: E402

from jupyter_pipelines import Pipeline, operation  # noqa: E402


@operation
def nap(seconds: float = 0.5):
    import time

    time.sleep(seconds)
    return seconds


@operation
def nap_after(previous, seconds: float = 0.5):
    import time

    time.sleep(seconds)
    return previous + seconds


@operation
def stamps(lines: int = 40, every: float = 0.1):
    """Print the wall time of each line as it prints it."""
    import time

    for _ in range(lines):
        print(repr(time.time()), flush=True)
        time.sleep(every)
    return lines


@operation
def flood(megabytes: int = 10):
    """Print ``megabytes`` MB of text as fast as it can."""
    line = "x" * 1023
    for _ in range(megabytes * 1024):
        print(line)
    return megabytes


@operation
def quiet(seconds: float = 12.0):
    import time

    time.sleep(seconds)
    return seconds


def single(op, name: str, **attributes) -> dict:
    with Pipeline(name) as pipeline:
        op(**attributes)
    return pipeline.to_dict()


def busy_pipeline() -> dict:
    with Pipeline("busy") as pipeline:
        value = nap()
        for _ in range(4):
            value = nap_after(value)
    return pipeline.to_dict()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def start_server(home: str) -> tuple[subprocess.Popen[bytes], str, requests.Session]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_PIPELINES")}
    env.update(JUPYTER_PIPELINES_HOME=home, JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"))
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}",
         "--ServerApp.jpserver_extensions={'jupyter_pipelines': True}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    for _ in range(300):
        try:
            if session.get(url + "pipelines/api/backends", timeout=2).ok:
                return process, url, session
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def event_latency(url: str, session: requests.Session) -> list[float]:
    created = session.post(url + "pipelines/api/executions", json={"pipeline": w2_fan(32, 0.05).to_dict()}).json()
    latencies = []
    with session.get(url + f"pipelines/api/executions/{created['name']}/events", stream=True, timeout=120) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if not line.startswith("data: "):
                continue
            arrived = time.time()
            data = json.loads(line[6:])
            stamp = data.get("ended") if data.get("status") in ("success", "failed") else data.get("started")
            if "op" in data and data.get("status") in ("running", "success") and stamp:
                latencies.append(arrived - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
            if "op" not in data and data.get("status") == "success":
                break
    return latencies


def print_latency(url: str, session: requests.Session, name: str) -> list[float]:
    """Seconds from a line printed by an operation to its arrival at a raw SSE client."""
    session.post(url + "pipelines/api/executions", json={"pipeline": single(stamps, "stamps"), "name": name})
    latencies = []
    with session.get(url + f"pipelines/api/executions/{name}/events", stream=True, timeout=120) as stream:
        event = ""
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                arrived = time.time()
                data = json.loads(line[6:])
                if event == "log":
                    latencies += [arrived - float(text) for text in data["text"].split()]
                elif event == "execution" and data.get("status") in ("success", "failed", "canceled"):
                    break
    return latencies


def stream_cpu(url: str, session: requests.Session, server_pid: int, streams: int = 10) -> float:
    """Server CPU per open event stream of a running job that prints nothing, in % of a core."""
    import threading

    import psutil

    names = [f"quiet{i}" for i in range(streams)]
    for name in names:
        session.post(url + "pipelines/api/executions", json={"pipeline": single(quiet, "quiet"), "name": name})

    def follow(name: str) -> None:
        with session.get(url + f"pipelines/api/executions/{name}/events", stream=True, timeout=120) as stream:
            for _ in stream.iter_lines():
                pass

    time.sleep(2.0)  # the jobs start; then nothing happens but the open streams
    server = psutil.Process(server_pid)
    idle_before = server.cpu_times()
    time.sleep(4.0)
    idle_after = server.cpu_times()
    idle = (idle_after.user + idle_after.system - idle_before.user - idle_before.system) / 4.0
    threads = [threading.Thread(target=follow, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    before = server.cpu_times()
    time.sleep(4.0)
    after = server.cpu_times()
    busy = (after.user + after.system - before.user - before.system) / 4.0
    return 100 * (busy - idle) / streams


def list_latency(url: str, session: requests.Session, path: str, seconds: float) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        session.get(url + path).raise_for_status()
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        process, url, session = start_server(home)
        try:
            latencies = event_latency(url, session)
            idle_prints = print_latency(url, session, "stamps-idle")
            cpu_per_stream = stream_cpu(url, session, process.pid)
            for i in range(20):
                session.post(url + "pipelines/api/executions", json={"pipeline": busy_pipeline(), "name": f"busy{i}"})
            session.post(url + "pipelines/api/executions", json={"pipeline": single(flood, "flood"), "name": "flood"})
            busy_prints = print_latency(url, session, "stamps-busy")
            baseline = list_latency(url, session, "api/status", 2.0)
            listing = list_latency(url, session, "pipelines/api/executions", 4.0)
            running = sum(e["status"] == "running" for e in session.get(url + "pipelines/api/executions").json()[
                "executions"])
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)

    def spread(values: list[float]) -> dict[str, float]:
        return {"samples": len(values), "p50_ms": 1000 * statistics.median(values),
                "p95_ms": 1000 * percentile(values, 95), "p99_ms": 1000 * percentile(values, 99)}

    results = {
        "event_latency": {**spread(latencies), "target_p95_ms": 50},
        "print_to_sse_idle": {**spread(idle_prints), "target_p95_ms": 100},
        "print_to_sse_20_running_and_a_10MB_flood": {**spread(busy_prints), "target_p95_ms": 100},
        "server_cpu_per_idle_stream": {"percent_of_a_core": cpu_per_stream, "target_percent": 1},
        "get_executions_under_load": {"samples": len(listing), "running_at_end": running,
                                      "p50_ms": 1000 * statistics.median(listing),
                                      "p99_ms": 1000 * percentile(listing, 99), "target_p99_ms": 100,
                                      "baseline_status_p99_ms": 1000 * percentile(baseline, 99),
                                      "ratio_to_baseline_p99": percentile(listing, 99) / percentile(baseline, 99)},
    }
    publish("server", results)


if __name__ == "__main__":
    main()
