"""Real pipelines at in-process speed: W5 (examples/digits.py) and W6 (heavy imports), each against
the same functions called one after the other in one fresh ``python`` process.

    python benchmarks/bench_real.py [--repeat 3]

W5: the scikit-learn digits example (load, split, train, evaluate, and its two outputs) on a warm
embedded engine (local compute, local storage). Its floor is one fresh ``python`` that executes the
four operations' captured sources and calls them in order, imports and start-up included. Two
figures: the first run of the pipeline on the engine (its imports are made once, in the fork
server, while the floor makes them too), and a run after it (they are warm). Target ≤ 1.0.

W6: 10 operations in a chain, each importing a module that takes 2 s to import (``time.sleep(2)``
at its top: written by this script, under a new name for each run, so that no process has it yet);
floor: one fresh ``python`` calling the 10 functions. Target ≤ 1.2.

Writes benchmarks/results/real.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from publish import publish  # noqa: E402

from jupyter_pipelines import Pipeline  # noqa: E402
from jupyter_pipelines.engine import ExecutionManager  # noqa: E402

DIGITS = os.path.join(os.path.dirname(HERE), "examples", "digits.py")


def run(manager: ExecutionManager, pipeline: Pipeline, name: str) -> float:
    started = time.perf_counter()
    record = manager.submit(pipeline, name)
    record = manager.wait(record.project, record.name)
    if record.status != "success":
        raise RuntimeError(f"{name}: {record.status} {record.error} {[(j.node, j.error) for j in record.jobs]}")
    return time.perf_counter() - started


def floor(script: str, env: dict[str, str] | None = None) -> float:
    """Wall time of a fresh ``python`` running ``script`` (start-up included)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(script)
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, file.name], check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started
    finally:
        os.unlink(file.name)


# -- W5 ----------------------------------------------------------------------------------------------------

def load_digits_example() -> Pipeline:
    spec = importlib.util.spec_from_file_location("digits_example", DIGITS)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)  # defines the pipeline; does not run it (not __main__)
    return module.digits


def digits_floor_script(pipeline: Pipeline) -> str:
    """The four operations' captured sources, executed and called in order, in one process."""
    parts = []
    for key in ("load_digits", "split", "train", "evaluate"):
        definition = pipeline.operations[key]
        parts.append(f"namespace_{key} = {{}}\nexec(compile({definition.source!r}, {key!r}, 'exec'), "
                     f"namespace_{key})\n{key} = namespace_{key}[{definition.function!r}]\n")
    parts.append(textwrap.dedent("""
        images, labels = load_digits()
        train_x, test_x, train_y, test_y = split(images, labels, test_fraction=0.25)
        model = train(train_x, train_y, gamma=0.001)
        metrics = evaluate(model, test_x, test_y)
        assert metrics["accuracy"] > 0.9
    """))
    return "\n".join(parts)


def bench_w5(home: str, repeat: int) -> dict[str, float]:
    pipeline = load_digits_example()
    script = digits_floor_script(pipeline)
    floors, first, again = [], [], []
    for i in range(repeat):  # a new engine each time: its fork server has never imported scikit-learn
        manager = ExecutionManager(os.path.join(home, f"w5-{i}"))
        run(manager, warm_pipeline(), "warm")  # the engine is up: a warm embedded engine
        floors.append(floor(script))
        first.append(run(manager, pipeline, "digits"))
        again.append(run(manager, pipeline, "digits"))
        manager.close()
    best_floor = min(floors)
    return {"engine_first_s": min(first), "engine_again_s": min(again), "floor_one_process_s": best_floor,
            "ratio_first": min(first) / best_floor, "ratio_again": min(again) / best_floor, "target": 1.0}


def warm_pipeline() -> Pipeline:
    from workloads import w1_chain

    return w1_chain(3)


# -- W6 ----------------------------------------------------------------------------------------------------

def heavy_chain(folder: str, module: str, length: int = 10) -> Pipeline:
    """A chain of ``length`` operations that each import ``module`` (defined in a module of its own in
    ``folder``, so that its source is captured as usual)."""
    operations = f"w6_operations_{module}"
    with open(os.path.join(folder, f"{operations}.py"), "w") as file:
        file.write(textwrap.dedent(f"""
            from jupyter_pipelines import operation

            @operation
            def heavy_start():
                import {module}
                return {module}.VALUE

            @operation
            def heavy_step(previous):
                import {module}
                return {module}.VALUE + previous
        """))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    defined = importlib.import_module(operations)
    with Pipeline("w6") as pipeline:
        value = defined.heavy_start()
        for _ in range(length - 1):
            value = defined.heavy_step(value)
    return pipeline


def heavy_floor_script(module: str, length: int = 10) -> str:
    return textwrap.dedent(f"""
        def heavy_start():
            import {module}
            return {module}.VALUE

        def heavy_step(previous):
            import {module}
            return {module}.VALUE + previous

        value = heavy_start()
        for _ in range({length} - 1):
            value = heavy_step(value)
        assert value == {length}
    """)


def bench_w6(home: str, repeat: int) -> dict[str, float]:
    folder = os.path.join(home, "heavy-modules")
    os.makedirs(folder)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([folder, *filter(None, [os.environ.get("PYTHONPATH")])])}
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # the engine's fork server finds them too
    manager = ExecutionManager(os.path.join(home, "w6"))
    run(manager, warm_pipeline(), "warm")
    floors, walls = [], []
    for i in range(repeat):
        engine_module, floor_module = f"jp_heavy_engine_{i}", f"jp_heavy_floor_{i}"
        for name in (engine_module, floor_module):
            with open(os.path.join(folder, f"{name}.py"), "w") as file:
                file.write("import time\ntime.sleep(2)\nVALUE = 1\n")
        floors.append(floor(heavy_floor_script(floor_module), env))
        walls.append(run(manager, heavy_chain(folder, engine_module), f"w6-{i}"))
    manager.close()
    return {"engine_s": min(walls), "floor_one_process_s": min(floors), "ratio": min(walls) / min(floors),
            "target": 1.2}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-real-") as home:
        results["W5_digits"] = bench_w5(home, args.repeat)
        results["W6_heavy_imports"] = bench_w6(home, args.repeat)
    publish("real", results)


if __name__ == "__main__":
    main()
