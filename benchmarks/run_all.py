"""Run every benchmark, one fresh process each, then print the figures beside their targets.

    python benchmarks/run_all.py [--quick] [--only engine,real,...] [--skip store,...]

Each script measures its own floors in its own run (see benchmarks/README.md) and writes
benchmarks/results/<name>.json; this prints a summary of them. ``--quick`` runs fewer repeats and
the store at 1 000 and 10 000 executions only (the full store benchmark builds 100 000).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

#: name -> (script, full arguments, quick arguments)
BENCHMARKS = {
    "engine": ("bench_engine.py", ["--repeat", "3"], ["--repeat", "2"]),
    "job_cost": ("bench_job_cost.py", [], ["--jobs", "100"]),
    "real": ("bench_real.py", ["--repeat", "3"], ["--repeat", "1"]),
    "startup": ("bench_startup.py", ["--repeat", "7"], ["--repeat", "3"]),
    "backends": ("bench_backends.py", ["--repeat", "2"], ["--repeat", "1"]),
    "cluster": ("bench_cluster.py", ["--repeat", "3"], ["--repeat", "1"]),
    "export": ("bench_export.py", ["--repeat", "3"], ["--repeat", "1"]),
    "server": ("bench_server.py", [], []),
    "store": ("bench_store.py", [], ["--sizes", "1000,10000", "--samples", "100"]),
    "browser": ("bench_browser.py", ["--repeat", "5"], ["--repeat", "2"]),
}


def figure(name: str, *path: str) -> float | None:
    try:
        with open(os.path.join(RESULTS, f"{name}.json")) as file:
            data = json.load(file)
    except (OSError, ValueError):
        return None
    data = data.get("results", data)
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data if isinstance(data, (int, float)) else None


#: (label, target, result file, path in it, unit)
SUMMARY = [
    ("W1 per-operation overhead", "<= 2.5 ms", "engine", ("W1", "per_operation_s"), "ms"),
    ("W1 / fresh-python floor", "<= 0.5", "engine", ("W1", "ratio"), ""),
    ("one W1 job: CPU of its process", "report", "job_cost", ("per_job", "job_process_cpu_ms"), "ms"),
    ("W2 wall / ideal (local)", "<= 1.15", "engine", ("W2", "ratio"), ""),
    ("W3 wall / floor", "<= 1.2", "engine", ("W3", "ratio"), ""),
    ("W5 digits, first run / one process", "<= 1.0", "real", ("W5_digits", "ratio_first"), ""),
    ("W5 digits, again / one process", "report", "real", ("W5_digits", "ratio_again"), ""),
    ("W6 heavy imports / one process", "<= 1.2", "real", ("W6_heavy_imports", "ratio"), ""),
    ("start-up: script -> operation running", "<= 0.3 s", "startup", ("startup", "script_to_running_s"), "s"),
    ("dask W1 (fused) / client.submit", "<= 2", "backends", ("dask", "w1_ratio"), ""),
    ("dask W1, one task per job / client.submit", "<= 1.5", "backends", ("dask", "w1_one_task_per_job_ratio"), ""),
    ("dask W2 / client.submit", "<= 2", "backends", ("dask", "w2_ratio"), ""),
    ("W2 on 4 external workers, S3 / ideal", "report", "cluster", ("W2_external", "ratio_to_ideal"), ""),
    ("store: list p99 at 100 000", "<= 50 ms", "store", ("100000 executions", "list_p99_ms"), "ms"),
    ("store: one p99 at 100 000", "<= 10 ms", "store", ("100000 executions", "one_p99_ms"), "ms"),
    ("store: submit p99 at 100 000", "<= 20 ms", "store", ("100000 executions", "submit_p99_ms"), "ms"),
    ("print -> SSE client p95, idle", "<= 100 ms", "server", ("print_to_sse_idle", "p95_ms"), "ms"),
    ("print -> SSE client p95, 20 running + 10 MB flood", "<= 100 ms", "server",
     ("print_to_sse_20_running_and_a_10MB_flood", "p95_ms"), "ms"),
    ("server CPU per idle event stream, % of a core", "<= 1", "server",
     ("server_cpu_per_idle_stream", "percent_of_a_core"), ""),
    ("print -> side panel DOM p95", "<= 250 ms", "browser", ("panel_print_to_dom", "p95_ms"), "ms"),
    ("print -> notebook status view DOM p95", "<= 250 ms", "browser",
     ("notebook_status_view_print_to_dom", "p95_ms"), "ms"),
    ("200-operation graph in the panel, median", "<= 1000 ms", "browser",
     ("panel_graph_200_operations_first_in_page", "dom_median_ms"), "ms"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(BENCHMARKS))
    parser.add_argument("--skip", default="")
    args = parser.parse_args()
    chosen = [name for name in (args.only.split(",") if args.only else BENCHMARKS) if name]
    skipped = set(filter(None, args.skip.split(",")))
    failed = []
    for name in chosen:
        if name in skipped:
            continue
        script, full, quick = BENCHMARKS[name]
        print(f"== {name}: {script} {' '.join(quick if args.quick else full)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, os.path.join(HERE, script), *(quick if args.quick else full)])
        print(f"   ({time.perf_counter() - started:.0f} s{', FAILED' if code else ''})", flush=True)
        if code:
            failed.append(name)
    print("\n| measure | figure | target |\n|---|---|---|")
    for label, target, name, path, unit in SUMMARY:
        value = figure(name, *path)
        if value is None:
            continue
        shown = f"{value * 1000:.2f} ms" if unit == "ms" and "_ms" not in path[-1] else \
            f"{value:.2f} ms" if unit == "ms" else f"{value:.3f} s" if unit == "s" else f"{value:.2f}"
        print(f"| {label} | {shown} | {target} |")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
