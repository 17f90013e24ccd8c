"""SQLite store: projects, commits, tags, executions, jobs, events, settings, artifacts."""
from .models import ArtifactRecord, Event, ExecutionRecord, JobRecord
from .store import Store

__all__ = ["ArtifactRecord", "Event", "ExecutionRecord", "JobRecord", "Store"]
