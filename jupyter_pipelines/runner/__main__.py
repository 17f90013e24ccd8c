"""Run one job in this process: ``python -m jupyter_pipelines.runner``.

Used where a job cannot be forked from a pre-warmed server: a Dask worker without the fork
server, a SciServer Compute container, or by hand.

Input — the job spec (see ``runner.job``), as JSON:

* read from **stdin** (the default, and the only way for specs that hold credentials: they
  then live in memory only — never in the argument list or in a file), or
* ``--spec PATH``: read from PATH, opened on the filesystem described by ``--fs`` (for
  SciServer Compute jobs, which have no stdin; such spec files never hold secrets).

``--fs JSON`` is a storage spec ``{"protocol": ..., "options": {...}}`` (default: the local
filesystem) for ``--spec`` and ``--result``; it must not hold secrets either (it is part of the
command line). A ``token_file`` option starting with ``~`` is expanded (in the
spec's storage and input artifact too).

Output — the job's stdout and stderr both go to this process's stdout, line-buffered, in the
order they were written.

Result — one JSON object, ``{"status": "success", "outputs": [...], "seconds": s}`` or
``{"status": "failed", "error": "...", "traceback": "..."}``, written to exactly one of:

* ``--result-fd N``: the inherited file descriptor N (then closed);
* ``--result PATH``: a file (on the ``--fs`` filesystem);
* otherwise the **last line of stdout**, prefixed by :data:`RESULT_MARKER`.

The exit code is 0 on success and 1 on failure (2 for bad usage).

Like a forked job (see ``runner.process``), the process keeps its orphaned descendants and marks
what it starts, so that cancel can kill all of it, and kills what the job left running before it
writes the result.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, cast

from .contracts import JobOutcome, JobSpec
from .tree import become_job

RESULT_MARKER = "\x1e##jupyter-pipelines-result## "


def _expand(spec: dict[str, Any]) -> dict[str, Any]:
    """A storage spec with a ``token_file`` option starting with ``~`` expanded."""
    options = dict(spec.get("options") or {})
    if isinstance(options.get("token_file"), str):
        options["token_file"] = os.path.expanduser(options["token_file"])
    return {**spec, "options": options}


def _filesystem(spec: dict[str, Any] | None) -> Any:
    from .job import filesystem  # fsspec and the job's machinery load once the process is a job (main)

    return filesystem(_expand(dict(spec or {"protocol": "file", "options": {}})))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jupyter_pipelines.runner", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default="-", help="where the job spec is (default '-': stdin)")
    parser.add_argument("--fs", default=None, help="JSON storage spec for --spec and --result (no secrets)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--result", default=None, help="write the result JSON to this path")
    where.add_argument("--result-fd", type=int, default=None, help="write the result JSON to this descriptor")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    become_job()
    # stdout and stderr share one stream, line-buffered, so the log keeps the order of writes.
    os.dup2(sys.stdout.fileno(), sys.stderr.fileno())
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    fs_spec = json.loads(args.fs) if args.fs else None
    result: JobOutcome
    try:
        if args.spec == "-":
            spec = json.load(sys.stdin)
        else:
            with _filesystem(fs_spec).open(args.spec, "rb") as file:
                spec = json.load(file)
        if not isinstance(spec, dict):
            raise ValueError("the job spec must be a JSON object")
        spec["storage"] = _expand(spec["storage"])
        if isinstance(spec.get("artifact"), dict) and spec["artifact"].get("protocol"):
            spec["artifact"] = _expand(spec["artifact"])
    except Exception as error:  # noqa: BLE001 - a bad spec is a failed job, reported like the others
        result = {"status": "failed", "error": f"cannot read the job spec: {type(error).__name__}: {error}",
                  "traceback": ""}
    else:
        from .process import run_reported  # after stdout is set up: the job's imports may print

        result = run_reported(cast("JobSpec", spec))  # its fields are checked as the job reads them
        result.pop("memory_files", None)
    sys.stdout.flush()
    sys.stderr.flush()
    text = json.dumps(result, default=str)
    if args.result_fd is not None:
        with os.fdopen(args.result_fd, "w") as out:
            out.write(text)
    elif args.result is not None:
        with _filesystem(fs_spec).open(args.result, "wb") as out:
            out.write(text.encode())
    else:
        sys.stdout.write("\n" + RESULT_MARKER + text + "\n")
        sys.stdout.flush()
    return 0 if result["status"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
