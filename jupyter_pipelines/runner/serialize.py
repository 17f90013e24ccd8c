"""Data passed between operations: pickle protocol 5 with out-of-band buffers.

Large buffers (numpy arrays, bytes-like data) are written and read straight from their
memory, so a value is never copied whole on its way to or from storage.

Layout: MAGIC, buffer count, pickle length, each buffer length (unsigned 64-bit little
endian), the pickle stream, then the raw buffers.
"""
from __future__ import annotations

import pickle
import struct
from typing import IO, Any

MAGIC = b"JPPICKLE5\n"
CHUNK = 8 << 20


def dump(value: Any, file: IO[bytes]) -> int:
    """Write ``value`` to ``file``; return the number of bytes written."""
    buffers: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            buffers.append(buffer.raw())
        except BufferError:  # not contiguous: keep it in the pickle stream
            return True
        return False

    stream = pickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    header = MAGIC + struct.pack(f"<{2 + len(buffers)}Q", len(buffers), len(stream), *(b.nbytes for b in buffers))
    file.write(header)
    file.write(stream)
    for buffer in buffers:
        for start in range(0, buffer.nbytes, CHUNK):
            file.write(buffer[start : start + CHUNK])
    return len(header) + len(stream) + sum(b.nbytes for b in buffers)


def _read_exactly(file: IO[bytes], size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    done = 0
    while done < size:
        chunk = view[done : done + CHUNK]
        count = file.readinto(chunk) if hasattr(file, "readinto") else _read_into(file, chunk)
        if not count:
            raise EOFError(f"stored value is truncated ({done} of {size} bytes)")
        done += count
    return data


def _read_into(file: IO[bytes], view: memoryview) -> int:
    data = file.read(len(view))
    view[: len(data)] = data
    return len(data)


def load(file: IO[bytes]) -> Any:
    """Read a value written by :func:`dump`."""
    magic = file.read(len(MAGIC))
    if magic != MAGIC:
        raise ValueError("not a value written by jupyter_pipelines (bad header)")
    count, stream_size = struct.unpack("<2Q", _read_exactly(file, 16))
    sizes = struct.unpack(f"<{count}Q", _read_exactly(file, 8 * count)) if count else ()
    stream = _read_exactly(file, stream_size)
    buffers = [_read_exactly(file, size) for size in sizes]
    return pickle.loads(stream, buffers=buffers)


def type_name(value: Any) -> str:
    """A readable name for the type of ``value`` (``numpy.ndarray``, ``list``)."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
