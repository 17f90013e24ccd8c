"""The ``dask`` backend on a cluster started as users start one: ``dask scheduler`` and ``dask worker``
processes, each worker in a working directory of its own that shares no folder with the engine,
the data on S3 (moto's server on loopback). A run, live logs, cancel, and a worker killed mid-job."""
from __future__ import annotations

import os
import signal
import uuid
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("s3fs")

from external_dask import ExternalCluster  # noqa: E402
from polling import WAIT, gone, wait_until  # noqa: E402
from s3_server import MotoS3, s3_server  # noqa: E402,F401  (fixture)

from jupyter_pipelines import Pipeline, operation  # noqa: E402
from jupyter_pipelines.compute.dask import WORKER_DIED  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ExternalCluster(tmp_path_factory.mktemp("external-cluster"), workers=2) as running:
        yield running


def compute(cluster: ExternalCluster, **config: Any) -> dict[str, Any]:
    return {"backend": "dask", "config": {"scheduler": cluster.address, **config}}


def storage(s3: MotoS3) -> dict[str, Any]:
    return {"backend": "s3", "config": s3.storage_config()}


def marker(s3: MotoS3) -> str:
    return f"{s3.admin.bucket}/markers/{uuid.uuid4().hex}"


# -- operations (their S3 markers use any key: moto checks none unless a test switches it on) ------------

@operation
def where(n: int = 4):
    import os
    import tempfile

    print(f"running in {os.getcwd()}", flush=True)
    return {"cwd": os.getcwd(), "tmp": tempfile.gettempdir(), "worker": os.environ.get("JP_TEST_WORKER"),
            "pid": os.getpid(), "values": list(range(n))}


@operation
def add_up(info):
    print(f"adding {info['values']}")
    return sum(info["values"])


@operation
def talks(endpoint: str = "", marker: str = ""):
    """Print a line, wait (bounded) until ``marker`` exists on S3, print another."""
    import time

    import s3fs

    fs = s3fs.S3FileSystem(key="any", secret="any", client_kwargs={"endpoint_url": endpoint,
                                                                   "region_name": "us-east-1"})
    print("first line", flush=True)
    deadline = time.time() + 120
    while not fs.exists(marker) and time.time() < deadline:
        time.sleep(0.1)
        fs.invalidate_cache()
    print("last line", flush=True)
    return "released"


@operation
def hangs_once(endpoint: str = "", marker: str = ""):
    """The first run writes its pid to ``marker`` on S3 and hangs; a later run returns at once."""
    import os
    import time

    import s3fs

    fs = s3fs.S3FileSystem(key="any", secret="any", client_kwargs={"endpoint_url": endpoint,
                                                                   "region_name": "us-east-1"})
    if not fs.exists(marker):
        fs.pipe(marker, str(os.getpid()).encode())
        print(f"first run, pid {os.getpid()}", flush=True)
        time.sleep(600)
    print("second run", flush=True)
    return "second run"


def read_marker(s3: MotoS3, path: str) -> int | None:
    fs = s3.filesystem()
    fs.invalidate_cache()
    return int(fs.cat(path)) if fs.exists(path) else None


# -- tests -------------------------------------------------------------------------------------------------

def test_a_run_on_an_external_cluster_with_data_on_s3(make_engine, cluster, s3_server, pipelines_home) -> None:
    make_engine()
    with Pipeline("external") as p:
        add_up(where(n=5))
    ex = p.run(name="external", compute=compute(cluster), storage=storage(s3_server), wait=True)
    assert ex.status == "success", ex.jobs
    assert ex.result("add_up") == 10
    info = ex.result("where")
    folders = {str(folder.resolve()) for folder in cluster.folders}
    worker_folder = next(folder for folder in folders if info["cwd"].startswith(folder))
    assert info["worker"] and worker_folder.endswith(info["worker"])  # ran in a worker's own folder ...
    assert info["tmp"].startswith(worker_folder)  # ... with its own temporary folder
    assert not info["cwd"].startswith(os.path.realpath(pipelines_home))
    assert all(job["outputs"][0]["location"].startswith(s3_server.admin.bucket + "/") for job in ex.jobs.values())
    assert not os.path.exists(os.path.join(pipelines_home, "storage"))  # no data on the engine's side
    assert "running in " + info["cwd"] in ex.logs("where")  # logs come back through the scheduler
    assert "adding [0, 1, 2, 3, 4]" in ex.logs("add_up")


def test_logs_come_back_live(make_engine, cluster, s3_server) -> None:
    make_engine()
    release = marker(s3_server)
    with Pipeline("external-logs") as p:
        talks(endpoint=s3_server.endpoint, marker=release)
    ex = p.run(name="live", compute=compute(cluster), storage=storage(s3_server))
    try:
        wait_until(lambda: "first line" in ex.logs("talks"), what="the first line while the job runs")
        assert ex.jobs["talks"]["status"] == "running"
        assert "last line" not in ex.logs("talks")
    finally:
        s3_server.filesystem().pipe(release, b"go")
    assert ex.wait(WAIT).status == "success", ex.jobs
    assert ex.logs("talks") == "first line\nlast line\n"


def test_cancel_kills_the_job_on_its_worker(make_engine, cluster, s3_server) -> None:
    engine = make_engine()
    started = marker(s3_server)
    with Pipeline("external-cancel") as p:
        add_up(hangs_once(endpoint=s3_server.endpoint, marker=started))
    ex = p.run(name="cancel", compute=compute(cluster), storage=storage(s3_server))
    pid = wait_until(lambda: read_marker(s3_server, started), what="the job to start")
    worker = cluster.worker_of(pid)
    wait_until(lambda: engine.get("default", "cancel").job("hangs_once").status == "running",
               what="the engine to hear the job started")
    ex.cancel()
    assert ex.wait(WAIT).status == "canceled"
    wait_until(lambda: gone(pid), timeout=30, what="the job process to be killed")
    assert ex.jobs["hangs_once"]["status"] == "canceled" and ex.jobs["add_up"]["status"] == "canceled"
    assert worker.is_running()  # the worker goes on


@pytest.mark.parametrize("retries", [1, 0])
def test_a_worker_killed_mid_job(make_engine, cluster, s3_server, retries) -> None:
    make_engine()
    started = marker(s3_server)
    with Pipeline("external-dies") as p:
        hangs_once(endpoint=s3_server.endpoint, marker=started)
    ex = p.run(name=f"dies-{retries}", compute=compute(cluster, retries=retries), storage=storage(s3_server))
    pid = wait_until(lambda: read_marker(s3_server, started), what="the job to start")
    cluster.worker_of(pid).send_signal(signal.SIGKILL)
    wait_until(lambda: gone(pid), timeout=30, what="the dead worker's job process to end")
    ex.wait(WAIT)
    job = ex.jobs["hangs_once"]
    if retries:
        assert ex.status == "success", job  # run again on a worker that lives
        assert ex.result("hangs_once") == "second run"
        log = ex.logs("hangs_once")
        assert f"first run, pid {pid}" in log and "running the job again (1 of 1 retries)" in log
        assert log.rstrip().endswith("second run")
    else:
        assert ex.status == "failed"
        assert job["status"] == "failed" and WORKER_DIED in job["error"]
    cluster.wait_for_workers(2)  # its nanny starts the worker again
