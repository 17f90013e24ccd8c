"""Run data-science pipelines from JupyterLab: define, execute, watch, export, inspect."""
from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what the names below are; imported when first used (a job process needs none of them)
    from .api import Pipeline
    from .artifacts import Artifact
    from .errors import BadRequest, Conflict, NotFound, PipelinesError
    from .pipeline import Input, Operation, Output, PipelineError, operation
    from .session import Execution, get

__all__ = ["Artifact", "BadRequest", "Conflict", "Execution", "Input", "NotFound", "Operation", "Output", "Pipeline",
           "PipelineError", "PipelinesError", "get", "operation", "__version__"]

#: Where each public name lives. The package imports them on first use, so that processes that
#: only run jobs (the fork server, ``python -m jupyter_pipelines.runner``) never load the engine,
#: the client or their dependencies.
_PUBLIC = {"Pipeline": "api", "Artifact": "artifacts", "BadRequest": "errors", "Conflict": "errors",
           "NotFound": "errors", "PipelinesError": "errors", "Input": "pipeline", "Operation": "pipeline",
           "Output": "pipeline", "PipelineError": "pipeline", "operation": "pipeline", "Execution": "session",
           "get": "session"}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if "ipykernel" in sys.modules:  # in a kernel: executions display as their live view (scripts skip ipywidgets)
    from . import widgets  # noqa: F401


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .server.app import PipelinesApp  # the server loads it through this hook: scripts never import tornado

    return [{"module": "jupyter_pipelines.server.app", "app": PipelinesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-pipelines"}]
