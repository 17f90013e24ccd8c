"""Compute backends: where each job of an execution runs."""
from .base import ComputeBackend, Job, JobCallbacks, JobHandle, JobResult, compute_backends

__all__ = ["ComputeBackend", "JobCallbacks", "JobHandle", "JobResult", "Job", "compute_backends"]
