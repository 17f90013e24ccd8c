"""Where the benchmarks put their figures: a table on the terminal, JSON in benchmarks/results/."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def publish(name: str, results: Mapping[str, Mapping[str, float]], **context: Any) -> None:
    """Print one line per workload and write ``results/<name>.json`` (with ``context``, e.g. cores)."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as file:
        json.dump({**context, "results": results} if context else results, file, indent=2)
    for key, value in context.items():
        print(f"{key}: {value}")
    for workload, figures in results.items():
        print(workload, "  ".join(f"{key}={value:.4g}" for key, value in figures.items()))
