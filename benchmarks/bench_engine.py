"""W1, W2, W3 on the local compute backend, each against a floor measured in the same run.

    python benchmarks/bench_engine.py [--repeat 3] [--skip-w3]

Prints a table and writes benchmarks/results/engine.json. Ratios, not seconds, are the
figures: they compare with floors run by this same script on this same machine.
"""
from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publish import publish  # noqa: E402
from workloads import W3_BYTES, w1_chain, w2_fan, w3_large  # noqa: E402

from jupyter_pipelines.engine import ExecutionManager  # noqa: E402

FLOOR_STEP = ("import pickle,sys\n"
              "data = pickle.load(open(sys.argv[1], 'rb'))\n"
              "data = {**data, 'step': int(sys.argv[3])}\n"
              "pickle.dump(data, open(sys.argv[2], 'wb'))\n")


def run(manager: ExecutionManager, pipeline, name: str) -> float:
    started = time.perf_counter()
    record = manager.submit(pipeline, name)
    record = manager.wait(record.project, record.name)
    elapsed = time.perf_counter() - started
    if record.status != "success":
        raise RuntimeError(f"{name}: {record.status} {record.error}")
    return elapsed


def w1_floor(length: int, folder: str) -> float:
    """Each step as a fresh `python -c` that reads its input pickle and writes its output pickle."""
    path = os.path.join(folder, "0.pkl")
    with open(path, "wb") as file:
        pickle.dump({"step": 0, "payload": "x" * 64}, file)
    started = time.perf_counter()
    for i in range(1, length):
        subprocess.run([sys.executable, "-c", FLOOR_STEP, os.path.join(folder, f"{i - 1}.pkl"),
                        os.path.join(folder, f"{i}.pkl"), str(i)], check=True)
    return (time.perf_counter() - started) / (length - 1)


def w3_floor(folder: str) -> float:
    """Make the same array, write and read its bytes through a file with plain Python, checksum them."""
    import numpy as np

    path = os.path.join(folder, "w3.bin")
    started = time.perf_counter()
    array = np.ones(W3_BYTES // 8, dtype=np.float64)
    with open(path, "wb") as file:
        file.write(memoryview(array))
    del array
    with open(path, "rb") as file:
        data = bytearray(os.path.getsize(path))
        file.readinto(data)
    zlib.crc32(data)
    elapsed = time.perf_counter() - started
    os.unlink(path)
    return elapsed


class PeakMemory:
    """Samples the resident memory of every job process (descendants of this one)."""

    def __init__(self) -> None:
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self.stop.is_set():
            for child in me.children(recursive=True):
                try:
                    self.peak = max(self.peak, child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.005)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-w3", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as home:
        manager = ExecutionManager(home)
        run(manager, w1_chain(3), "warm-up")  # start the fork server once
        w1 = w1_chain(50)
        engine_runs = [run(manager, w1, f"w1-{i}") / 50 for i in range(args.repeat)]
        floor_runs = [w1_floor(50, tempfile.mkdtemp(dir=home)) for _ in range(args.repeat)]
        per_op, floor = min(engine_runs), min(floor_runs)
        results["W1"] = {"per_operation_s": per_op, "floor_per_step_s": floor, "ratio": per_op / floor,
                         "target": 0.5}
        w2 = w2_fan(32, 0.1)
        ideal = 32 * 0.1 / cores
        wall = min(run(manager, w2, f"w2-{i}") for i in range(args.repeat))
        results["W2"] = {"wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal, "target": 1.15}
        if not args.skip_w3:
            floors, walls = [], []
            with PeakMemory() as memory:
                for i in range(args.repeat):  # interleaved, so both see the same machine
                    floors.append(w3_floor(home))
                    walls.append(run(manager, w3_large(), f"w3-{i}"))
            floor3, wall3 = min(floors), min(walls)
            results["W3"] = {"wall_s": wall3, "floor_s": floor3, "ratio": wall3 / floor3, "target": 1.2,
                             "peak_job_memory_MiB": memory.peak / 2**20,
                             "peak_memory_ratio": memory.peak / W3_BYTES, "peak_target": 1.2}
        manager.close()
    publish("engine", results, cores=cores)


if __name__ == "__main__":
    main()
