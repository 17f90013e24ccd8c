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
from workloads import w2_fan  # noqa: E402
from publish import publish  # noqa: E402

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
            for i in range(20):
                session.post(url + "pipelines/api/executions", json={"pipeline": busy_pipeline(), "name": f"busy{i}"})
            baseline = list_latency(url, session, "api/status", 2.0)
            listing = list_latency(url, session, "pipelines/api/executions", 4.0)
            running = sum(e["status"] == "running" for e in session.get(url + "pipelines/api/executions").json()[
                "executions"])
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    results = {
        "event_latency": {"samples": len(latencies), "p50_ms": 1000 * statistics.median(latencies),
                          "p95_ms": 1000 * percentile(latencies, 95), "target_p95_ms": 50},
        "get_executions_under_load": {"samples": len(listing), "running_at_end": running,
                                      "p50_ms": 1000 * statistics.median(listing),
                                      "p99_ms": 1000 * percentile(listing, 99), "target_p99_ms": 100,
                                      "baseline_status_p99_ms": 1000 * percentile(baseline, 99),
                                      "ratio_to_baseline_p99": percentile(listing, 99) / percentile(baseline, 99)},
    }
    publish("server", results)


if __name__ == "__main__":
    main()
