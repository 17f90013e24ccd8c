"""Start-up: a plain script that defines a one-operation pipeline and runs it on the embedded engine,
from the start of its process to its operation running; beside the same function called by a fresh
``python`` (the floor: an interpreter starting and calling it).

    python benchmarks/bench_startup.py [--repeat 5]

Each run is a new ``python`` process with a new engine home and no Jupyter server to find (an
empty runtime directory: the discovery itself still runs, as in any script). The operation's
first line writes ``time.time()``; the process start is taken just before it is spawned. Target:
≤ 0.3 s. Writes benchmarks/results/startup.json.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publish import publish  # noqa: E402

SCRIPT = textwrap.dedent("""
    import sys
    from jupyter_pipelines import Pipeline, operation

    @operation
    def first(path: str = ""):
        import time
        stamp = time.time()
        with open(path, "w") as file:
            file.write(repr(stamp))
        return 1

    with Pipeline("startup") as pipeline:
        first(path=sys.argv[1])

    if __name__ == "__main__":
        execution = pipeline.run(wait=True)
        assert execution.status == "success", execution
""")

FLOOR = textwrap.dedent("""
    import sys

    def first(path=""):
        import time
        stamp = time.time()
        with open(path, "w") as file:
            file.write(repr(stamp))
        return 1

    first(sys.argv[1])
""")


def once(script: str, folder: str, env: dict[str, str]) -> float:
    stamp = os.path.join(folder, "stamp")
    started = time.time()
    subprocess.run([sys.executable, script, stamp], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with open(stamp) as file:
        return float(file.read()) - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engine, floor = [], []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        script, floor_script = os.path.join(folder, "pipeline.py"), os.path.join(folder, "floor.py")
        with open(script, "w") as file:
            file.write(SCRIPT)
        with open(floor_script, "w") as file:
            file.write(FLOOR)
        runtime = os.path.join(folder, "runtime")
        os.mkdir(runtime)
        for i in range(args.repeat):  # interleaved: both see the same machine
            env = {**os.environ, "JUPYTER_PIPELINES_HOME": os.path.join(folder, f"home-{i}"),
                   "JUPYTER_RUNTIME_DIR": runtime}
            env.pop("JUPYTER_PIPELINES_EMBEDDED", None)
            env.pop("JUPYTER_PIPELINES_URL", None)
            floor.append(once(floor_script, folder, env))
            engine.append(once(script, folder, env))
    best, base = min(engine), min(floor)
    publish("startup", {"startup": {"script_to_running_s": best, "median_s": sorted(engine)[len(engine) // 2],
                                    "floor_python_s": base, "ratio": best / base, "target_s": 0.3}})


if __name__ == "__main__":
    main()
