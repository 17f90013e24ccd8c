"""The execution engine: scheduling, the job state machine, cancel, resume."""
from .manager import ExecutionManager

__all__ = ["ExecutionManager"]
