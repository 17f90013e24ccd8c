"""Run one job: load its inputs from storage, call the operation, store its outputs.

A job spec is a plain dict (JSON-compatible, except credentials that only ever live in
memory):

    {"node": "split", "kind": "operation" | "input" | "output",
     "function": "split", "source": "...", "attributes": {...},
     "inputs": {"data": "<path>"}, "outputs": {"train": "<path>", ...},
     "figures": "<folder>",   # operations: where the figures it draws go, as <folder>/<n>.png
     "storage": {"protocol": "file", "options": {...}},
     "artifact": {"name": ..., "backend": ..., "protocol": ..., "options": {...}, "path": ...}}

Each output the job writes is described as ``{"name", "location", "type", "size"}`` plus its
``"preview"`` (see ``previews``) when one could be made; each figure an operation drew as
``{"index", "mime", "location"}`` (see ``figures``).
"""
from __future__ import annotations

import errno
import linecache
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import fsspec

from . import figures, previews, serialize
from .contracts import FigureRef, JobOutcome, JobSpec, OutputRef, Written
from .secrets import looks_secret

COPY_CHUNK = 8 << 20


class JobError(Exception):
    """A failure whose message is meant for the user as it is (no traceback needed)."""


def filesystem(spec: Mapping[str, Any]) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem described by a storage spec (``protocol`` and ``options``)."""
    return fsspec.filesystem(spec["protocol"], **dict(spec.get("options") or {}))


def load_operation(source: str, function: str, label: str, filename: str | None = None) -> Any:
    """Execute captured source in a fresh namespace and return its function; tracebacks show its lines
    (from ``filename`` when the source is a file, as in an export's ``operations/``)."""
    filename = filename or f"<operation {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": f"operation_{label}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[function]


def open_nofollow(path: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> BinaryIO:
    """Open a local file (binary) refusing a symlink at ``path``: a log or spec path planted as a link
    must not lead reads or writes elsewhere."""
    try:
        descriptor = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symbolic link, which is not followed", path) from None
        raise
    return os.fdopen(descriptor, "rb" if flags == os.O_RDONLY else "ab" if flags & os.O_APPEND else "wb")


def read_value(fs: fsspec.AbstractFileSystem, path: str) -> Any:
    with fs.open(path, "rb") as file:
        return serialize.load(file)


def ensure_parent(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Create the folder that will hold ``path`` (object stores treat this as a no-op)."""
    fs.makedirs(fs._parent(path), exist_ok=True)


def write_value(fs: fsspec.AbstractFileSystem, path: str, value: Any, name: str = "output") -> OutputRef:
    """Store ``value`` at ``path``; describe it as the output ``name``."""
    ensure_parent(fs, path)
    with fs.open(path, "wb") as file:
        size = serialize.dump(value, file)
    return {"name": name, "location": path, "type": serialize.type_name(value), "size": size}


def copy_file(source_fs: fsspec.AbstractFileSystem, source: str, target_fs: fsspec.AbstractFileSystem, target: str) -> int:
    """Stream a file between filesystems in chunks; return its size."""
    with source_fs.open(source, "rb") as reader:
        ensure_parent(target_fs, target)
        with target_fs.open(target, "wb") as writer:
            shutil.copyfileobj(reader, writer, COPY_CHUNK)
            return writer.tell() if hasattr(writer, "tell") else 0


def _split_results(result: Any, outputs: list[str], label: str) -> list[Any]:
    if len(outputs) == 1:
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        raise JobError(f"operation {label!r} declares outputs {tuple(outputs)} but returned {got}")
    return list(result)


def run_operation(spec: JobSpec, fs: fsspec.AbstractFileSystem) -> Written:
    """Call the operation; write its outputs (with their previews) and the figures it drew."""
    label = spec["node"]
    func = load_operation(spec["source"], spec["function"], label, spec.get("filename"))
    arguments = {name: read_value(fs, path) for name, path in spec["inputs"].items()}
    arguments.update(spec.get("attributes") or {})
    capture = figures.start()
    try:
        result = func(**arguments)
        names = list(spec["outputs"])
        values = _split_results(result, names, label)
        images = figures.finish(capture, values)
    finally:
        figures.stop()
    budget = previews.Budget()
    outputs: list[OutputRef] = []
    for name, value in zip(names, values, strict=True):
        written = write_value(fs, spec["outputs"][name], value, name)
        preview = previews.safe_preview(value, f"output {name!r}", budget)
        if preview is not None:
            written["preview"] = preview
        outputs.append(written)
    return {"outputs": outputs, "figures": save_figures(fs, figures_folder(spec), images)}


def figures_folder(spec: JobSpec) -> str | None:
    """Where an operation's figures go: the spec's ``figures``, else beside its first output."""
    if spec.get("figures"):
        return str(spec["figures"])
    first = next(iter(spec.get("outputs") or {}.values()), None)
    return None if first is None else first.rsplit("/", 1)[0] + "/figures"


def save_figures(fs: fsspec.AbstractFileSystem, folder: str | None, images: list[bytes]) -> list[FigureRef]:
    """Write PNG images as ``<folder>/<n>.png``; describe those written (a figure that cannot be
    written is left out, with a line in the log: the operation's outputs are what counts)."""
    saved: list[FigureRef] = []
    if images and folder is None:
        print(f"[pipelines] {len(images)} figure(s) not kept: the operation has no output beside which to keep them",
              file=sys.stderr)
        return saved
    for index, image in enumerate(images):
        location = f"{folder}/{index}.png"
        try:
            if index == 0:
                ensure_parent(fs, location)
            with fs.open(location, "wb") as file:
                file.write(image)
        except Exception as error:  # noqa: BLE001 - see above
            print(f"[pipelines] figure {index} not kept: {type(error).__name__}: {first_line(error)}", file=sys.stderr)
            continue
        saved.append({"index": index, "mime": figures.MIME, "location": location})
    return saved


#: Input jobs keep the first bytes of a raw file for its preview.
HEAD_BYTES = 64 << 10
#: Input jobs read in chunks of this size, with no read-ahead cache (s3fs's would hold two chunks more).
READ_CHUNK = 4 << 20
#: ... and write through a buffer of this size: S3's smallest multipart part (5 MiB).
WRITE_BLOCK = 5 << 20


def open_reader(fs: fsspec.AbstractFileSystem, path: str) -> Any:
    """Open ``path`` to stream it: ``READ_CHUNK`` blocks, no cache where the filesystem has one."""
    try:
        return fs.open(path, "rb", block_size=READ_CHUNK, cache_type="none")
    except TypeError:  # a filesystem whose files take no cache_type
        return fs.open(path, "rb", block_size=READ_CHUNK)


#: Artifacts of this type are raw files (``Artifact.upload`` of a path): operations get their bytes.
FILE_TYPE = "file"
#: What an operation receives for a ``file`` artifact.
FILE_VALUE_TYPE = "bytearray"
#: Option names whose values are credentials: never shown in a message.


def file_value_header(size: int) -> bytes:
    """The start of a stored value (``serialize`` layout) that loads as a ``bytearray`` of ``size`` bytes.

    The pickle stream only says "the next out-of-band buffer"; the ``size`` raw bytes that follow
    are that buffer, so a raw file becomes a value by streaming it after this header, and
    ``serialize.load`` gives the operation that buffer itself (no extra copy).
    """
    import pickle  # only for raw-file inputs
    import struct  # only for raw-file inputs

    stream = pickle.dumps(pickle.PickleBuffer(bytearray(1)), protocol=5, buffer_callback=lambda _: False)
    return serialize.MAGIC + struct.pack("<3Q", 1, len(stream), size) + stream


def _secret_values(options: Any, name: str = "") -> list[str]:
    """String values of ``options`` (nested) under credential-like names, longest first."""
    found: list[str] = []
    if isinstance(options, Mapping):
        for key, value in options.items():
            found += _secret_values(value, str(key))
    elif isinstance(options, (list, tuple)):
        for value in options:
            found += _secret_values(value, name)
    elif isinstance(options, str) and len(options) >= 4 and looks_secret(name):
        found.append(options)
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, options: Any) -> str:
    """``text`` with every credential found in ``options`` replaced by ``***``."""
    for value in _secret_values(options):
        text = text.replace(value, "***")
    return text


def unreadable(error: BaseException) -> str:
    """Why an artifact could not be read, in words for the user (no credential, no backend traceback)."""
    if isinstance(error, FileNotFoundError):
        return "it does not exist"
    if isinstance(error, PermissionError):
        return f"access denied ({first_line(error) or 'forbidden'}); check the credentials given for it"
    name = type(error).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return f"no credentials for it ({first_line(error)}); give them with credentials={{artifact: {{...}}}}"
    return f"cannot read it ({name}: {first_line(error)})"


def run_input(spec: JobSpec, fs: fsspec.AbstractFileSystem) -> Written:
    """Stream the input artifact into the execution's storage as the node's output value.

    A failure to read the artifact (missing, no or wrong credentials, unreachable) is a
    ``JobError`` that names the artifact and its backend, with no credential and no backend
    traceback in it; a failure to write is blamed on the execution's storage.
    """
    artifact = spec["artifact"]
    where = f"input artifact {artifact['name']!r} on {artifact['backend']!r} storage"
    target = spec["outputs"]["output"]
    is_file = artifact.get("type") == FILE_TYPE
    head = bytearray()  # the first bytes, for the preview
    keep = HEAD_BYTES if is_file else previews.PEEK_BYTES
    stage = "read"
    try:
        source_fs = filesystem({"protocol": artifact["protocol"], "options": artifact["options"]})
        reader = open_reader(source_fs, artifact["path"])
        with reader:
            total = source_fs.size(artifact["path"]) if is_file else None
            stage = "write"
            ensure_parent(fs, target)
            with fs.open(target, "wb", block_size=WRITE_BLOCK) as writer:
                size = 0
                if is_file:
                    header = file_value_header(int(total or 0))
                    writer.write(header)
                    size = len(header)
                copied = 0
                while True:
                    stage = "read"
                    chunk = reader.read(READ_CHUNK)
                    if not chunk:
                        break
                    stage = "write"
                    writer.write(chunk)
                    copied += len(chunk)
                    if len(head) < keep:
                        head += chunk[:keep - len(head)]
                if is_file and copied != total:
                    stage = "read"
                    raise OSError(f"it changed while it was read ({copied} of {total} bytes)")
                stage = "write"
        size += copied
    except Exception as error:  # noqa: BLE001 - backends raise their own types; name the artifact
        if stage == "read":
            message = f"{where}: {unreadable(error)}"
        else:
            message = (f"{where}: cannot copy it into the execution's storage "
                       f"({type(error).__name__}: {first_line(error)})")
        raise JobError(redact(message, artifact.get("options"))) from None
    kind = FILE_VALUE_TYPE if is_file else artifact.get("type", "")
    output: OutputRef = {"name": "output", "location": target, "type": kind, "size": size}
    what = f"input artifact {artifact['name']!r}"
    if is_file:
        preview = previews.safe_file_preview(bytes(head), copied, what)
    else:
        preview = previews.safe_stored_preview(bytes(head), copied, kind, what)
    if preview is not None:
        output["preview"] = preview
    return {"outputs": [output]}


def run_output(spec: JobSpec, fs: fsspec.AbstractFileSystem) -> Written:
    artifact = spec["artifact"]
    size = copy_file(fs, spec["inputs"]["data"], fs, artifact["path"])
    return {"outputs": [{"name": artifact["name"], "location": artifact["path"], "type": artifact.get("type", ""),
                         "size": size}]}


RUNNERS: dict[str, Callable[[JobSpec, fsspec.AbstractFileSystem], Written]] = {
    "operation": run_operation, "input": run_input, "output": run_output}


def run_job(spec: JobSpec) -> JobOutcome:
    """Run the job; return its successful outcome (outputs, figures, seconds) or raise.

    With ``memory`` storage the job's process has its own memory: the engine sends the input
    files along (``memory_files``) and takes the output and figure files back in the result.
    """
    started = time.perf_counter()
    fs = filesystem(spec["storage"])
    for path, data in (spec.get("memory_files") or {}).items():
        fsspec.filesystem("memory").pipe_file(path, data)
    written = RUNNERS[spec["kind"]](spec, fs)
    result: JobOutcome = {"status": "success", "outputs": written["outputs"], "figures": written.get("figures", []),
                          "seconds": time.perf_counter() - started}
    if spec["storage"]["protocol"] == "memory":
        written_files = [item["location"] for item in written["outputs"]] + \
            [figure["location"] for figure in written.get("figures", [])]
        result["memory_files"] = {location: fs.cat_file(location) for location in written_files}
    return result


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""
