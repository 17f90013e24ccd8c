"""The package's front: the ``Pipeline`` users define, run, execute from a dialog and export.

``Pipeline`` here is the model's pipeline (``pipeline.Pipeline``: the graph, its validation and
JSON form) plus what a user does with it, through the session. It sits on top of every layer;
the widgets it shows are imported only when one is shown, so scripts never load ipywidgets.
"""
from __future__ import annotations

from typing import Any

from . import pipeline as model
from .client import connect
from .pipeline import is_loading
from .session import Execution, submit


class Pipeline(model.Pipeline):
    """A DAG of operation calls, recorded inside ``with Pipeline(name):`` — run it, execute it from a
    dialog, or export it."""

    def run(self, name: str = "", *, wait: bool = False, **options: Any) -> Execution:
        """Submit an execution (to the Jupyter server, or the embedded engine) and return its handle.

        Options: ``debug``, ``compute`` and ``storage`` (a backend name or ``{"backend", "config"}``),
        ``credentials`` (``{input artifact: {...}}``), ``params`` (``{"op.attr": value}``), ``save``.
        """
        if is_loading():
            return None  # type: ignore[return-value]  # the CLI reads the file for its pipelines only
        execution = submit(connect(), self, name, **options)
        return execution.wait() if wait else execution

    def execute(self) -> Any:
        """Show the execute dialog (a widget) for this pipeline."""
        if is_loading():
            return None
        from .widgets import ExecuteDialog  # ipywidgets loads with the first dialog shown, not with the package

        return ExecuteDialog(self, connect()).show()

    def export(self, path: str | None = None, **options: Any) -> Any:
        """Write the pipeline as a runnable zip to ``path``, or show the export dialog.

        Options: ``bundle`` (input artifacts to put in the zip), ``credentials`` (to read bundled
        ones), ``embed_credentials`` (written into the zip: only when you ask).
        """
        if is_loading():
            return None
        if path is None:
            from .widgets import ExportDialog  # as in execute()

            return ExportDialog(self, connect()).show()
        return connect().export_to({"pipeline": self.to_dict(), **options}, path)

    def _ipython_display_(self) -> None:
        """In a notebook, a pipeline shows its graph (a widget, with a static snapshot saved with the notebook)."""
        from .widgets.graph import PipelineDisplay  # as in execute()

        PipelineDisplay(self).show()
