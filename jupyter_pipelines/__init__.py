"""Run data-science pipelines from JupyterLab: define, execute, watch, export, inspect."""
from __future__ import annotations

from .errors import BadRequest, Conflict, NotFound, PipelinesError
from .pipeline import Input, Operation, Output, Pipeline, PipelineError, operation

__version__ = "0.1.0"
__all__ = ["BadRequest", "Conflict", "Input", "NotFound", "Operation", "Output", "Pipeline", "PipelineError",
           "PipelinesError", "operation", "__version__"]
