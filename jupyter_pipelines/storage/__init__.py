"""Storage backends: where an execution's data and artifacts live (fsspec filesystems)."""
from .base import StorageBackend, storage_backends

__all__ = ["StorageBackend", "storage_backends"]
