"""The ``dask`` compute backend on a real LocalCluster with two process workers."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from typing import Any

import psutil
import pytest

distributed = pytest.importorskip("distributed")

from job_operations import (  # noqa: E402
    broken,
    cancel_kills_its_daemons,
    chatty,
    daemons,
    join2,
    numbers,
    parity,
    plant_link,
    start,
    total,
    tree,
    waits_for_failure,
)
from polling import WAIT, gone, wait_until  # noqa: E402

from jupyter_pipelines import Pipeline, operation  # noqa: E402
from jupyter_pipelines.compute.base import ComputeBackend, Job, JobResult  # noqa: E402
from jupyter_pipelines.compute.dask import WORKER_DIED, DaskCompute, check_storage  # noqa: E402
from jupyter_pipelines.errors import BadRequest  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as local:
        yield local


@pytest.fixture
def dask_compute(cluster) -> dict[str, Any]:
    return {"backend": "dask", "config": {"scheduler": cluster.scheduler_address, "preload": ""}}


# -- operations ------------------------------------------------------------------------------------------


@operation
def whoami(tag: str = ""):
    return os.getpid()


@operation
def once_slow(folder: str = ""):
    """The first run records its pid and hangs; a later run returns at once."""
    marker = os.path.join(folder, "first-run.json")
    if not os.path.exists(marker):
        with open(marker, "w") as file:
            json.dump(os.getpid(), file)
        time.sleep(300)
    return "second run"


@operation
def once_slow_after(data, folder: str = ""):
    """``once_slow`` as the second job of a chain."""
    marker = os.path.join(folder, "first-run.json")
    if not os.path.exists(marker):
        with open(marker, "w") as file:
            json.dump(os.getpid(), file)
        time.sleep(300)
    return data + 1


@operation
def increment(data):
    return data + 1


@operation
def sleeper(release: str = ""):
    deadline = time.time() + 60
    while not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.05)
    return 1


@operation
def scores(draw: bool = False):
    if draw:
        import matplotlib.pyplot as plt

        plt.plot([1, 2])
        plt.show()
    return {"accuracy": 0.9}


# -- helpers ---------------------------------------------------------------------------------------------


def simple_pipeline(name: str = "simple") -> Pipeline:
    with Pipeline(name) as p:
        data = numbers(n=6)
        evens, odds = parity(data)
        total(evens, odds)
    return p


# -- tests -----------------------------------------------------------------------------------------------

def test_schema_is_declared() -> None:
    schema = DaskCompute.schema()
    names = [field["name"] for field in schema["fields"]]
    assert schema["name"] == "dask"
    assert {"scheduler", "workers", "resources", "retries"} <= set(names)


def test_pipeline_runs_on_dask(make_engine, dask_compute) -> None:
    engine = make_engine()
    ex = simple_pipeline().run(name="on-dask", compute=dask_compute, wait=True)
    assert ex.status == "success", ex.jobs
    assert ex.result("parity", "evens") == [0, 2, 4]
    assert ex.result("total") == 15
    record = engine.get("default", "on-dask")
    assert record.compute["backend"] == "dask"
    assert all(job.exit_code == 0 and job.pid for job in record.jobs)


def test_each_job_is_its_own_process_on_a_worker(make_engine, dask_compute, cluster) -> None:
    make_engine()
    with Pipeline("pids") as p:
        for tag in "abc":
            whoami(tag=tag)
    ex = p.run(compute=dask_compute, wait=True)
    assert ex.status == "success", ex.jobs
    pids = [ex.result(node) for node in ("whoami", "whoami_2", "whoami_3")]
    assert len(set(pids)) == 3
    with distributed.Client(cluster, set_as_default=False) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert not set(pids) & (worker_pids | {os.getpid()})


def test_logs_come_back_live(make_engine, dask_compute, tmp_path) -> None:
    engine = make_engine()
    release = str(tmp_path / "release")
    with Pipeline("logs") as p:
        chatty(release=release)
    ex = p.run(name="chat", compute=dask_compute)
    try:
        wait_until(lambda: "hello from the job" in engine.job_log("default", "chat", "chatty"), what="the log line")
        assert engine.get("default", "chat").job("chatty").status == "running"
    finally:
        open(release, "w").close()
    assert ex.wait(WAIT).status == "success"
    log = ex.logs("chatty")
    assert log.index("hello from the job") < log.index("released")


def test_failure_semantics_match_local(make_engine, dask_compute) -> None:
    engine = make_engine()
    with Pipeline("failing") as p:
        s = start()
        bad = broken(s)
        slow = waits_for_failure(s, db=engine.store.path, failing="broken")
        join2(bad, slow)
    ex = p.run(name="fails", compute=dask_compute, wait=True)
    assert ex.status == "failed"
    jobs = ex.jobs
    assert jobs["start"]["status"] == "success"
    assert jobs["broken"]["status"] == "failed"
    assert jobs["waits_for_failure"]["status"] == "success"
    assert jobs["join2"]["status"] == "skipped"
    assert jobs["broken"]["error"] == "ValueError: bad value 1"
    trace = jobs["broken"]["traceback"]
    assert "in inner" in trace and 'raise ValueError(f"bad value {value}")' in trace
    assert "jupyter_pipelines" not in trace
    assert engine.get("default", "fails").error == "operation 'broken' failed: ValueError: bad value 1"
    assert "bad value 1" in ex.logs("broken")


def test_cancel_kills_the_job_process_tree(make_engine, dask_compute, tmp_path) -> None:
    engine = make_engine()
    pids_file = str(tmp_path / "pids.json")
    with Pipeline("canceling") as p:
        data = tree(pids=pids_file)
        total(data, data)
    ex = p.run(name="cancel-me", compute=dask_compute)
    wait_until(lambda: os.path.exists(pids_file) and os.path.getsize(pids_file), what="the job's processes")
    pids = json.load(open(pids_file))
    assert len(pids) >= 4
    assert engine.get("default", "cancel-me").job("tree").status == "running"
    ex.cancel()
    wait_until(lambda: all(gone(pid) for pid in pids), timeout=30, what="the process tree to die")
    assert ex.wait(WAIT).status == "canceled"
    assert ex.jobs["tree"]["status"] == "canceled"
    assert ex.jobs["total"]["status"] == "canceled"


def test_linear_chains_run_as_one_task_each(make_engine, dask_compute, monkeypatch) -> None:
    """start -> a -> b is one chain; start has two consumers, so c -> d is another; join2 a third."""
    chains: list[list[str]] = []
    submit_chain = DaskCompute.submit_chain

    def recording(self, jobs, after=()):
        chains.append([job.node for job, _ in jobs])
        return submit_chain(self, jobs, after)

    monkeypatch.setattr(DaskCompute, "submit_chain", recording)
    engine = make_engine()
    with Pipeline("chains") as p:
        s = start()
        b = increment(increment(s))
        d = increment(increment(s))
        join2(b, d)
    ex = p.run(name="chains", compute=dask_compute, wait=True)
    assert ex.status == "success", ex.jobs
    assert ex.result("join2") == [3, 3]
    assert chains == [["start"], ["increment", "increment_2"], ["increment_3", "increment_4"], ["join2"]]
    jobs = engine.get("default", "chains").jobs
    assert len({job.pid for job in jobs}) == 6  # still one process per job
    assert all(job.status == "success" and job.started and job.ended for job in jobs)


def test_one_task_per_job_chains_on_futures(make_engine, dask_compute, monkeypatch) -> None:
    """The interface's default ``submit_chain`` (one ``submit`` per job, each after the one before)."""
    monkeypatch.setattr(DaskCompute, "submit_chain", ComputeBackend.submit_chain)
    make_engine()
    ex = simple_pipeline("unfused").run(compute=dask_compute, wait=True)
    assert ex.status == "success", ex.jobs
    assert ex.result("total") == 15


@pytest.mark.parametrize("fused", [True, False])
def test_a_failure_inside_a_chain_skips_the_rest_of_it(make_engine, dask_compute, monkeypatch, fused) -> None:
    if not fused:
        monkeypatch.setattr(DaskCompute, "submit_chain", ComputeBackend.submit_chain)
    make_engine()
    with Pipeline("chain-fails") as p:
        increment(increment(broken(start())))
    ex = p.run(name="chain-fails", compute=dask_compute, wait=True)
    assert ex.status == "failed"
    assert [ex.jobs[node]["status"] for node in ("start", "broken", "increment", "increment_2")] == \
        ["success", "failed", "skipped", "skipped"]
    assert ex.jobs["broken"]["error"] == "ValueError: bad value 1"


def test_memory_storage_is_refused(make_engine, dask_compute) -> None:
    make_engine()
    with pytest.raises(BadRequest, match="memory"):
        check_storage({"protocol": "memory", "options": {}})
    with pytest.raises(BadRequest, match="'memory' storage"):
        simple_pipeline("mem").run(compute=dask_compute, storage="memory", wait=True)


def _worker_of(pid: int, worker_pids: set[int]) -> int:
    process = psutil.Process(pid)
    while process is not None and process.pid not in worker_pids:
        process = process.parent()
    assert process is not None, "the job process does not descend from a Dask worker"
    return process.pid


@pytest.mark.parametrize("retries", [0, 1])
def test_a_worker_dying_mid_job(make_engine, cluster, tmp_path, retries) -> None:
    make_engine()  # the engine p.run submits to
    folder = tmp_path / "runs"
    folder.mkdir()
    with Pipeline("dies") as p:
        once_slow(folder=str(folder))
    compute = {"backend": "dask", "config": {"scheduler": cluster.scheduler_address, "preload": "",
                                             "retries": retries}}
    ex = p.run(name="dies", compute=compute)
    marker = folder / "first-run.json"
    wait_until(lambda: marker.exists() and marker.stat().st_size, what="the job to start")
    job_pid = json.loads(marker.read_text())
    with distributed.Client(cluster, set_as_default=False) as client:
        worker_pids = set(client.run(os.getpid).values())
    os.kill(_worker_of(job_pid, worker_pids), signal.SIGKILL)
    wait_until(lambda: gone(job_pid), timeout=30, what="the dead worker's job process to be killed")
    ex.wait(WAIT)
    job = ex.jobs["once_slow"]
    if retries == 0:
        assert ex.status == "failed"
        assert job["status"] == "failed" and WORKER_DIED in job["error"]
    else:
        assert ex.status == "success", job
        assert ex.result("once_slow") == "second run"
        assert "running the job again" in ex.logs("once_slow")
    wait_until(lambda: len(cluster.scheduler_info["workers"]) == 2, timeout=60, what="the worker to come back")


def test_a_worker_dying_inside_a_chain(make_engine, cluster, tmp_path) -> None:
    """The chain runs again on another worker; the job that had ended keeps its first report."""
    engine = make_engine()
    folder = tmp_path / "runs"
    folder.mkdir()
    with Pipeline("chain-dies") as p:
        increment(once_slow_after(start(), folder=str(folder)))
    compute = {"backend": "dask", "config": {"scheduler": cluster.scheduler_address, "preload": "", "retries": 1}}
    ex = p.run(name="chain-dies", compute=compute)
    marker = folder / "first-run.json"
    wait_until(lambda: marker.exists() and marker.stat().st_size, what="the job to start")
    # The end of ``start`` reaches the engine as a Dask event, which may arrive after the next job
    # of the chain wrote its marker on the worker.
    first_start = wait_until(lambda: (job := engine.get("default", "chain-dies").job("start")).status == "success"
                             and job, what="the engine to hear that 'start' ended")
    job_pid = json.loads(marker.read_text())
    with distributed.Client(cluster, set_as_default=False) as client:
        worker_pids = set(client.run(os.getpid).values())
    os.kill(_worker_of(job_pid, worker_pids), signal.SIGKILL)
    assert ex.wait(WAIT).status == "success", ex.jobs
    assert ex.result("increment") == 3
    assert "running the job again" in ex.logs("once_slow_after")
    record = engine.get("default", "chain-dies")
    assert record.job("start").pid == first_start.pid and record.job("start").ended == first_start.ended
    wait_until(lambda: len(cluster.scheduler_info["workers"]) == 2, timeout=60, what="the worker to come back")


@pytest.mark.parametrize("forkserver", [True, False])
def test_credentials_never_in_argv(cluster, tmp_path, forkserver) -> None:
    secret = f"S3CR3T-{uuid.uuid4().hex}"
    release = str(tmp_path / "release")
    source = ("import os, time\n"
              "def hold(release=''):\n"
              "    deadline = time.time() + 60\n"
              "    while not os.path.exists(release) and time.time() < deadline:\n"
              "        time.sleep(0.05)\n"
              "    return os.getpid()\n")
    spec = {"node": "hold", "kind": "operation", "function": "hold", "source": source,
            "attributes": {"release": release}, "inputs": {},
            "outputs": {"output": str(tmp_path / "out.pkl")},
            "storage": {"protocol": "file", "options": {"auto_mkdir": True, "api_secret": secret}}}
    log_path = str(tmp_path / "hold.log")
    open(log_path, "w").close()
    started: list[int] = []
    ended = threading.Event()
    results: list[JobResult] = []

    class Callbacks:
        def started(self, pid, pid_started):
            started.append(pid)

        def finished(self, result):
            results.append(result)
            ended.set()

    from jupyter_pipelines.paths import Context

    backend = DaskCompute({"scheduler": cluster.scheduler_address, "preload": "", "forkserver": forkserver},
                          Context(str(tmp_path), str(tmp_path), 1))
    try:
        backend.submit(Job("ex", "hold", spec, log_path), Callbacks())
        wait_until(lambda: started, what="the job to start")
        pid = started[0]
        process = psutil.Process(pid)
        lineage = [process, *process.parents()]
        for proc in lineage:
            assert secret not in " ".join(proc.cmdline())
            try:
                assert secret not in json.dumps(proc.environ())
            except psutil.AccessDenied:
                pass
        open(release, "w").close()
        assert ended.wait(WAIT)
        assert results[0].status == "success", results[0]
        assert secret not in open(log_path).read()
    finally:
        backend.close()


def test_owned_local_cluster(make_engine, tmp_path) -> None:
    make_engine()
    compute = {"backend": "dask", "config": {"workers": 1, "preload": ""}}
    ex = simple_pipeline("owned").run(compute=compute, wait=True)
    assert ex.status == "success", ex.jobs
    assert ex.result("total") == 15


def test_a_symlink_at_a_log_path_fails_the_job_and_is_not_followed(make_engine, dask_compute, tmp_path) -> None:
    engine = make_engine()
    outside = tmp_path / "outside.txt"
    plant_link(engine.log_path("default", "linked", "numbers", 1), outside)
    with Pipeline("linked") as p:
        numbers(n=3)  # prints a line
    ex = p.run(name="linked", compute=dask_compute, wait=True)
    assert ex.status == "failed"
    assert "cannot write the job's log" in ex.jobs["numbers"]["error"]
    assert "symbolic link" in ex.jobs["numbers"]["error"]
    assert outside.read_text() == "precious\n"


@pytest.mark.parametrize("forkserver", [True, False])
def test_cancel_kills_daemons_that_left_the_job_session(make_engine, dask_compute, tmp_path, forkserver) -> None:
    make_engine()
    with Pipeline("daemons") as p:
        daemons(folder=str(tmp_path), linger=True)
    compute = {"backend": "dask", "config": {**dask_compute["config"], "forkserver": forkserver}}
    cancel_kills_its_daemons(p.run(name="lingering", compute=compute), str(tmp_path))


@pytest.mark.parametrize("forkserver", [True, False])
def test_previews_and_figures_come_back_from_dask(make_engine, cluster, forkserver) -> None:
    """Both ways a Dask worker runs a job (forked, or ``python -m jupyter_pipelines.runner``) bring back
    the outputs' previews and the figures drawn (when matplotlib is installed)."""
    import importlib.util

    from jupyter_pipelines.client import EmbeddedApi

    draw = importlib.util.find_spec("matplotlib") is not None
    engine = make_engine()
    compute = {"backend": "dask", "config": {"scheduler": cluster.scheduler_address, "preload": "",
                                             "forkserver": forkserver}}
    with Pipeline("dask-previews") as p:
        scores(draw=draw)
    ex = p.run(name="previews", compute=compute, wait=True)
    assert ex.status == "success", ex.jobs
    job = ex.jobs["scores"]
    assert job["outputs"][0]["preview"] == {"kind": "value", "text": "{'accuracy': 0.9}"}
    assert [figure["index"] for figure in job["figures"]] == ([0] if draw else [])
    if draw:
        assert EmbeddedApi(engine).figure("default", ex.name, "scores", 0).startswith(b"\x89PNG")


# -- the worker plugin: per-worker state, closed with the worker ------------------------------------------

def _marker_spec(tmp_path, name: str) -> dict[str, Any]:
    source = ("def mark(path=''):\n"
              "    import os\n"
              "    open(path, 'w').write(str(os.getpid()))\n"
              "    return 1\n")
    return {"node": name, "kind": "operation", "function": "mark", "source": source,
            "attributes": {"path": str(tmp_path / f"{name}.ran")}, "inputs": {},
            "outputs": {"output": str(tmp_path / f"{name}.out")}, "storage": {"protocol": "file", "options": {}}}


def test_the_worker_state_lives_in_a_plugin_on_each_worker(cluster, tmp_path) -> None:
    """A job canceled before its task reaches a worker is remembered by that worker's plugin (not by a
    module global) and does not run there; the others run as usual."""
    from jupyter_pipelines.compute.plumbing import daskworker
    from jupyter_pipelines.paths import Context

    backend = DaskCompute({"scheduler": cluster.scheduler_address}, Context(str(tmp_path), str(tmp_path), 1))
    client = backend.client
    try:
        def state(dask_worker):
            plugin = dask_worker.plugins[daskworker.PLUGIN_NAME]
            return [type(plugin).__name__, sorted(plugin.canceled_early), sorted(plugin.running)]

        assert [kind for kind, _, _ in client.run(state).values()] == ["JobsPlugin"] * 2
        assert not hasattr(daskworker, "_canceled_early") and not hasattr(daskworker, "_running")
        canceled, kept = f"ex/early/{uuid.uuid4().hex}", f"ex/kept/{uuid.uuid4().hex}"
        backend.kill(canceled, None)  # before its task exists: every worker remembers it
        assert all(canceled in early for _, early, _ in client.run(state).values())
        future = client.submit(daskworker.run_chain, [(canceled, _marker_spec(tmp_path, "early")),
                                                      (kept, _marker_spec(tmp_path, "kept"))],
                               "jupyter-pipelines-test", (), True, pure=False)
        results = future.result(timeout=WAIT)
        assert results[canceled]["canceled"] and results[kept]["canceled"]
        assert not (tmp_path / "early.ran").exists() and not (tmp_path / "kept.ran").exists()
        ran_on = client.who_has(future)[future.key][0]
        remaining = client.run(state)
        assert canceled not in remaining[ran_on][1]  # forgotten where it was used
        assert all(canceled not in running and kept not in running for _, _, running in remaining.values())
        other = client.submit(daskworker.run_chain, [(kept, _marker_spec(tmp_path, "kept"))],
                              "jupyter-pipelines-test", (), True, pure=False)
        assert other.result(timeout=WAIT)[kept]["outcome"]["status"] == "success"
        assert (tmp_path / "kept.ran").exists()
    finally:
        backend.close()


def test_the_plugin_closes_its_fork_servers_with_the_worker(tmp_path) -> None:
    """Closing a worker tears its plugin down: its fork server (and so its jobs) end with it."""
    from jupyter_pipelines.compute.plumbing import daskworker
    from jupyter_pipelines.paths import Context

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        backend = DaskCompute({"scheduler": local.scheduler_address}, Context(str(tmp_path), str(tmp_path), 1))
        try:
            job = f"ex/mark/{uuid.uuid4().hex}"
            future = backend.client.submit(daskworker.run_chain, [(job, _marker_spec(tmp_path, "mark"))],
                                           "jupyter-pipelines-test", (), True, pure=False)
            assert future.result(timeout=WAIT)[job]["outcome"]["status"] == "success"

            def servers(dask_worker):
                plugin = dask_worker.plugins[daskworker.PLUGIN_NAME]
                return [server.process.pid for server in plugin.forkservers.values()]

            (pids,) = backend.client.run(servers).values()
            assert pids and not any(gone(pid) for pid in pids)
            backend.client.unregister_worker_plugin(daskworker.PLUGIN_NAME)  # its teardown, the worker alive
            wait_until(lambda: all(gone(pid) for pid in pids), what="the plugin's fork server to end with it")

            job = f"ex/mark/{uuid.uuid4().hex}"  # a task on a worker without the plugin gets one
            again = backend.client.submit(daskworker.run_chain, [(job, _marker_spec(tmp_path, "again"))],
                                          "jupyter-pipelines-test", (), True, pure=False)
            assert again.result(timeout=WAIT)[job]["outcome"]["status"] == "success"
            (pids,) = backend.client.run(servers).values()
            assert pids and not any(gone(pid) for pid in pids)
            local.scale(0)  # the worker closes (whatever results it holds)
            wait_until(lambda: all(gone(pid) for pid in pids), what="the worker's fork server to end with it")
        finally:
            backend.close()


def test_an_operations_imports_are_warmed_on_the_worker(tmp_path, monkeypatch, make_engine) -> None:
    """The worker's fork server imports what an operation imports, once; the job does not import it again."""
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "dask_probe_mod.py").write_text(
        "import os\nwith open(os.environ['DASK_PROBE_FILE'], 'a') as f:\n    f.write(f'{os.getpid()}\\n')\n")
    (folder / "dask_thread_mod.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("DASK_PROBE_FILE", str(tmp_path / "imported-by"))
    make_engine()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        with Pipeline("dask-warm") as p:
            probed(probed(start()))
            threaded()
        ex = p.run(name="warm", compute={"backend": "dask", "config": {"scheduler": local.scheduler_address}},
                   wait=True)
        assert ex.status == "success", ex.jobs
        importers = [int(pid) for pid in (tmp_path / "imported-by").read_text().split()]
        assert len(importers) == 1  # by the worker's fork server, once
        assert importers[0] not in (ex.result("probed"), ex.result("probed_2"))
        assert "jupyter_pipelines.runner.forkserver" in " ".join(psutil.Process(importers[0]).cmdline())
        # an import with a side effect is left to the job, which says so in its log
        assert ex.result("threaded") == 2
        assert "[pipelines] not imported ahead by the fork server, so imported by this job: dask_thread_mod " \
               "(its import started 1 thread(s)" in ex.logs("threaded")


@operation
def probed(data):
    import os

    import dask_probe_mod  # noqa: F401

    return os.getpid()


@operation
def threaded():
    import threading

    import dask_thread_mod  # noqa: F401

    return threading.active_count()
