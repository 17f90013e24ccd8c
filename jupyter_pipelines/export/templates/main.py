#!/usr/bin/env python3
"""Run this exported pipeline: every step of pipeline.json in order, in this one process.

    python main.py [--storage URL] [--input NAME=URL]... [--output-dir DIR]

It needs Python >= 3.10 and the packages of requirements.txt (not jupyter_pipelines, not Jupyter).
README.md says which environment variables hold the credentials of the input artifacts.
Exit status: 0 when every step succeeded, 1 when a step failed, 2 when the run could not start.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import posixpath
import sys
import time
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

try:
    import fsspec
    import fsspec.core
    from runtime import job
except ImportError as missing:  # pragma: no cover - depends on the environment
    sys.exit(f"error: {missing}. Install the requirements first: pip install -r {os.path.join(HERE, 'requirements.txt')}")

VALUE_MARKER = "$credential"
MERGE_MARKER = "$credentials:"


class Problem(Exception):
    """A reason the run cannot start (bad option, missing credentials); exit status 2."""


class StepFailed(Exception):
    """A step of the pipeline failed; exit status 1."""


# -- options -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None, plan: dict[str, Any]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=f"Run the exported pipeline {plan['project']}/{plan['name']} (see README.md).")
    parser.add_argument("--storage", metavar="URL", default=None,
                        help="where data passed between operations is kept: a folder or an fsspec URL "
                             "(s3://bucket/prefix, memory://, ...); default: ./data next to main.py")
    parser.add_argument("--input", metavar="NAME=URL", action="append", default=[],
                        help="read the input artifact NAME from URL (a local file or an fsspec URL) instead of "
                             "its recorded location; may be repeated")
    parser.add_argument("--output-dir", metavar="DIR", default=None,
                        help="where Output artifacts are written as <artifact>.pkl; default: ./outputs next to main.py")
    return parser.parse_args(argv)


def load_plan() -> dict[str, Any]:
    with open(os.path.join(HERE, "pipeline.json"), encoding="utf-8") as file:
        plan: dict[str, Any] = json.load(file)
    return plan


def register_filesystems(plan: dict[str, Any]) -> None:
    """Filesystems shipped in runtime/ (not part of fsspec itself)."""
    for protocol, target in sorted(plan.get("filesystems", {}).items()):
        module, _, name = target.partition(":")
        fsspec.register_implementation(protocol, getattr(importlib.import_module(module), name), clobber=True)


def open_location(url: str | None, default: str) -> tuple[Any, str]:
    """``(filesystem, root path)`` for a folder or an fsspec URL."""
    url = url or default
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" not in url:
        root = os.path.abspath(os.path.expanduser(url))
        os.makedirs(root, exist_ok=True)
        return fsspec.filesystem("file", auto_mkdir=True), root
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root


# -- input artifacts -----------------------------------------------------------------------------
def credential_values(name: str, entry: dict[str, Any], embedded: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values of an artifact's credentials from the environment (then embedded, then recorded defaults)."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for field, spec in sorted(entry.get("credentials", {}).items()):
        variable = spec["env"]
        if variable in os.environ:
            raw = os.environ[variable]
            if raw == "":
                values[field] = None
            elif spec.get("type") == "dict":
                try:
                    values[field] = json.loads(raw)
                except ValueError:
                    raise Problem(f"environment variable {variable} (credentials of input artifact {name!r}) "
                                  "must hold a JSON object") from None
            else:
                values[field] = raw
        elif field in embedded:
            values[field] = embedded[field]
        elif "default" in spec:
            values[field] = spec["default"]
        elif spec.get("required", True):
            missing.append(variable)
    return values, missing


def fill(value: Any, values: dict[str, Any]) -> Any:
    """Replace the credential markers of pipeline.json by their values."""
    if isinstance(value, dict):
        if set(value) == {VALUE_MARKER}:
            return values.get(value[VALUE_MARKER])
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.startswith(MERGE_MARKER):
                out.update(values.get(key[len(MERGE_MARKER):]) or {})
            else:
                out[key] = fill(item, values)
        return out
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    return value


def input_artifacts(plan: dict[str, Any], overrides: list[str]) -> dict[str, dict[str, Any]]:
    """The artifact spec of each input for ``runtime.job.run_input``; checks every credential first."""
    inputs = plan.get("inputs", {})
    urls: dict[str, str] = {}
    for item in overrides:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise Problem(f"--input takes NAME=URL, got {item!r}")
        if name not in inputs:
            raise Problem(f"--input {name}: no input artifact of that name; the inputs are {sorted(inputs) or 'none'}")
        urls[name] = target
    embedded_all = plan.get("embedded_credentials", {})
    artifacts: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for name, entry in sorted(inputs.items()):
        base = {"name": name, "backend": entry["backend"], "type": entry.get("type", "")}
        url = urls.get(name)
        if url is None and entry["bundled"]:
            artifacts[name] = {**base, "backend": "bundled", "protocol": "file", "options": {},
                               "path": os.path.join(HERE, entry["file"])}
            continue
        same_protocol = url is not None and "://" in url and url.split("://", 1)[0] == entry.get("protocol")
        if url is not None and not same_protocol:
            if "://" not in url or url.startswith("file://"):
                path = os.path.abspath(os.path.expanduser(url[len("file://"):] if url.startswith("file://") else url))
                artifacts[name] = {**base, "backend": "local", "protocol": "file", "options": {}, "path": path}
            else:
                fs, path = fsspec.core.url_to_fs(url)
                protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
                artifacts[name] = {**base, "backend": protocol, "protocol": protocol,
                                   "options": dict(fs.storage_options), "path": path}
            continue
        values, lacking = credential_values(name, entry, embedded_all.get(name, {}))
        missing += [f"{variable} (for input artifact {name!r})" for variable in lacking]
        path = entry["path"]
        if url is not None:
            path = fsspec.get_filesystem_class(entry["protocol"])._strip_protocol(url)
        artifacts[name] = {**base, "protocol": entry["protocol"], "options": fill(entry["options"], values),
                           "path": path}
    if missing:
        raise Problem("missing environment variable" + ("s" if len(missing) > 1 else "") + ": "
                      + "; ".join(missing) + ". README.md says what each holds (or give --input NAME=URL).")
    return artifacts


# -- running ---------------------------------------------------------------------------------------
def operation_traceback(error: BaseException, filename: str) -> str:
    """The traceback from the operation's own frames on (main.py's frames are noise to the reader)."""
    tb = error.__traceback__
    start = tb
    while start is not None and os.path.abspath(start.tb_frame.f_code.co_filename) != filename:
        start = start.tb_next
    return "".join(traceback.format_exception(type(error), error, start or tb))


class Runner:
    def __init__(self, plan: dict[str, Any], fs: Any, root: str, out_fs: Any, out_root: str,
                 artifacts: dict[str, dict[str, Any]]) -> None:
        self.plan = plan
        self.nodes = {node["id"]: node for node in plan["nodes"]}
        self.fs, self.root = fs, root.rstrip("/") or root
        self.out_fs, self.out_root = out_fs, out_root.rstrip("/") or out_root
        self.artifacts = artifacts
        self.code: dict[str, str] = {}

    def location(self, node: str, output: str) -> str:
        return posixpath.join(self.root, node, f"{output}.pkl")

    def source(self, path: str) -> str:
        if path not in self.code:
            with open(path, encoding="utf-8") as file:
                self.code[path] = file.read()
        return self.code[path]

    def operation(self, node: dict[str, Any]) -> None:
        """Run the operation as a job of the engine would (runtime/job.py): a fresh namespace, its
        inputs read from storage, its outputs written there."""
        op = self.plan["operations"][node["operation"]]
        path = os.path.join(HERE, op["file"])
        job.run_operation({
            "node": node["id"], "kind": "operation", "function": op["function"], "source": self.source(path),
            "filename": path, "attributes": node.get("attributes") or {},
            "inputs": {name: self.location(ref["node"], ref["output"]) for name, ref in node["inputs"].items()},
            "outputs": {name: self.location(node["id"], name) for name in op["outputs"]},
            "figures": posixpath.join(self.root, node["id"], "figures")}, self.fs)

    def input(self, node: dict[str, Any]) -> None:
        spec = {"node": node["id"], "artifact": self.artifacts[node["artifact"]],
                "outputs": {"output": self.location(node["id"], "output")}}
        job.run_input(spec, self.fs)

    def output(self, node: dict[str, Any]) -> str:
        ref = node["inputs"]["data"]
        target = posixpath.join(self.out_root, self.plan["outputs"][node["id"]]["file"])
        job.copy_file(self.fs, self.location(ref["node"], ref["output"]), self.out_fs, target)
        return target

    def run(self) -> list[str]:
        order = self.plan["order"]
        total = len(order)
        width = len(str(total))
        written = []
        started_all = time.perf_counter()
        for index, node_id in enumerate(order, 1):
            node = self.nodes[node_id]
            kind = node["kind"]
            prefix = f"[{index:>{width}}/{total}]"
            if kind == "operation":
                op = self.plan["operations"][node["operation"]]
                what = f"operation {node_id!r} ({op['file']})"
            else:
                what = f"{kind} artifact {node['artifact']!r}"
            print(f"{prefix} {what} ...", flush=True)
            started = time.perf_counter()
            try:
                if kind == "operation":
                    self.operation(node)
                elif kind == "input":
                    self.input(node)
                else:
                    written.append(self.output(node))
            except job.JobError as error:
                raise StepFailed(f"{prefix} {what} failed after {time.perf_counter() - started:.2f} s: {error}") \
                    from None
            except Exception as error:  # noqa: BLE001 - any failure of the user's code
                seconds = time.perf_counter() - started
                filename = os.path.join(HERE, op["file"]) if kind == "operation" else ""
                sys.stdout.flush()
                print(operation_traceback(error, filename), file=sys.stderr, end="")
                later = total - index
                raise StepFailed(f"{prefix} {what} failed after {seconds:.2f} s: {type(error).__name__}: {error}"
                                 + (f" ({later} later step{'s' if later != 1 else ''} not run)" if later else "")) \
                    from None
            print(f"{prefix} {what} done in {time.perf_counter() - started:.2f} s", flush=True)
        print(f"pipeline {self.plan['project']}/{self.plan['name']}: {total} steps succeeded in "
              f"{time.perf_counter() - started_all:.2f} s", flush=True)
        return written


def main(argv: list[str] | None = None) -> int:
    plan = load_plan()
    args = parse_args(argv, plan)
    try:
        register_filesystems(plan)
        artifacts = input_artifacts(plan, args.input)
        fs, root = open_location(args.storage, os.path.join(HERE, "data"))
        out_fs, out_root = open_location(args.output_dir, os.path.join(HERE, "outputs"))
    except Problem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        written = Runner(plan, fs, root, out_fs, out_root, artifacts).run()
    except StepFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
