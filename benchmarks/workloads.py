"""The benchmark workloads (module-level operations, so their sources are captured)."""
from __future__ import annotations

from jupyter_pipelines import Pipeline, operation

W3_BYTES = 512 << 20


@operation
def start():
    return {"step": 0, "payload": "x" * 64}


@operation
def step(data, i: int = 0):
    return {**data, "step": i}


def w1_chain(length: int = 50) -> Pipeline:
    """W1: a chain of ``length`` trivial operations passing a small dict."""
    with Pipeline("w1") as pipeline:
        data = start()
        for i in range(1, length):
            data = step(data, i=i)
    return pipeline


@operation
def sleep(data, seconds: float = 0.1):
    import time

    time.sleep(seconds)
    return 1


@operation
def join(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,  # noqa: PLR0913
         a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31):
    return sum([a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,
                a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31])


def w2_fan(width: int = 32, seconds: float = 0.1) -> Pipeline:
    """W2: one source, ``width`` independent 0.1 s sleeps, one join."""
    with Pipeline("w2") as pipeline:
        source = start()
        join(*[sleep(source, seconds=seconds) for _ in range(width)])
    return pipeline


@operation
def produce(size: int = W3_BYTES):
    import numpy as np

    return np.ones(size // 8, dtype=np.float64)


@operation
def checksum(array):
    import zlib

    return zlib.crc32(memoryview(array).cast("B"))


def w3_large() -> Pipeline:
    """W3: one operation produces 512 MiB (a numpy array), the next computes its checksum."""
    with Pipeline("w3") as pipeline:
        checksum(produce())
    return pipeline
