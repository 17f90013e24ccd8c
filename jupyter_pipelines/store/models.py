"""Rows of the store as typed records, and their JSON form for the API."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from ..errors import NotFound
from ..statuses import FINAL_EXECUTION


def now() -> str:
    """The current time as ISO 8601 UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def figure_url(project: str, execution: str, op: str, index: int) -> str:
    """Where the REST API serves a figure (relative to the server's base URL)."""
    return (f"pipelines/api/executions/{quote(execution, safe='')}/jobs/{quote(op, safe='')}/figures/{int(index)}"
            f"?project={quote(project, safe='')}")


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    stop = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else datetime.now(timezone.utc)
    return round((stop - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds(), 3)


@dataclass
class JobRecord:
    execution_id: int
    node: str
    position: int
    kind: str
    operation: str | None
    status: str
    attempt: int = 0
    started: str | None = None
    ended: str | None = None
    exit_code: int | None = None
    error: str | None = None
    traceback: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    pid: int | None = None
    pid_started: float | None = None
    attempts: list[dict[str, Any]] | None = None  # loaded with one execution, not with lists
    #: ``{"index", "mime", "location"}`` of each figure the operation drew.
    figures: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        data = dict(row)
        data["outputs"] = json.loads(data["outputs"])
        data["figures"] = json.loads(data.get("figures") or "[]")
        return cls(**data)

    def figure(self, index: int) -> dict[str, Any]:
        for figure in self.figures:
            if figure.get("index") == index:
                return figure
        raise NotFound(f"operation {self.node!r} has no figure {index}")

    def to_dict(self, project: str | None = None, execution: str | None = None) -> dict[str, Any]:
        """The job as the API shows it; its figures carry their URL when ``project`` and ``execution`` are given."""
        return {
            "op": self.node,
            "operation": self.operation,
            "kind": self.kind,
            "status": self.status,
            "attempt": self.attempt,
            "started": self.started,
            "ended": self.ended,
            "duration": seconds_between(self.started, self.ended),
            "exit_code": self.exit_code,
            "error": self.error,
            "traceback": self.traceback,
            "outputs": self.outputs,
            **({"attempts": self.attempts} if self.attempts is not None else {}),
            "figures": [{"index": figure["index"], "mime": figure.get("mime", "image/png"),
                         **({"url": figure_url(project, execution, self.node, figure["index"])}
                            if project and execution else {})} for figure in self.figures],
        }


def attempt_dict(row: sqlite3.Row) -> dict[str, Any]:
    """One attempt of a job, as the API shows it."""
    data = {key: row[key] for key in ("attempt", "status", "started", "ended", "exit_code", "error")}
    data["duration"] = seconds_between(row["started"], row["ended"])
    return data


@dataclass
class ExecutionRecord:
    id: int
    project: str
    name: str
    pipeline: str
    status: str
    debug: bool
    commit_id: str
    compute: dict[str, Any]
    storage: dict[str, Any]
    needs_secrets: bool
    error: str | None
    created: str
    started: str | None
    ended: str | None
    owner: str | None
    cancel_requested: bool
    params: dict[str, Any] = field(default_factory=dict)
    jobs: list[JobRecord] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ExecutionRecord:
        data = dict(row)
        data["compute"] = json.loads(data["compute"])
        data["storage"] = json.loads(data["storage"])
        data["params"] = json.loads(data.get("params") or "{}")
        for flag in ("debug", "needs_secrets", "cancel_requested"):
            data[flag] = bool(data[flag])
        return cls(**data)

    @property
    def final(self) -> bool:
        return self.status in FINAL_EXECUTION

    def job(self, node: str) -> JobRecord:
        for job in self.jobs:
            if job.node == node:
                return job
        raise NotFound(f"execution {self.name!r} has no operation {node!r}")

    def to_dict(self, jobs: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "project": self.project,
            "pipeline": self.pipeline,
            "status": self.status,
            "debug": self.debug,
            "tag": self.name,
            "commit": self.commit_id,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "duration": seconds_between(self.started, self.ended),
            "error": self.error,
            "compute": self.compute,
            "storage": self.storage,
            "params": self.params,
        }
        if jobs:
            data["jobs"] = [job.to_dict(self.project, self.name) for job in self.jobs]
        return data


@dataclass
class Event:
    seq: int
    execution_id: int
    project: str
    execution: str
    type: str
    data: dict[str, Any]
    created: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Event:
        values = dict(row)
        values["data"] = json.loads(values["data"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "project": self.project, "execution": self.execution, "type": self.type,
                "data": self.data, "created": self.created}


@dataclass
class ArtifactRecord:
    project: str
    name: str
    backend: str
    config: dict[str, Any]
    path: str
    type: str
    size: int
    created: str
    execution: str | None = None
    node: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ArtifactRecord:
        values = dict(row)
        values["config"] = json.loads(values["config"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}
