"""The statuses of executions and of their jobs (operations), and which of them are final."""
from __future__ import annotations

from enum import Enum


class _Status(str, Enum):
    """A status; it is its text wherever text is expected (JSON, SQL, messages)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class ExecutionStatus(_Status):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"


class JobStatus(_Status):
    PENDING = "pending"
    QUEUED = "queued"  # handed to the compute backend, waiting for its turn
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"  # could no longer run: something it needs failed


FINAL_EXECUTION = frozenset({ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.CANCELED})
FINAL_JOB = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED})
UNDER_WAY = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
