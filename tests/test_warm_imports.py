"""Warm imports: the modules operations import are imported once, by the fork server, before the jobs
that need them; an import that fails or has side effects is left to the jobs, which say so in their logs."""
from __future__ import annotations

import os
import textwrap

import psutil
import pytest
from polling import WAIT, gone, wait_until

from jupyter_pipelines import Pipeline, operation
from jupyter_pipelines.compute.plumbing.forkserver import ForkServer, read_outcome
from jupyter_pipelines.runner.imports import filesystem_modules, modules_of

pytestmark = pytest.mark.timeout(180)

MODULES = {
    # records the pid of each process that imports it
    "warm_probe_mod": """
        import os
        with open(os.environ["WARM_PROBE_FILE"], "a") as file:
            file.write(f"{os.getpid()}\\n")
        VALUE = 42
    """,
    # a side effect that forks must not inherit: a thread that keeps running
    "warm_thread_mod": """
        import threading, time
        threading.Thread(target=time.sleep, args=(3600,), name="started-at-import", daemon=True).start()
    """,
    # another: a process that keeps running
    "warm_process_mod": """
        import os, subprocess, sys
        PROCESS = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        with open(os.environ["WARM_PROBE_FILE"] + ".spawned", "a") as file:
            file.write(f"{PROCESS.pid}\\n")
    """,
    # an import that fails
    "warm_broken_mod": """
        raise RuntimeError("this module refuses to be imported")
    """,
}


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """The modules above on the path of this process and of the fork servers started from now on."""
    folder = tmp_path / "modules"
    folder.mkdir()
    for name, text in MODULES.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("WARM_PROBE_FILE", str(tmp_path / "imported-by"))
    monkeypatch.syspath_prepend(str(folder))
    yield tmp_path / "imported-by"
    spawned = tmp_path / "imported-by.spawned"
    if spawned.exists():
        for pid in spawned.read_text().split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass


@operation
def probe():
    import os

    import warm_probe_mod

    return [os.getpid(), warm_probe_mod.VALUE]


@operation
def probe_again(previous):
    import os

    from warm_probe_mod import VALUE

    return previous + [os.getpid(), VALUE]


@operation
def with_thread_module():
    import sys
    import threading

    import warm_thread_mod  # noqa: F401

    return threading.active_count(), "warm_thread_mod" in sys.modules


@operation
def with_process_module():
    import warm_process_mod  # noqa: F401

    return "imported"


@operation
def with_broken_module():
    try:
        import warm_broken_mod  # noqa: F401
    except RuntimeError as error:
        return f"fell back: {error}"
    return "imported"


@operation
def state_of_the_fork(after):
    import sys
    import threading

    return {"threads": threading.active_count(),
            "modules": sorted(m for m in ("warm_thread_mod", "warm_process_mod", "warm_broken_mod") if m in sys.modules)}


def test_modules_of_finds_absolute_imports_at_module_level_and_inside_functions() -> None:
    source = textwrap.dedent("""
        from __future__ import annotations
        import numpy as np
        from . import sibling
        from .sibling import thing
        from pandas import *

        def train(x):
            from sklearn.svm import SVC
            import os.path, json
            from sklearn import datasets
            return SVC
    """)
    found = modules_of(source)
    assert sorted(found) == sorted(["numpy", "pandas", "sklearn.svm", "sklearn.svm.SVC", "os.path", "json", "sklearn",
                                    "sklearn.datasets"])
    assert found.index("numpy") < found.index("sklearn.svm") < found.index("sklearn.svm.SVC")
    assert modules_of("def broken(:\n") == [] and modules_of(None) == []
    assert filesystem_modules(["file", "memory", "s3", None]) == ["s3fs"]


def test_an_operations_imports_are_made_once_by_the_fork_server(engine, modules) -> None:
    with Pipeline("warm") as p:
        probe_again(probe())
    ex = p.run(name="warm", wait=True)
    assert ex.status == "success", ex.jobs
    first_job, value, second_job, again = ex.result("probe_again")
    assert value == again == 42
    importers = [int(pid) for pid in modules.read_text().split()]
    assert len(importers) == 1, "imported once, not again by each job"
    assert importers[0] not in (first_job, second_job)
    server = psutil.Process(importers[0])  # a fork server's process, still serving
    assert "jupyter_pipelines.runner.forkserver" in " ".join(server.cmdline())
    assert first_job in [child.pid for child in server.children()] or gone(first_job)
    assert "not imported ahead" not in ex.logs("probe") + ex.logs("probe_again")


@pytest.mark.parametrize("op, module, why", [
    (with_thread_module, "warm_thread_mod", "started 1 thread(s) that still run (started-at-import)"),
    (with_process_module, "warm_process_mod", "started 1 process(es) that still run"),
    (with_broken_module, "warm_broken_mod", "raised RuntimeError: this module refuses to be imported"),
])
def test_an_import_that_fails_or_has_side_effects_is_left_to_its_jobs(engine, modules, op, module, why) -> None:
    with Pipeline("sideeffects") as p:
        done = op()
        probe()
        state_of_the_fork(done)
    ex = p.run(name="side-effects", wait=True)
    assert ex.status == "success", ex.jobs
    log = ex.logs(op.name)
    line = next(line for line in log.splitlines() if "not imported ahead" in line)
    assert line.startswith("[pipelines] ") and module in line and why in line
    assert log.count("not imported ahead") == 1
    result = ex.result(op.name)
    if module == "warm_thread_mod":
        assert result == (2, True)  # the job's own import started the thread in the job
    elif module == "warm_broken_mod":
        assert result == "fell back: this module refuses to be imported"
    # nothing of it reached the process jobs fork from: a job started after it has neither the module nor a thread
    assert ex.result("state_of_the_fork") == {"threads": 1, "modules": []}
    assert ex.result("probe")[1] == 42  # the other jobs ran as usual
    assert "not imported ahead" not in ex.logs("probe") + ex.logs("state_of_the_fork")


def test_the_process_an_import_started_is_ended_with_its_candidate(modules) -> None:
    server = ForkServer()
    try:
        server.warm(["warm_process_mod"])
        conn, _ = server.child(["warm_process_mod"])
        conn.close()
        assert "started 1 process(es)" in server.refused["warm_process_mod"]
        spawned = [int(pid) for pid in (modules.parent / "imported-by.spawned").read_text().split()]
        wait_until(lambda: all(gone(pid) for pid in spawned), what="the process started at import to end")
    finally:
        server.close()


def test_a_job_waits_only_for_the_warm_imports_it_needs(modules, tmp_path) -> None:
    """A job that needs none of the modules being warmed is forked at once, from the head it finds."""
    (tmp_path / "modules" / "warm_slow_mod.py").write_text("import time\ntime.sleep(30)\n")
    server = ForkServer()
    try:
        server.warm(["warm_slow_mod"])
        wait_until(lambda: "json" in server.have, what="the server to say what it has imported already")
        conn, pid = server.child(["json"])  # does not wait for warm_slow_mod (30 s)
        spec = {"node": "n", "kind": "operation", "function": "f", "inputs": {},
                "source": "def f():\n    import sys\n    return 'warm_slow_mod' in sys.modules\n",
                "outputs": {"output": str(tmp_path / "out")}, "storage": {"protocol": "file", "options": {}}}
        conn.send((spec, str(tmp_path / "log")))
        outcome, code = read_outcome(conn)
        conn.close()
        assert outcome["status"] == "success" and code == 0
        assert server.queue == ["warm_slow_mod"], "the job did not wait for the import it does not need"
    finally:
        server.close()
    assert WAIT  # (bounded waits only)


@operation
def waits_for_slow_import():
    import warm_slow_mod  # noqa: F401

    return "imported"


def test_a_job_waiting_for_its_imports_is_canceled_at_once(engine, modules, tmp_path) -> None:
    (tmp_path / "modules" / "warm_slow_mod.py").write_text("import time\ntime.sleep(60)\n")
    with Pipeline("slow-import") as p:
        waits_for_slow_import()
    ex = p.run(name="slow-import")
    forkserver = next(iter(engine.computes._entries.values())).ready.result().forkserver
    wait_until(lambda: "warm_slow_mod" in forkserver.queue, what="the import to be under way")
    ex.cancel()
    assert ex.wait(30).status == "canceled"  # not after the 60 s import
    assert ex.jobs["waits_for_slow_import"]["status"] == "canceled"


def test_a_head_that_died_is_replaced_by_the_root(modules, tmp_path) -> None:
    """Jobs fork from the root again when the process that kept an import is killed; the import is made again."""
    server = ForkServer()
    try:
        conn, _ = server.child(["warm_probe_mod"])
        conn.close()
        head = server.address
        assert head != server.root
        head_pid = int(os.path.basename(head).rpartition("-")[2])
        os.kill(head_pid, 9)
        wait_until(lambda: gone(head_pid), what="the head to die")
        conn, _ = server.child()  # from the root, which goes on
        conn.close()
        conn, pid = server.child(["warm_probe_mod"])  # the import is made again, in a new head
        conn.close()
        assert server.address not in (head, server.root)
        importers = [int(line) for line in modules.read_text().split()]
        assert len(importers) == 2 and pid not in importers
    finally:
        server.close()


@operation
def needs_nothing():
    return "done"


def test_an_execution_does_not_wait_for_imports_its_first_jobs_do_not_need(engine, modules, tmp_path) -> None:
    """The execution's imports are warmed as it starts, in the background: a job that needs none of them
    runs while a 60 s import is under way, and ends."""
    (tmp_path / "modules" / "warm_slow_mod.py").write_text("import time\ntime.sleep(60)\n")
    with Pipeline("mixed") as p:
        waits_for_slow_import()
        needs_nothing()
    ex = p.run(name="mixed")
    try:
        wait_until(lambda: ex.jobs["needs_nothing"]["status"] == "success", what="the job that needs no import")
        assert ex.jobs["waits_for_slow_import"]["status"] in ("pending", "queued", "running")
        forkserver = next(iter(engine.computes._entries.values())).ready.result().forkserver
        assert forkserver.queue[:1] == ["warm_slow_mod"]  # still importing
    finally:
        ex.cancel()
    assert ex.wait(30).status == "canceled"
