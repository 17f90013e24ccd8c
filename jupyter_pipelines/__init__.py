"""Run data-science pipelines from JupyterLab: define, execute, watch, export, inspect."""
from __future__ import annotations

from .artifacts import Artifact
from .errors import BadRequest, Conflict, NotFound, PipelinesError
from .pipeline import Input, Operation, Output, Pipeline, PipelineError, operation

__version__ = "0.1.0"
__all__ = ["Artifact", "BadRequest", "Conflict", "Input", "NotFound", "Operation", "Output", "Pipeline", "PipelineError",
           "PipelinesError", "operation", "__version__"]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .server.app import PipelinesApp

    return [{"module": "jupyter_pipelines.server.app", "app": PipelinesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-pipelines"}]
