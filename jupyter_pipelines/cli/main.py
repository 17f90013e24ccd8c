"""The command line's arguments, and ``main``."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..client import connect
from ..errors import PipelinesError
from . import commands

DESCRIPTION = """\
Run pipelines and inspect their executions from a shell
(also: python -m jupyter_pipelines).

Every command talks to one engine, found in this order: JUPYTER_PIPELINES_URL (with
JUPYTER_PIPELINES_TOKEN); a running Jupyter server with the pipelines extension whose root
contains the current directory; any other running Jupyter server of yours with the extension;
else an engine embedded in this process, on the same data directory. One line on stderr says
which. JUPYTER_PIPELINES_EMBEDDED=1 always uses the embedded engine.
"""

RUN_EPILOG = """\
Values of KEY=VALUE options are read as JSON when they parse (3, 0.5, true, [1,2], "text"),
else as text; a backend's text fields keep what was written (bucket=2024 is the text "2024").

Secrets never go on the command line (a secret field given with --compute-config or
--storage-config is refused) and are never printed or stored:
  --credentials FILE       JSON (or YAML) {"<input artifact>": {"<field>": "<value>"}}
  --secret-env T=ENVVAR    read a secret from an environment variable; T is compute.FIELD,
                           storage.FIELD, credentials.ARTIFACT.FIELD, or a bare FIELD that only
                           one of the chosen backends declares secret
  --config FILE            may hold secrets too
Environment variables read this way are removed from the environment of the processes
this command starts.

--config FILE (JSON, or YAML when PyYAML is installed):
  {"compute": {"backend": "local", "config": {...}},
   "storage": {"backend": "s3", "config": {...}},
   "params": {"op.attr": value},
   "credentials": {"<input artifact>": {...}}}
Options on the command line override the file.
"""

UPLOAD_EPILOG = """\
Secrets for the copy (e.g. the key and secret of s3 storage) come from
--credentials FILE (JSON or YAML {"<field>": "<value>"}), --secret-env FIELD=ENVVAR or the
storage config of a --config file; never from the command line. They are used for the copy
and forgotten: give them again when an execution reads the artifact
(run --credentials or --secret-env credentials.ARTIFACT.FIELD=ENVVAR).
"""


def backend_arguments(sub: argparse.ArgumentParser, kind: str) -> None:
    """``--compute``/``--storage`` and its repeatable ``--…-config KEY=VALUE``."""
    sub.add_argument(f"--{kind}", default=None, metavar="BACKEND", help=f"{kind} backend (default: local)")
    sub.add_argument(f"--{kind}-config", action="append", metavar="KEY=VALUE",
                     help=f"a field of the {kind} backend's configuration (repeat for more)")


def secret_arguments(sub: argparse.ArgumentParser, config_help: str, credentials_help: str) -> None:
    """Where settings and secrets come from: files, and environment variables (never the command line)."""
    sub.add_argument("--config", metavar="FILE", help=config_help)
    sub.add_argument("--credentials", metavar="FILE", help=credentials_help)
    sub.add_argument("--secret-env", action="append", metavar="FIELD=ENVVAR",
                     help="take a secret from an environment variable (repeat for more)")


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="jupyter pipelines", description=DESCRIPTION,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    commands_ = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Any, help_text: str, *, parent: Any = commands_, project: str = "execution",
                epilog: str | None = None) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(func=func)
        project_help = {
            "execution": "the execution's project (default: the one project that has an execution of that name)",
            "pipeline": "project to run in (default: the pipeline's own)",
            "filter": "only this project (default: all)",
            "artifact": "the artifact's project (default: 'default')",
        }[project]
        sub.add_argument("--project", default=None, help=project_help)
        parser: argparse.ArgumentParser = sub
        return parser

    sub = command("run", commands.run, "run a pipeline from a .py file or a notebook, printing its progress live",
                  project="pipeline", epilog=RUN_EPILOG)
    sub.add_argument("file", help="a .py file or a .ipynb notebook that defines the pipeline")
    sub.add_argument("--pipeline", help="which pipeline, when the file defines several")
    sub.add_argument("--name", default="", help="execution name (made unique: NAME_2, NAME_3, ...)")
    sub.add_argument("--debug", action="store_true", help="debug mode: allow re-running with edited operations")
    backend_arguments(sub, "compute")
    backend_arguments(sub, "storage")
    sub.add_argument("--param", action="append", metavar="OP.ATTR=VALUE",
                     help="override an operation's attribute (repeat for more)")
    secret_arguments(sub, "JSON or YAML file with compute, storage, params, credentials",
                     "JSON or YAML file: credentials per input artifact")
    sub.add_argument("--save", action="store_true", help="save these (non-secret) settings for the pipeline")

    sub = command("list", commands.list_, "list executions, newest first", project="filter")
    sub.add_argument("--pipeline", default=None, help="only this pipeline's")
    sub.add_argument("--status", default=None, help="only those with this status")
    sub.add_argument("--limit", type=int, default=None, metavar="N", help="at most the N newest (default: all)")

    sub = command("show", commands.show, "show an execution and its operations")
    sub.add_argument("name")
    sub.add_argument("--json", action="store_true", help="print the execution as JSON")

    sub = command("logs", commands.logs, "print an operation's log")
    sub.add_argument("name", help="the execution")
    sub.add_argument("op", help="the operation (its node id)")
    sub.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the operation ends")

    sub = command("cancel", commands.cancel, "cancel a running execution")
    sub.add_argument("name")

    sub = command("rerun", commands.rerun, "run again what did not succeed in an execution, printing its progress")
    sub.add_argument("name")
    sub.add_argument("--edit", action="append", metavar="OP=FILE.py",
                     help="run operation OP with the source in FILE.py (debug-mode executions only; repeat for more)")

    sub = command("delete", commands.delete, "delete an execution (canceled first if running), its tag and logs")
    sub.add_argument("name")

    command("tags", commands.tags, "list the version history's tags", project="filter")

    sub = command("diff", commands.diff, "compare two tags: operations added, removed, changed")
    sub.add_argument("a", help="a tag (an execution's name)")
    sub.add_argument("b", help="another tag")
    sub.add_argument("--json", action="store_true", help="print the comparison as JSON")

    artifacts = commands_.add_parser("artifacts", help="list, show and upload artifacts",
                                     description="List, show and upload artifacts.")
    kinds = artifacts.add_subparsers(dest="artifacts_command", required=True, metavar="ACTION")
    command("list", commands.artifacts_list, "list a project's artifacts", parent=kinds, project="artifact")
    sub = command("show", commands.artifacts_show, "show an artifact", parent=kinds, project="artifact")
    sub.add_argument("name")
    sub.add_argument("--json", action="store_true", help="print the record as JSON")
    sub = command("upload", commands.artifacts_upload, "upload a local file as an artifact", parent=kinds,
                  project="artifact", epilog=UPLOAD_EPILOG)
    sub.add_argument("path", help="the local file")
    sub.add_argument("name", help="the artifact's name (replaces one of that name)")
    backend_arguments(sub, "storage")
    secret_arguments(sub, "JSON or YAML file; its storage section is used",
                     "JSON or YAML file with the storage's secret fields")

    command("resume", commands.resume,
            "finish executions interrupted by a crash of an embedded engine, and wait for them", project="filter")

    sub = command("export", commands.export, "export a pipeline as a zip that runs with: python main.py",
                  project="pipeline")
    sub.add_argument("file", help="a .py file or a .ipynb notebook that defines the pipeline")
    sub.add_argument("--pipeline", help="which pipeline, when the file defines several")
    sub.add_argument("-o", "--output", help="zip file to write (default: PIPELINE.zip)")
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args, connect(resume=False))
        return code
    except PipelinesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
