"""``jupyter pipelines run|list|show|logs|cancel|export|tags`` (also ``python -m jupyter_pipelines``)."""
from __future__ import annotations

import argparse
import json
import linecache
import os
import re
import runpy
import sys
import time
from typing import Any, Sequence

from .client import Api, EmbeddedApi, connect
from .errors import PipelinesError
from .pipeline import DEFAULT_PROJECT, Pipeline, loading
from .session import Execution, get, submit


def load_pipelines(path: str) -> dict[str, Pipeline]:
    """The pipelines a ``.py`` file or a notebook defines (without running or executing them)."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise PipelinesError(f"no such file: {path}")
    with loading():
        if path.endswith(".ipynb"):
            namespace = _run_notebook(path)
        else:
            namespace = runpy.run_path(path, run_name="__pipeline_file__")
    found = {value.name: value for value in namespace.values() if isinstance(value, Pipeline)}
    if not found:
        raise PipelinesError(f"{path} defines no Pipeline")
    return found


def _run_notebook(path: str) -> dict[str, Any]:
    """Run a notebook's code cells in one namespace, as a kernel would (magics and shell lines skipped)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    namespace: dict[str, Any] = {"__name__": "__pipeline_notebook__"}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = "\n".join("" if re.match(r"\s*[%!]", line) else line for line in cell.source.splitlines()) + "\n"
        filename = f"<notebook {os.path.basename(path)} cell {index}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
    return namespace


def choose(pipelines: dict[str, Pipeline], name: str | None) -> Pipeline:
    if name:
        if name not in pipelines:
            raise PipelinesError(f"no pipeline named {name!r}; found {sorted(pipelines)}")
        return pipelines[name]
    if len(pipelines) > 1:
        raise PipelinesError(f"several pipelines found {sorted(pipelines)}; choose one with --pipeline")
    return next(iter(pipelines.values()))


class Progress:
    """Prints one line per change of an operation's status, with timings."""

    def __init__(self, out: Any = sys.stdout) -> None:
        self.out = out
        self.started = time.monotonic()
        self.width = 12

    def line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.2f}s] {text}", file=self.out, flush=True)

    def event(self, event: dict[str, Any]) -> None:
        data = event["data"]
        if event["type"] == "job" and event["data"]["status"] != "queued":
            self.width = max(self.width, len(data["op"]))
            duration = f"{data['duration']:.2f}s" if data.get("duration") is not None and data["status"] in (
                "success", "failed") else ""
            error = f"  {data['error']}" if data.get("error") and data["status"] == "failed" else ""
            self.line(f"{data['op']:<{self.width}} {data['status']:<9}{duration}{error}")
        elif event["type"] == "execution" and data.get("resumed"):
            self.line("resumed after a restart")


def run(args: argparse.Namespace, api: Api) -> int:
    pipeline = choose(load_pipelines(args.file), args.pipeline)
    if args.project:
        pipeline.project = args.project
    execution = submit(api, pipeline, args.name or "", debug=args.debug, compute=args.compute,
                       storage=args.storage)
    print(f"Execution {execution.name} of {pipeline.project}/{pipeline.name} "
          f"({api.mode} engine; tag {execution.tag})", flush=True)
    progress = Progress()
    try:
        for event in execution.events():
            progress.event(event)
    except KeyboardInterrupt:
        print("canceling…", flush=True)
        execution.cancel()
    return finish(execution.refresh())


def finish(execution: Execution) -> int:
    data = execution.data
    done = sum(job["status"] == "success" for job in data["jobs"])
    duration = f" in {data['duration']:.2f}s" if data.get("duration") is not None else ""
    print(f"{data['name']}: {data['status']}{duration} ({done}/{len(data['jobs'])} operations succeeded)")
    for job in data["jobs"]:
        if job["status"] == "failed":
            print(f"\n{job['op']} failed: {job['error']}\n{job.get('traceback') or ''}", file=sys.stderr)
    return 0 if data["status"] == "success" else 1


def show(args: argparse.Namespace, api: Api) -> int:
    data = api.execution(args.project or DEFAULT_PROJECT, args.name)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{data['name']}  {data['status']}  pipeline {data['pipeline']}  project {data['project']}")
    print(f"  tag {data['tag']} -> commit {data['commit'][:12]}  created {data['created']}  "
          f"duration {data['duration']}s  debug {data['debug']}")
    print(f"  compute {data['compute']['backend']} {data['compute']['config']}")
    print(f"  storage {data['storage']['backend']} {data['storage']['config']}")
    if data.get("error"):
        print(f"  error: {data['error']}")
    for job in data["jobs"]:
        duration = f"{job['duration']:.2f}s" if job["duration"] is not None else "-"
        outputs = ", ".join(f"{o['name']} ({o.get('type') or '?'}, {o.get('size', 0)} B)" for o in job["outputs"])
        print(f"  {job['op']:<16} {job['status']:<9} {duration:>8}  {outputs}")
        if job.get("error"):
            print(f"      {job['error']}")
    return 0


def table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def list_(args: argparse.Namespace, api: Api) -> int:
    executions = api.executions(project=args.project or "", status=args.status or "")
    table([["NAME", "PROJECT", "PIPELINE", "STATUS", "CREATED", "DURATION"]] + [
        [e["name"], e["project"], e["pipeline"], e["status"], e["created"],
         "-" if e["duration"] is None else f"{e['duration']:.2f}s"] for e in executions])
    return 0


def tags(args: argparse.Namespace, api: Api) -> int:
    table([["TAG", "PROJECT", "PIPELINE", "COMMIT", "CREATED"]] + [
        [t["name"], t["project"], t["pipeline"], t["commit"][:12], t["created"]] for t in api.tags(args.project)])
    return 0


def logs(args: argparse.Namespace, api: Api) -> int:
    sys.stdout.write(api.log(args.project or DEFAULT_PROJECT, args.name, args.op))
    return 0


def cancel(args: argparse.Namespace, api: Api) -> int:
    data = api.cancel(args.project or DEFAULT_PROJECT, args.name)
    print(f"{data['name']}: {data['status']}")
    return 0


def resume(args: argparse.Namespace, api: Api) -> int:
    if not isinstance(api, EmbeddedApi):
        print("the Jupyter server resumes interrupted executions itself when it starts")
        return 0
    taken_over = api.manager.resume()
    print(f"resumed: {', '.join(name for _, name in taken_over) or 'nothing to resume'}", flush=True)
    codes = [finish(get(name, project, api).wait()) for project, name in taken_over]
    return max(codes, default=0)


def export(args: argparse.Namespace, api: Api) -> int:
    pipeline = choose(load_pipelines(args.file), args.pipeline)
    path = api.export_to({"pipeline": pipeline.to_dict()}, args.output or f"{pipeline.name}.zip")
    print(f"wrote {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="jupyter pipelines", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)

    def command(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(func=func)
        sub.add_argument("--project", default=None, help="project (default: the pipeline's, or 'default')")
        return sub

    sub = command("run", run, "run a pipeline from a .py file or a notebook, with live progress")
    sub.add_argument("file")
    sub.add_argument("--pipeline", help="which pipeline, when the file defines several")
    sub.add_argument("--name", default="", help="execution name (made unique: name_2, name_3, …)")
    sub.add_argument("--debug", action="store_true", help="allow re-running with edited operations")
    sub.add_argument("--compute", default=None, help="compute backend (default: local)")
    sub.add_argument("--storage", default=None, help="storage backend (default: local)")
    sub = command("list", list_, "list executions")
    sub.add_argument("--status", default=None)
    sub = command("show", show, "show an execution and its operations")
    sub.add_argument("name")
    sub.add_argument("--json", action="store_true", help="print the execution as JSON")
    sub = command("logs", logs, "print an operation's log")
    sub.add_argument("name")
    sub.add_argument("op")
    sub = command("cancel", cancel, "cancel a running execution")
    sub.add_argument("name")
    command("tags", tags, "list the version history's tags")
    command("resume", resume, "finish executions interrupted by a crash (embedded engine) and wait for them")
    sub = command("export", export, "export a pipeline as a zip that runs with `python main.py`")
    sub.add_argument("file")
    sub.add_argument("--pipeline")
    sub.add_argument("-o", "--output", help="zip file to write (default: <pipeline>.zip)")
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args, connect(resume=False))
    except PipelinesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
