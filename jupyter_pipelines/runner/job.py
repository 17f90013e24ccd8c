"""Run one job: load its inputs from storage, call the operation, store its outputs.

A job spec is a plain dict (JSON-compatible, except credentials that only ever live in
memory):

    {"node": "split", "kind": "operation" | "input" | "output",
     "function": "split", "source": "...", "attributes": {...},
     "inputs": {"data": "<path>"}, "outputs": {"train": "<path>", ...},
     "storage": {"protocol": "file", "options": {...}},
     "artifact": {"name": ..., "backend": ..., "protocol": ..., "options": {...}, "path": ...}}
"""
from __future__ import annotations

import linecache
import shutil
import time
from typing import Any, Mapping

import fsspec

from . import serialize

COPY_CHUNK = 8 << 20


class JobError(Exception):
    """A failure whose message is meant for the user as it is (no traceback needed)."""


def filesystem(spec: Mapping[str, Any]) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem described by a storage spec (``protocol`` and ``options``)."""
    return fsspec.filesystem(spec["protocol"], **dict(spec.get("options") or {}))


def load_operation(source: str, function: str, label: str) -> Any:
    """Execute captured source in a fresh namespace and return its function."""
    filename = f"<operation {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": f"operation_{label}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[function]


def read_value(fs: fsspec.AbstractFileSystem, path: str) -> Any:
    with fs.open(path, "rb") as file:
        return serialize.load(file)


def write_value(fs: fsspec.AbstractFileSystem, path: str, value: Any) -> dict[str, Any]:
    with fs.open(path, "wb") as file:
        size = serialize.dump(value, file)
    return {"location": path, "type": serialize.type_name(value), "size": size}


def copy_file(source_fs: fsspec.AbstractFileSystem, source: str, target_fs: fsspec.AbstractFileSystem, target: str) -> int:
    """Stream a file between filesystems in chunks; return its size."""
    with source_fs.open(source, "rb") as reader, target_fs.open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, COPY_CHUNK)
        return writer.tell() if hasattr(writer, "tell") else 0


def _split_results(result: Any, outputs: list[str], label: str) -> list[Any]:
    if len(outputs) == 1:
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        raise JobError(f"operation {label!r} declares outputs {tuple(outputs)} but returned {got}")
    return list(result)


def run_operation(spec: Mapping[str, Any], fs: fsspec.AbstractFileSystem) -> list[dict[str, Any]]:
    label = spec["node"]
    func = load_operation(spec["source"], spec["function"], label)
    arguments = {name: read_value(fs, path) for name, path in spec["inputs"].items()}
    arguments.update(spec.get("attributes") or {})
    result = func(**arguments)
    names = list(spec["outputs"])
    values = _split_results(result, names, label)
    return [{"name": name, **write_value(fs, spec["outputs"][name], value)} for name, value in zip(names, values)]


def run_input(spec: Mapping[str, Any], fs: fsspec.AbstractFileSystem) -> list[dict[str, Any]]:
    artifact = spec["artifact"]
    where = f"input artifact {artifact['name']!r} on {artifact['backend']!r} storage"
    try:
        source_fs = filesystem(artifact)
        size = copy_file(source_fs, artifact["path"], fs, spec["outputs"]["output"])
    except FileNotFoundError:
        raise JobError(f"{where}: {artifact['path']!r} does not exist") from None
    except PermissionError:
        raise JobError(f"{where}: access denied; check the credentials given for it") from None
    except Exception as error:  # noqa: BLE001 - backends raise their own types; name the artifact
        raise JobError(f"{where}: cannot read it ({type(error).__name__}: {_first_line(error)})") from None
    return [{"name": "output", "location": spec["outputs"]["output"], "type": artifact.get("type", ""), "size": size}]


def run_output(spec: Mapping[str, Any], fs: fsspec.AbstractFileSystem) -> list[dict[str, Any]]:
    artifact = spec["artifact"]
    size = copy_file(fs, spec["inputs"]["data"], fs, artifact["path"])
    return [{"name": artifact["name"], "location": artifact["path"], "type": artifact.get("type", ""), "size": size}]


RUNNERS = {"operation": run_operation, "input": run_input, "output": run_output}


def run_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run the job; return ``{"outputs": [...], "seconds": ...}`` or raise.

    With ``memory`` storage the job's process has its own memory: the engine sends the input
    files along (``memory_files``) and takes the output files back in the result.
    """
    started = time.perf_counter()
    fs = filesystem(spec["storage"])
    for path, data in (spec.get("memory_files") or {}).items():
        fs.pipe_file(path, data)
    outputs = RUNNERS[spec["kind"]](spec, fs)
    result: dict[str, Any] = {"outputs": outputs, "seconds": time.perf_counter() - started}
    if spec["storage"]["protocol"] == "memory":
        result["memory_files"] = {out["location"]: fs.cat_file(out["location"]) for out in outputs}
    return result


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""
