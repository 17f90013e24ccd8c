"""The commands: each takes the parsed arguments and the API (a Jupyter server's or an embedded engine's)."""
from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from ..artifacts import Artifact
from ..client import Api, EmbeddedApi, RemoteApi
from ..errors import BadRequest, NotFound
from ..pipeline import DEFAULT_PROJECT
from ..session import Execution, get, submit
from ..statuses import FINAL_EXECUTION, FINAL_JOB
from . import options as opts
from .loading import choose, load_pipelines

#: How often a followed log is read again when the engine is embedded (it sends no log events).
LOG_POLL_SECONDS = 0.2
#: Executions read per request when a name is looked for in every project.
SEARCH_PAGE = 1000


def where(api: Api) -> str:
    if isinstance(api, RemoteApi):
        return f"the Jupyter server at {api.base_url}"
    return "the embedded engine"


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """Prints one line per change of an operation's status, with timings.

    ``baseline`` (``{op: attempt}``, for a re-run) hides what happened before: only attempts after
    it are printed, so the replayed history of earlier runs stays quiet.
    """

    def __init__(self, out: Any = None, baseline: Mapping[str, int] | None = None) -> None:
        self.out = out or sys.stdout
        self.started = time.monotonic()
        self.width = 12
        self.baseline = dict(baseline) if baseline is not None else None

    def line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.2f}s] {text}", file=self.out, flush=True)

    def event(self, event: Mapping[str, Any]) -> None:
        data = event["data"]
        if event["type"] == "job" and data["status"] != "queued":
            if self.baseline is not None and (data["status"] == "pending"
                                              or data.get("attempt", 0) <= self.baseline.get(data["op"], 0)):
                return
            self.width = max(self.width, len(data["op"]))
            duration = f"{data['duration']:.2f}s" if data.get("duration") is not None and data["status"] in (
                "success", "failed") else ""
            error = f"  {data['error']}" if data.get("error") and data["status"] == "failed" else ""
            self.line(f"{data['op']:<{self.width}} {data['status']:<9}{duration}{error}")
        elif event["type"] == "execution" and data.get("resumed") and self.baseline is None:
            self.line("resumed after a restart")


def _state(job: Mapping[str, Any]) -> tuple[Any, ...]:
    return job["status"], job.get("attempt") or 0, job.get("ended")


def follow(execution: Execution, progress: Progress) -> Execution:
    """Print ``execution``'s events until it has ended and every job's last change was printed; Ctrl-C cancels.

    The event stream starts from the beginning, so a re-run replays the ends of earlier runs: those
    do not stop the following, only the execution's current end does.
    """
    after = 0
    seen: dict[str, tuple[Any, ...]] = {}
    try:
        while True:
            data = execution.refresh().data
            if data["status"] in FINAL_EXECUTION and all(
                    seen.get(job["op"], ("pending", 0, None)) == _state(job) for job in data["jobs"]):
                return execution
            for event in execution.events(after):
                after = event.get("seq") or after
                if event["type"] == "job":
                    seen[event["data"]["op"]] = _state(event["data"])
                progress.event(event)
    except KeyboardInterrupt:
        print("canceling…", flush=True)
        execution.cancel()
    return execution.refresh()


def finish(execution: Execution) -> int:
    data = execution.data
    done = sum(job["status"] == "success" for job in data["jobs"])
    duration = f" in {data['duration']:.2f}s" if data.get("duration") is not None else ""
    print(f"{data['name']}: {data['status']}{duration} ({done}/{len(data['jobs'])} operations succeeded)",
          flush=True)
    if data.get("error"):
        print(f"{data['name']}: {data['error']}", file=sys.stderr)
    for job in data["jobs"]:
        if job["status"] == "failed":
            print(f"\n{job['op']} failed: {job['error']}\n{job.get('traceback') or ''}", file=sys.stderr)
    return 0 if data["status"] == "success" else 1


# -- finding an execution -------------------------------------------------------------------------
def locate(api: Api, name: str, project: str | None) -> str:
    """The project of execution ``name``: ``project`` when given, else the only one that has it."""
    if project:
        return project
    projects = sorted({e["project"] for e in api.executions(limit=SEARCH_PAGE) if e["name"] == name})
    if not projects:
        raise NotFound(f"no execution named {name!r} in any project")
    if len(projects) > 1:
        raise BadRequest(f"executions named {name!r} are in several projects ({', '.join(projects)}); "
                         "choose one with --project")
    return str(projects[0])


def handle(api: Api, args: argparse.Namespace) -> Execution:
    return get(args.name, locate(api, args.name, args.project), api)


# -- run, rerun -----------------------------------------------------------------------------------
def run(args: argparse.Namespace, api: Api) -> int:
    pipeline = choose(load_pipelines(args.file), args.pipeline)
    if args.project:
        pipeline.project = args.project
    chosen = opts.run_options(args, api.backends())
    execution = submit(api, pipeline, args.name or "", debug=args.debug, compute=chosen.choice("compute"),
                       storage=chosen.choice("storage"), credentials=chosen.credentials, params=chosen.params,
                       save=args.save)
    print(f"Execution {execution.name} of {pipeline.project}/{pipeline.name} on {where(api)} "
          f"(tag {execution.tag})", flush=True)
    return finish(follow(execution, Progress()))


def rerun(args: argparse.Namespace, api: Api) -> int:
    execution = handle(api, args)
    edits: dict[str, str] = {}
    for item in args.edit or ():
        op, equals, path = item.partition("=")
        if not equals or not op or not path:
            raise BadRequest(f"--edit takes OPERATION=FILE.py, got {item!r}")
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as file:
                edits[op] = file.read()
        except OSError as error:
            raise BadRequest(f"cannot read {path}: {error.strerror or error}") from None
    baseline = {job["op"]: job.get("attempt") or 0 for job in execution.data["jobs"]}
    execution.rerun(**edits)
    again = sorted(job["op"] for job in execution.data["jobs"]  # reset, or already started again
                   if job["status"] not in FINAL_JOB or (job.get("attempt") or 0) > baseline.get(job["op"], 0))
    print(f"Re-running {execution.name} of {execution.project}/{execution.data['pipeline']} on {where(api)}: "
          f"{', '.join(again) or 'nothing to run'}" + (f" (edited: {', '.join(sorted(edits))})" if edits else ""),
          flush=True)
    return finish(follow(execution, Progress(baseline=baseline)))


# -- inspecting -----------------------------------------------------------------------------------
def show(args: argparse.Namespace, api: Api) -> int:
    data = handle(api, args).data
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{data['name']}  {data['status']}  pipeline {data['pipeline']}  project {data['project']}")
    print(f"  tag {data['tag']} -> commit {data['commit'][:12]}  created {data['created']}  "
          f"duration {data['duration']}s  debug {data['debug']}")
    print(f"  compute {data['compute']['backend']} {data['compute']['config']}")
    print(f"  storage {data['storage']['backend']} {data['storage']['config']}")
    if data.get("params"):
        print(f"  params {json.dumps(data['params'])}")
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
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def newest(api: Api, limit: int | None, **filters: Any) -> tuple[list[dict[str, Any]], bool]:
    """Executions, newest first, page by page: all of them, or the ``limit`` newest (and whether more exist)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        size = SEARCH_PAGE if limit is None else min(SEARCH_PAGE, limit - len(found))
        page = api.page(**filters, limit=size, before=cursor)
        found.extend(page["executions"])
        cursor = page.get("next")
        if not cursor:
            return found, False
        if limit is not None and len(found) >= limit:
            return found, True


def list_(args: argparse.Namespace, api: Api) -> int:
    if args.limit is not None and args.limit < 1:
        raise BadRequest("--limit must be at least 1")
    executions, more = newest(api, args.limit, project=args.project or "", pipeline=args.pipeline or "",
                              status=args.status or "")
    table([["NAME", "PROJECT", "PIPELINE", "STATUS", "CREATED", "DURATION"]] + [
        [e["name"], e["project"], e["pipeline"], e["status"], e["created"],
         "-" if e["duration"] is None else f"{e['duration']:.2f}s"] for e in executions])
    if more:
        print(f"(the {len(executions)} newest; more with a larger --limit)", file=sys.stderr)
    return 0


def tags(args: argparse.Namespace, api: Api) -> int:
    table([["TAG", "PROJECT", "PIPELINE", "COMMIT", "CREATED"]] + [
        [t["name"], t["project"], t["pipeline"], t["commit"][:12], t["created"]] for t in api.tags(args.project)])
    return 0


def diff(args: argparse.Namespace, api: Api) -> int:
    project = args.project
    if not project:
        by_project: dict[str, set[str]] = {}
        for tag in api.tags(None):
            by_project.setdefault(tag["project"], set()).add(tag["name"])
        projects = sorted(p for p, names in by_project.items() if {args.a, args.b} <= names)
        if not projects:
            raise NotFound(f"no project has both tags {args.a!r} and {args.b!r}")
        if len(projects) > 1:
            raise BadRequest(f"tags {args.a!r} and {args.b!r} are in several projects ({', '.join(projects)}); "
                             "choose one with --project")
        project = projects[0]
    data = api.diff(project, args.a, args.b)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{args.a} ({data['a_commit'][:12]}) -> {args.b} ({data['b_commit'][:12]})  project {project}")
    changes = data["operations"]
    if not any(changes.get(kind) for kind in ("added", "removed", "changed")):
        print("  no changes")
    for name in changes.get("added", []):
        print(f"  + {name}")
    for name in changes.get("removed", []):
        print(f"  - {name}")
    for change in changes.get("changed", []):
        what = [label for label, flag in (("source", change.get("source_changed")),
                                          ("inputs", change.get("inputs_changed"))) if flag]
        what += [f"{attribute} {json.dumps(old)} -> {json.dumps(new)}"
                 for attribute, (old, new) in (change.get("attributes") or {}).items()]
        print(f"  ~ {change['node']}: {', '.join(what)}")
        if change.get("source_changed"):
            for line in difflib.unified_diff((change.get("old_source") or "").splitlines(),
                                             (change.get("new_source") or "").splitlines(),
                                             f"{args.a}/{change['node']}", f"{args.b}/{change['node']}", lineterm=""):
                print(f"      {line}")
    return 0


# -- logs -----------------------------------------------------------------------------------------
class LogPrinter:
    """Writes a log once, in order, from pieces that may overlap (``offset`` in bytes, as the API counts)."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout
        self.offset = 0

    def write(self, offset: int, text: str, final: bool = False) -> bool:
        """Write what of ``text`` (starting at byte ``offset``) is new; False when there is a gap before it."""
        if offset > self.offset:
            return False
        if not final:
            text = text.rstrip("\ufffd")  # a character cut by the writer: read it again next time
        data = text.encode("utf-8")
        new = data[self.offset - offset:]
        if new:
            self.out.write(new.decode("utf-8", "replace"))
            self.out.flush()
            self.offset = offset + len(data)
        return True

    def catch_up(self, api: Api, project: str, name: str, op: str, final: bool = False) -> None:
        self.write(self.offset, api.log(project, name, op, self.offset), final)


def logs(args: argparse.Namespace, api: Api) -> int:
    project = locate(api, args.name, args.project)
    data = api.execution(project, args.name)
    if args.op not in {job["op"] for job in data["jobs"]}:
        raise NotFound(f"execution {args.name!r} has no operation {args.op!r}; it has "
                       f"{', '.join(job['op'] for job in data['jobs'])}")
    printer = LogPrinter()
    if not args.follow:
        printer.catch_up(api, project, args.name, args.op, final=True)
        return 0
    try:
        if isinstance(api, EmbeddedApi):
            follow_by_polling(api, project, args.name, args.op, printer)
        else:
            follow_by_events(api, project, args.name, args.op, printer)
    except KeyboardInterrupt:
        return 130
    return 0


def job_ended(api: Api, project: str, name: str, op: str) -> bool:
    job = next(job for job in api.execution(project, name)["jobs"] if job["op"] == op)
    return job["status"] in FINAL_JOB


def follow_by_polling(api: Api, project: str, name: str, op: str, printer: LogPrinter) -> None:
    """Read the log again until the operation ends (an engine in this process sends no log events)."""
    while True:
        ended = job_ended(api, project, name, op)  # before reading: what was written by then is read
        printer.catch_up(api, project, name, op, final=ended)
        if ended:
            return
        time.sleep(LOG_POLL_SECONDS)


def follow_by_events(api: Api, project: str, name: str, op: str, printer: LogPrinter) -> None:
    """Print the server's live ``log`` events of ``op`` until it ends (reading what they skip)."""
    printer.catch_up(api, project, name, op)
    after = 0
    while not job_ended(api, project, name, op):
        for event in api.events(project, name, after):
            after = event.get("seq") or after
            data = event["data"]
            if event["type"] == "log" and data.get("op") == op:
                if not printer.write(int(data.get("offset") or 0), data.get("text", "")):
                    printer.catch_up(api, project, name, op)  # skipped ahead of us: read the gap
            elif event["type"] == "job" and data.get("op") == op and data.get("status") in FINAL_JOB:
                if job_ended(api, project, name, op):
                    break
    printer.catch_up(api, project, name, op, final=True)


# -- control --------------------------------------------------------------------------------------
def cancel(args: argparse.Namespace, api: Api) -> int:
    data = handle(api, args).cancel().data
    print(f"{data['name']}: {data['status']}")
    return 0


def delete(args: argparse.Namespace, api: Api) -> int:
    execution = handle(api, args)
    execution.delete()
    print(f"deleted {execution.name} (project {execution.project})")
    return 0


def resume(args: argparse.Namespace, api: Api) -> int:
    if not isinstance(api, EmbeddedApi):
        print(f"{where(api)} resumes interrupted executions itself when it starts")
        return 0
    taken_over = api.manager.resume()
    print(f"resumed: {', '.join(name for _, name in taken_over) or 'nothing to resume'}", flush=True)
    codes = [finish(get(name, project, api).wait()) for project, name in taken_over]
    return max(codes, default=0)


def export(args: argparse.Namespace, api: Api) -> int:
    pipeline = choose(load_pipelines(args.file), args.pipeline)
    if args.project:
        pipeline.project = args.project
    path = api.export_to({"pipeline": pipeline.to_dict()}, args.output or f"{pipeline.name}.zip")
    print(f"wrote {path}")
    return 0


# -- artifacts ------------------------------------------------------------------------------------
def _size(size: Any) -> str:
    amount = float(size or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return str(amount)


def artifacts_list(args: argparse.Namespace, api: Api) -> int:
    project = args.project or DEFAULT_PROJECT
    table([["NAME", "TYPE", "SIZE", "STORAGE", "CREATED", "WRITTEN BY"]] + [
        [a["name"], a.get("type") or "?", _size(a.get("size")), a["backend"], a.get("created") or "",
         f"{a['execution']}/{a['node']}" if a.get("execution") else "upload"] for a in api.artifacts(project)])
    return 0


def artifacts_show(args: argparse.Namespace, api: Api) -> int:
    data = api.artifact(args.project or DEFAULT_PROJECT, args.name)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{data['name']}  project {data['project']}  type {data.get('type') or '?'}  size {_size(data.get('size'))}")
    print(f"  storage {data['backend']} {data.get('config') or {}}")
    print(f"  path {data['path']}")
    print(f"  created {data.get('created')}" + (f"  written by {data['execution']}/{data['node']}"
                                                 if data.get("execution") else ""))
    return 0


def artifacts_upload(args: argparse.Namespace, api: Api) -> int:
    storage, credentials = opts.upload_options(args, api.backends())
    record = Artifact.upload(args.path, args.name, project=args.project or DEFAULT_PROJECT, file=True,
                             storage=storage["backend"], config=storage["config"], credentials=credentials)
    print(f"uploaded {args.path} as artifact {record.name} of project {record.project} "
          f"({_size(record.size)}, {record.backend} storage, {record.path})")
    return 0

