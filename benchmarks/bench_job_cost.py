"""Where a trivial job's time goes on the local backend: CPU and page faults per job, in the job
process, in the fork server, and in the engine's side of the fork server client.

    python benchmarks/bench_job_cost.py [--jobs 200]

Runs W1's step (read a small pickle, write it back) ``--jobs`` times one after the other through
the local backend's fork server (``compute/plumbing/forkserver.py``), as the backend does: a child
forked ahead, one message to go, the outcome read. Beside it, the floors: the same job in this
process (``run_job``), and the page faults of a bare ``os.fork()`` of a Python process that imported
the runner. This is what W1's per-operation overhead is made of (see benchmarks/README.md).
Writes benchmarks/results/job_cost.json.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publish import publish  # noqa: E402

from jupyter_pipelines.compute.plumbing.forkserver import ForkServer, read_outcome  # noqa: E402
from jupyter_pipelines.runner import serialize  # noqa: E402
from jupyter_pipelines.runner.contracts import JobSpec  # noqa: E402
from jupyter_pipelines.runner.job import run_job  # noqa: E402

SOURCE = "def step(data, i=0):\n    return {**data, 'step': i}\n"


def step_spec(folder: str) -> JobSpec:
    with open(os.path.join(folder, "in"), "wb") as file:
        serialize.dump({"step": 0}, file)
    return {"node": "step", "kind": "operation", "function": "step", "source": SOURCE, "attributes": {"i": 1},
            "inputs": {"data": os.path.join(folder, "in")}, "outputs": {"output": os.path.join(folder, "out")},
            "storage": {"protocol": "file", "options": {}}, "figures": os.path.join(folder, "figures")}


def proc_stat(pid: int) -> tuple[float, float, int, int]:
    """(own CPU s, reaped children's CPU s, own minor faults, reaped children's minor faults)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ((int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks,
            int(fields[7]), int(fields[8]))


def bare_fork_faults() -> int:
    """Minor faults of a child of this process before it does anything (CPython's own after-fork work)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, str(resource.getrusage(resource.RUSAGE_SELF).ru_minflt).encode())
        os._exit(0)
    os.close(write)
    faults = int(os.read(read, 64))
    os.close(read)
    os.waitpid(pid, 0)
    return faults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    jobs = parser.parse_args().jobs
    with tempfile.TemporaryDirectory() as folder:
        spec = step_spec(folder)
        log = os.path.join(folder, "log")
        started = time.perf_counter()
        for _ in range(jobs):
            run_job(spec)
        in_process = (time.perf_counter() - started) / jobs
        server = ForkServer([], start=True, spares=2)

        def one() -> None:
            conn, _ = server.child([])
            server.prefork()
            conn.send((spec, log))
            outcome, _ = read_outcome(conn)
            conn.close()
            if outcome is None or outcome["status"] != "success":
                raise RuntimeError(f"the job failed: {outcome}")

        try:
            for _ in range(20):  # the fork server's own warm-up runs while it is idle
                one()
            time.sleep(1.0)
            assert server.process is not None
            pid = server.process.pid  # the root: jobs that import nothing new fork from it
            before, client_before, started = proc_stat(pid), time.process_time(), time.perf_counter()
            for _ in range(jobs):
                one()
            wall, client = time.perf_counter() - started, time.process_time() - client_before
            time.sleep(0.5)  # the last children reaped
            after = proc_stat(pid)
        finally:
            server.close()
    per_job = {
        "wall_ms": wall / jobs * 1000,
        "job_process_cpu_ms": (after[1] - before[1]) / jobs * 1000,
        "job_process_faults": (after[3] - before[3]) / jobs,
        "fork_server_cpu_ms": (after[0] - before[0]) / jobs * 1000,
        "fork_server_faults": (after[2] - before[2]) / jobs,
        "client_cpu_ms": client / jobs * 1000,
        "run_job_in_process_ms": in_process * 1000,
        "bare_fork_faults": bare_fork_faults(),
    }
    publish("job_cost", {"per_job": per_job}, cores=os.cpu_count())


if __name__ == "__main__":
    main()
