"""W1 and W2 on the `dask` backend beside the same workloads run with Dask's own
`client.submit` (the floor for that engine), and W3 on `s3` (moto on loopback) beside `local`.

    python benchmarks/bench_backends.py [--repeat 2] [--skip-s3]

Writes benchmarks/results/backends.json.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from publish import publish  # noqa: E402
from workloads import w1_chain, w2_fan, w3_large  # noqa: E402

from jupyter_pipelines.compute.base import ComputeBackend  # noqa: E402
from jupyter_pipelines.compute.dask import DaskCompute  # noqa: E402
from jupyter_pipelines.engine import ExecutionManager  # noqa: E402


def timed_run(manager: ExecutionManager, pipeline, name: str, **options) -> float:
    started = time.perf_counter()
    record = manager.submit(pipeline, name, **options)
    record = manager.wait(record.project, record.name)
    if record.status != "success":
        raise RuntimeError(f"{name}: {record.status} {record.error}")
    return time.perf_counter() - started


def plain_step(data, i):
    return {**data, "step": i}


def plain_sleep(_data, seconds):
    time.sleep(seconds)
    return 1


def dask_floors(client, repeat: int) -> tuple[float, float]:
    """W1 and W2 as plain `client.submit` graphs on the same cluster."""
    w1, w2 = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        future = client.submit(dict, step=0, payload="x" * 64, pure=False)
        for i in range(1, 50):
            future = client.submit(plain_step, future, i, pure=False)
        future.result()
        w1.append(time.perf_counter() - started)
        started = time.perf_counter()
        source = client.submit(dict, pure=False)
        sleeps = [client.submit(plain_sleep, source, 0.1, pure=False) for _ in range(32)]
        client.submit(sum, sleeps, pure=False).result()
        w2.append(time.perf_counter() - started)
    return min(w1), min(w2)


def bench_dask(home: str, repeat: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        floor_w1, floor_w2 = dask_floors(client, repeat)
        manager = ExecutionManager(home)
        compute = {"backend": "dask", "config": {"scheduler": cluster.scheduler_address}}
        timed_run(manager, w1_chain(3), "warm", compute=compute)
        engine_w1 = min(timed_run(manager, w1_chain(50), f"d1-{i}", compute=compute) for i in range(repeat))
        engine_w2 = min(timed_run(manager, w2_fan(), f"d2-{i}", compute=compute) for i in range(repeat))
        # For reference: W1 with one Dask task per job (the default runs a linear chain as one task).
        fused = DaskCompute.submit_chain
        DaskCompute.submit_chain = ComputeBackend.submit_chain  # type: ignore[method-assign]
        try:
            unfused_w1 = min(timed_run(manager, w1_chain(50), f"u1-{i}", compute=compute) for i in range(repeat))
        finally:
            DaskCompute.submit_chain = fused  # type: ignore[method-assign]
        manager.close()
    return {"w1_engine_s": engine_w1, "w1_client_submit_s": floor_w1, "w1_ratio": engine_w1 / floor_w1,
            "w2_engine_s": engine_w2, "w2_client_submit_s": floor_w2, "w2_ratio": engine_w2 / floor_w2,
            "w1_one_task_per_job_s": unfused_w1, "w1_one_task_per_job_ratio": unfused_w1 / floor_w1,
            "target_ratio": 2.0}


def bench_s3(home: str) -> dict[str, float]:
    import s3fs
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3fs.S3FileSystem(key="k", secret="s", client_kwargs={"endpoint_url": endpoint}).mkdir("bench")
        manager = ExecutionManager(home)
        local = timed_run(manager, w3_large(), "w3-local")
        storage = {"backend": "s3", "config": {"bucket": "bench", "endpoint_url": endpoint, "key": "k",
                                               "secret": "s"}}
        s3 = timed_run(manager, w3_large(), "w3-s3", storage=storage)
        manager.close()
    finally:
        server.stop()
    return {"w3_local_s": local, "w3_s3_moto_s": s3, "ratio": s3 / local}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as home:
        results["dask"] = bench_dask(os.path.join(home, "dask"), args.repeat)
        if not args.skip_s3:
            results["s3"] = bench_s3(os.path.join(home, "s3"))
    publish("backends", results)


if __name__ == "__main__":
    main()
