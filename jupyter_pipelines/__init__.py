"""Run data-science pipelines from JupyterLab: define, execute, watch, export, inspect."""
from __future__ import annotations

import sys

from ._version import __version__
from .api import Pipeline
from .artifacts import Artifact
from .errors import BadRequest, Conflict, NotFound, PipelinesError
from .pipeline import Input, Operation, Output, PipelineError, operation
from .session import Execution, get

__all__ = ["Artifact", "BadRequest", "Conflict", "Execution", "Input", "NotFound", "Operation", "Output", "Pipeline",
           "PipelineError", "PipelinesError", "get", "operation", "__version__"]

if "ipykernel" in sys.modules:  # in a kernel: executions display as their live view (scripts skip ipywidgets)
    from . import widgets  # noqa: F401


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .server.app import PipelinesApp  # the server loads it through this hook: scripts never import tornado

    return [{"module": "jupyter_pipelines.server.app", "app": PipelinesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-pipelines"}]
