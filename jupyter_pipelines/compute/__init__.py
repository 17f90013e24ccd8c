"""Compute backends: where each job of an execution runs."""
from .base import ComputeBackend, JobCallbacks, JobHandle, JobResult, JobSpec, compute_backends

__all__ = ["ComputeBackend", "JobCallbacks", "JobHandle", "JobResult", "JobSpec", "compute_backends"]
