"""The store at scale: list, one execution and submit latencies at 1 000 → 100 000 executions.

    python benchmarks/bench_store.py [--sizes 1000,10000,100000] [--samples 200]

For each size, a store holding that many executions of a 5-operation pipeline is built by
copying, with new ids and names, the rows a real run of that pipeline wrote (its execution, jobs,
attempts, tag and events), then measured through the ExecutionManager, as the REST handlers and
the embedded API call it:
- list: one page (50) of ``GET executions``, newest first, and a page deep in the history (p99);
- one: ``GET executions/{name}`` of random executions, with jobs, attempts and graph (p99);
- submit: a new execution of the same pipeline with a name used many times before (p99 of the
  submit call; each run is awaited, untimed, before the next);
- the store's file size, and what compacting the event log of old executions leaves.
Targets at 100 000: list p99 ≤ 50 ms, one p99 ≤ 10 ms, submit p99 ≤ 20 ms.
Writes benchmarks/results/store.json.
"""
from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publish import publish  # noqa: E402

from jupyter_pipelines import Pipeline, operation  # noqa: E402
from jupyter_pipelines.engine import ExecutionManager  # noqa: E402


@operation
def source(n: int = 3):
    return list(range(n))


@operation
def step(values, k: int = 1):
    return [v + k for v in values]


def five_operations() -> Pipeline:
    with Pipeline("scale", project="bench") as pipeline:
        value = source()
        for k in range(4):
            value = step(value, k=k)
    return pipeline


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def fill(home: str, count: int) -> None:
    """Run the pipeline once for real, then copy its rows ``count - 1`` times in a few transactions."""
    manager = ExecutionManager(home, workers=2)
    try:
        record = manager.submit(five_operations(), "seed")
        manager.wait(record.project, record.name, timeout=120)
    finally:
        manager.close()
    db = sqlite3.connect(os.path.join(home, "pipelines.db"), isolation_level=None)
    db.row_factory = sqlite3.Row
    execution = dict(db.execute("SELECT * FROM executions").fetchone())
    jobs = [dict(row) for row in db.execute("SELECT * FROM jobs")]
    attempts = [dict(row) for row in db.execute("SELECT * FROM attempts")]
    events = [dict(row) for row in db.execute("SELECT * FROM events ORDER BY seq")]
    tag = dict(db.execute("SELECT * FROM tags").fetchone())

    def insert(table: str, rows: list[dict]) -> None:
        if rows:
            columns = list(rows[0])
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                           [[row[c] for c in columns] for row in rows])

    batch = 5000
    for start in range(2, count + 1, batch):
        db.execute("BEGIN")
        rows: dict[str, list[dict]] = {"executions": [], "jobs": [], "attempts": [], "events": [], "tags": []}
        for number in range(start, min(count, start + batch - 1) + 1):
            name = f"run_{number}"
            rows["executions"].append({**execution, "id": number, "name": name})
            rows["jobs"] += [{**job, "execution_id": number} for job in jobs]
            rows["attempts"] += [{**attempt, "execution_id": number} for attempt in attempts]
            rows["events"] += [{**event, "seq": None, "execution_id": number, "execution": name} for event in events]
            rows["tags"].append({**tag, "name": name, "execution_id": number})
        for table, table_rows in rows.items():
            insert(table, table_rows)
        db.execute("COMMIT")
    # as if each had been submitted with the name "run": the engine counts the names it gave
    db.execute("INSERT INTO name_counters (project, base, last) VALUES (?, 'run', ?)", (execution["project"], count))
    db.close()


def measure(home: str, count: int, samples: int) -> dict[str, float]:
    manager = ExecutionManager(home, workers=2)
    try:
        names = [f"run_{n}" for n in random.Random(0).sample(range(2, count + 1), min(samples, count - 1))]

        def timed(call) -> list[float]:
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                call()
                times.append(time.perf_counter() - started)
            return times

        first_page = timed(lambda: manager.page(project="bench", limit=50))
        middle = str(count // 2)
        deep_page = timed(lambda: manager.page(project="bench", limit=50, before=middle))
        ones = []
        for name in names:
            started = time.perf_counter()
            manager.describe("bench", name)
            ones.append(time.perf_counter() - started)
        pipeline = five_operations()
        submits = []
        for _ in range(min(50, samples)):
            started = time.perf_counter()
            record = manager.submit(pipeline, "run")  # "run_<N>" names exist: the free-name lookup is exercised
            submits.append(time.perf_counter() - started)
            manager.wait(record.project, record.name, timeout=120)
        db_path = os.path.join(home, "pipelines.db")
        size = sum(os.path.getsize(db_path + suffix) for suffix in ("", "-wal") if os.path.exists(db_path + suffix))
        dropped = manager.compact(older_than_days=-1)
    finally:
        manager.close()
    vacuum = sqlite3.connect(db_path)
    vacuum.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    vacuum.execute("VACUUM")
    vacuum.close()
    return {"executions": count, "list_p50_ms": 1000 * percentile(first_page, 0.5),
            "list_p99_ms": 1000 * percentile(first_page, 0.99), "deep_list_p99_ms": 1000 * percentile(deep_page, 0.99),
            "one_p50_ms": 1000 * percentile(ones, 0.5), "one_p99_ms": 1000 * percentile(ones, 0.99),
            "submit_p50_ms": 1000 * percentile(submits, 0.5), "submit_p99_ms": 1000 * percentile(submits, 0.99),
            "store_mb": size / 1e6, "events_dropped_by_compact": dropped,
            "store_mb_after_compact": os.path.getsize(db_path) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for count in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-store-") as home:
            started = time.perf_counter()
            fill(home, count)
            filled = time.perf_counter() - started
            figures = measure(home, count, args.samples)
            figures["fill_s"] = filled
            results[f"{count} executions"] = figures
    publish("store", results, targets={"list_p99_ms": 50, "one_p99_ms": 10, "submit_p99_ms": 20})


if __name__ == "__main__":
    main()
