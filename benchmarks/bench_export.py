"""Export benchmarks.

1. Building the zip of a 200-operation chain (200 distinct operation definitions, so 200 files
   in operations/); target <= 1 s.
2. W1 — a chain of 50 trivial operations passing a small dict — run from the exported zip
   (``python main.py``, one process, wall time including interpreter start) against the engine's
   run of the same chain (local compute, local storage; submit to final status).

    python benchmarks/bench_export.py [--repeat 3]

Prints a table and writes benchmarks/results/export.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "export.json")


def chain_module(folder: str, count: int, name: str) -> str:
    """A module with ``count`` distinct operations ``op_000``… each passing a small dict on."""
    lines = ["from jupyter_pipelines import operation", ""]
    for i in range(count):
        if i == 0:
            lines += ["@operation", "def op_000(start: int = 0):", "    return {'n': start, 'path': ['op_000']}", ""]
        else:
            lines += ["@operation", f"def op_{i:03d}(data, step: int = 1):",
                      f"    return {{'n': data['n'] + step, 'path': data['path'][-3:] + ['op_{i:03d}']}}", ""]
    path = os.path.join(folder, f"{name}.py")
    with open(path, "w") as file:
        file.write("\n".join(lines))
    return path


def chain_pipeline(folder: str, count: int, name: str):
    import importlib

    from jupyter_pipelines import Output, Pipeline

    chain_module(folder, count, name)
    sys.path.insert(0, folder)
    module = importlib.import_module(name)
    with Pipeline(name, project="bench") as pipeline:
        data = module.op_000()
        for i in range(1, count):
            data = getattr(module, f"op_{i:03d}")(data)
        Output(data, name="result")
    return pipeline


def bench_build(folder: str, repeat: int) -> dict[str, float]:
    from jupyter_pipelines.engine import ExecutionManager

    pipeline = chain_pipeline(folder, 200, "chain200")
    manager = ExecutionManager(os.path.join(folder, "home"))
    times = []
    try:
        for i in range(repeat):
            started = time.perf_counter()
            path = manager.export_to({"pipeline": pipeline.to_dict()}, os.path.join(folder, f"chain200_{i}.zip"))
            times.append(time.perf_counter() - started)
    finally:
        manager.close()
    with zipfile.ZipFile(path) as archive:
        files = len([n for n in archive.namelist() if n.startswith("operations/") and n.endswith(".py")])
    return {"operations": 200, "operation_files": files, "first_s": times[0], "best_s": min(times),
            "zip_bytes": os.path.getsize(path)}


def bench_w1(folder: str, repeat: int) -> dict[str, float]:
    from jupyter_pipelines.engine import ExecutionManager

    pipeline = chain_pipeline(folder, 50, "w1chain")
    home = os.path.join(folder, "w1home")
    export_dir = os.path.join(folder, "w1export")
    manager = ExecutionManager(home)
    with zipfile.ZipFile(manager.export_to({"pipeline": pipeline.to_dict()}, os.path.join(folder, "w1.zip"))) as archive:
        archive.extractall(export_dir)

    engine_times = []
    try:
        for i in range(repeat + 1):  # the first run also starts the worker pool: not counted
            started = time.perf_counter()
            record = manager.submit(pipeline, f"w1_{i}")
            record = manager.wait("bench", record.name, timeout=600)
            elapsed = time.perf_counter() - started
            assert record.status == "success", record.error
            if i:
                engine_times.append(elapsed)
        engine_result = manager.store.artifact("bench", "result").path
    finally:
        manager.close()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    export_times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run = subprocess.run([sys.executable, os.path.join(export_dir, "main.py")], cwd=export_dir, env=env,
                             capture_output=True, text=True)
        export_times.append(time.perf_counter() - started)
        assert run.returncode == 0, run.stdout + run.stderr
    memory_times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run = subprocess.run([sys.executable, os.path.join(export_dir, "main.py"), "--storage", "memory://w1"],
                             cwd=export_dir, env=env, capture_output=True, text=True)
        memory_times.append(time.perf_counter() - started)
        assert run.returncode == 0, run.stdout + run.stderr

    from jupyter_pipelines.runner import serialize

    with open(engine_result, "rb") as a, open(os.path.join(export_dir, "outputs", "result.pkl"), "rb") as b:
        assert serialize.load(a) == serialize.load(b), "the export and the engine disagree"
    engine, exported, memory = min(engine_times), min(export_times), min(memory_times)
    return {"operations": 50, "engine_s": engine, "export_s": exported, "export_memory_storage_s": memory,
            "export_over_engine": exported / engine, "engine_over_export": engine / exported}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        os.environ["JUPYTER_PIPELINES_HOME"] = os.path.join(folder, "home")
        os.environ.setdefault("JUPYTER_PIPELINES_EMBEDDED", "1")
        build = bench_build(folder, args.repeat)
        w1 = bench_w1(folder, args.repeat)
    rows = [
        ("export zip of a 200-operation chain (best)", f"{build['best_s']:.3f} s", "<= 1 s"),
        ("export zip of a 200-operation chain (first)", f"{build['first_s']:.3f} s", "<= 1 s"),
        ("W1 50-op chain, engine (local compute)", f"{w1['engine_s']:.3f} s", ""),
        ("W1 50-op chain, exported `python main.py`", f"{w1['export_s']:.3f} s", ""),
        ("W1 exported with --storage memory://", f"{w1['export_memory_storage_s']:.3f} s", ""),
        ("W1 exported / engine time", f"{w1['export_over_engine']:.2f}x", "< 1 (faster)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'result':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as file:
        json.dump({"build_200": build, "w1": w1, "python": platform.python_version(),
                   "machine": platform.machine(), "cpus": os.cpu_count(), "repeat": args.repeat},
                  file, indent=2, sort_keys=True)
    print(f"wrote {RESULTS}")
    return 0 if build["best_s"] <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
