"""Racing submits: every execution ends, whatever order the submitters interleave in."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest
from job_operations import numbers, parity, total
from polling import WAIT

from jupyter_pipelines import Pipeline

pytestmark = pytest.mark.slow

SUBMITTERS = 20
EACH = 20


def crowd() -> Pipeline:
    with Pipeline("crowd") as p:
        evens, odds = parity(numbers(n=4))
        total(evens, odds)
    return p


@pytest.mark.parametrize("workers", [1, 2])
def test_racing_submits_from_threads_all_end(make_engine, workers: int) -> None:
    engine = make_engine(workers=workers)
    pipeline = crowd()
    barrier = threading.Barrier(SUBMITTERS)
    names: list[str] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait(timeout=WAIT)
            names.extend(engine.submit(pipeline, "race").name for _ in range(EACH))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(SUBMITTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert errors == []
    assert len(set(names)) == SUBMITTERS * EACH
    statuses = {name: engine.wait("default", name, timeout=WAIT).status for name in names}
    assert set(statuses.values()) == {"success"}, {n: s for n, s in statuses.items() if s != "success"}


SUBMITTER = textwrap.dedent('''
    import json, os, sys, time
    from jupyter_pipelines.engine import ExecutionManager
    from jupyter_pipelines.pipeline import Pipeline

    home, go, count, workers, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    with open(source) as file:
        pipeline = Pipeline.from_json(file.read())
    manager = ExecutionManager(home, workers=workers)
    while not os.path.exists(go):
        time.sleep(0.005)
    names = [manager.submit(pipeline, "race").name for _ in range(count)]
    statuses = [manager.wait(pipeline.project, name, timeout=120).status for name in names]
    manager.close()
    print(json.dumps(dict(zip(names, statuses))))
''')


@pytest.mark.parametrize("workers", [1, 2])
def test_racing_submits_from_processes_all_end(pipelines_home, tmp_path, workers: int) -> None:
    go = tmp_path / "go"
    source = tmp_path / "pipeline.json"
    source.write_text(crowd().to_json())
    processes = [subprocess.Popen([sys.executable, "-c", SUBMITTER, pipelines_home, str(go), str(EACH), str(workers),
                                   str(source)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(SUBMITTERS)]
    go.touch()  # the interpreters race from whenever each is ready
    statuses: dict[str, str] = {}
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        statuses.update(json.loads(out.strip().splitlines()[-1]))
    assert len(statuses) == SUBMITTERS * EACH
    assert set(statuses.values()) == {"success"}, {n: s for n, s in statuses.items() if s != "success"}
