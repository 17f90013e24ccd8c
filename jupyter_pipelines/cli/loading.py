"""Reading the pipelines a ``.py`` file or a notebook defines, without running or executing them.

While a file is read, ``run()``, ``execute()`` and ``export()`` of its pipelines return ``None``
(see ``pipeline.loading``). A notebook is read cell by cell in one namespace, as a kernel would run
it (magics and shell lines skipped); a cell that fails while loading — typically one that uses what
such a call would have returned, like ``execution.result(...)`` — is skipped from the failing line
on, with a note on stderr, and the next cells are read.
"""
from __future__ import annotations

import linecache
import os
import re
import runpy
import sys
import traceback
from typing import IO, Any

from ..errors import PipelinesError
from ..pipeline import Pipeline, loading

MAGIC = re.compile(r"\s*[%!]")


def load_pipelines(path: str, notes: IO[str] | None = None) -> dict[str, Pipeline]:
    """The pipelines ``path`` defines, by name (an error when there is none)."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise PipelinesError(f"no such file: {path}")
    skipped: list[str] = []
    with loading():
        if path.endswith(".ipynb"):
            namespace = _read_notebook(path, skipped, notes or sys.stderr)
        else:
            namespace = runpy.run_path(path, run_name="__pipeline_file__")
    found = {value.name: value for value in namespace.values() if isinstance(value, Pipeline)}
    if not found:
        because = f" (cells skipped: {'; '.join(skipped)})" if skipped else ""
        raise PipelinesError(f"{path} defines no Pipeline{because}")
    return found


def _read_notebook(path: str, skipped: list[str], notes: IO[str]) -> dict[str, Any]:
    import nbformat  # only when the file is a notebook

    notebook = nbformat.read(path, as_version=4)
    namespace: dict[str, Any] = {"__name__": "__pipeline_notebook__"}
    for number, cell in enumerate(notebook.cells, 1):  # numbered as shown, markdown cells included
        if cell.cell_type != "code":
            continue
        source = "\n".join("" if MAGIC.match(line) else line for line in cell.source.splitlines()) + "\n"
        filename = f"<notebook {os.path.basename(path)} cell {number}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            code = compile(source, filename, "exec")
        except SyntaxError as error:
            _note(notes, skipped, path, number, error.lineno, f"SyntaxError: {error.msg}")
            continue
        try:
            exec(code, namespace)
        except Exception as error:  # noqa: BLE001 - reported, and the notebook is read on
            frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename]
            line = frames[-1].lineno if frames else None
            _note(notes, skipped, path, number, line, f"{type(error).__name__}: {error}")
    return namespace


def _note(notes: IO[str], skipped: list[str], path: str, cell: int, line: int | None, error: str) -> None:
    where = f"cell {cell}" + (f" from line {line} on" if line else "")
    skipped.append(f"{where}: {error}")
    print(f"jupyter_pipelines: while reading {os.path.basename(path)}, skipped {where} ({error})", file=notes,
          flush=True)


def choose(pipelines: dict[str, Pipeline], name: str | None) -> Pipeline:
    """The pipeline named ``name``, or the only one."""
    if name:
        if name not in pipelines:
            raise PipelinesError(f"no pipeline named {name!r}; found {sorted(pipelines)}")
        return pipelines[name]
    if len(pipelines) > 1:
        raise PipelinesError(f"several pipelines found {sorted(pipelines)}; choose one with --pipeline")
    return next(iter(pipelines.values()))
