"""W2 on an external Dask cluster: ``dask scheduler`` and 4 ``dask worker`` processes (one thread
each, each in a folder of its own), data on S3 (moto's server on loopback), beside its ideal and
beside the same graph as plain ``client.submit`` on the same cluster.

    python benchmarks/bench_cluster.py [--repeat 3] [--workers 4]

W2 is 1 → 32 × sleep 0.1 s → 1; its ideal on 4 workers is 32 × 0.1 / 4 = 0.8 s. Writes
benchmarks/results/cluster.json.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the external cluster of the tests
from external_dask import ExternalCluster  # noqa: E402
from publish import publish  # noqa: E402
from workloads import w2_fan  # noqa: E402

from jupyter_pipelines.engine import ExecutionManager  # noqa: E402


def plain_sleep(_data, seconds):
    time.sleep(seconds)
    return 1


def plain_w2(client) -> float:
    started = time.perf_counter()
    source = client.submit(dict, pure=False)
    sleeps = [client.submit(plain_sleep, source, 0.1, pure=False) for _ in range(32)]
    client.submit(sum, sleeps, pure=False).result()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    import logging

    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # (one line per request otherwise)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3fs.S3FileSystem(key="k", secret="s", client_kwargs={"endpoint_url": endpoint}).mkdir("bench")
    storage = {"backend": "s3", "config": {"bucket": "bench", "endpoint_url": endpoint, "key": "k", "secret": "s"}}
    try:
        with tempfile.TemporaryDirectory() as home, \
                ExternalCluster(Path(home) / "cluster", workers=args.workers) as cluster, cluster.client() as client:
            manager = ExecutionManager(os.path.join(home, "engine"))
            compute = {"backend": "dask", "config": {"scheduler": cluster.address}}
            w2 = w2_fan(32, 0.1)
            manager.wait("default", manager.submit(w2, "warm", compute=compute, storage=storage).name)
            engine, plain = [], []
            for i in range(args.repeat):  # interleaved: both see the same machine
                plain.append(plain_w2(client))
                started = time.perf_counter()
                record = manager.wait("default", manager.submit(w2, f"w2-{i}", compute=compute, storage=storage).name)
                engine.append(time.perf_counter() - started)
                if record.status != "success":
                    raise RuntimeError(f"w2-{i}: {record.status} {record.error}")
            manager.close()
    finally:
        moto.stop()
    ideal = 32 * 0.1 / args.workers
    wall, floor = min(engine), min(plain)
    publish("cluster", {"W2_external": {"workers": args.workers, "wall_s": wall, "ideal_s": ideal,
                                        "ratio_to_ideal": wall / ideal, "client_submit_s": floor,
                                        "ratio_to_client_submit": wall / floor}})


if __name__ == "__main__":
    main()
