"""The session: what a user holds — ``Execution`` handles — and submitting pipelines through an API.

Sits on the client (``client.Api``: a Jupyter server's REST API or an embedded engine); the
widgets, the command line and the package's front (``api``) build on it.
"""
from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from .client import Api, connect
from .errors import BadRequest, NotFound
from .paths import Context
from .pipeline import DEFAULT_PROJECT, Operation, Pipeline
from .runner.job import read_value
from .statuses import FINAL_EXECUTION
from .storage.base import storage_backends


def request_body(pipeline: Pipeline, name: str = "", *, debug: bool = False, compute: Any = None,
                 storage: Any = None, credentials: Mapping[str, Mapping[str, Any]] | None = None,
                 params: Mapping[str, Any] | None = None, save: bool = False) -> dict[str, Any]:
    """The ``POST executions`` body of a submit; ``compute``/``storage`` are a backend name or
    ``{"backend", "config"}``."""
    return {"pipeline": pipeline.to_dict(), "name": name, "debug": debug, "compute": _choice(compute),
            "storage": _choice(storage), "credentials": dict(credentials or {}), "params": dict(params or {}),
            "save": save}


def _choice(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"backend": value, "config": {}}
    if not isinstance(value, Mapping):
        raise BadRequest(f"a backend choice is a name or {{'backend': ..., 'config': {{...}}}}, got {value!r}")
    return {"backend": value.get("backend"), "config": dict(value.get("config") or {})}


def submit(api: Api, pipeline: Pipeline, name: str = "", **options: Any) -> Execution:
    """Submit ``pipeline`` through ``api``; the handle keeps the storage secrets in memory for ``result()``."""
    body = request_body(pipeline, name, **options)
    secrets = {"storage": dict(body["storage"].get("config") or {}), "credentials": body["credentials"]}
    return Execution(api, api.submit(body), secrets)


def get(name: str, project: str = DEFAULT_PROJECT, api: Api | None = None) -> Execution:
    """A handle on an existing execution (in a notebook, displaying it shows its live view)."""
    api = api or connect()
    return Execution(api, api.execution(project, name))


def _redefined(name: str) -> Operation:
    """The operation called ``name`` as currently defined where the user works (the notebook's namespace)."""
    for frame in inspect.stack()[2:]:
        value = frame.frame.f_globals.get(name)
        if value is not None:
            if not isinstance(value, Operation):
                raise BadRequest(f"{name!r} is not an operation (decorate it with @operation)")
            return value
    raise BadRequest(f"no operation named {name!r} is defined here; pass the function itself")


class Execution:
    """A handle on one execution: its state, its results, and control over it.

    In a notebook it displays as its live status view (``view``, installed by the widgets package).
    """

    view: ClassVar[Callable[[Execution], Any] | None] = None

    def __init__(self, api: Api, data: Mapping[str, Any], secrets: Mapping[str, Any] | None = None) -> None:
        self.api = api
        self.data = dict(data)
        self._secrets = dict(secrets or {})

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def project(self) -> str:
        return str(self.data["project"])

    @property
    def tag(self) -> str:
        return str(self.data["tag"])

    @property
    def status(self) -> str:
        return str(self.refresh().data["status"])

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return {job["op"]: job for job in self.refresh().data["jobs"]}

    def refresh(self) -> Execution:
        self.data = self.api.execution(self.project, self.name)
        return self

    def wait(self, timeout: float | None = None) -> Execution:
        """Block until the execution ends (follows its event stream)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.refresh().data["status"] in FINAL_EXECUTION:
            return self
        def follow() -> None:
            after = 0
            while self.refresh().data["status"] not in FINAL_EXECUTION:  # also past a re-run's old final event
                for event in self.events(after):
                    after = event.get("seq") or after

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        follower.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.refresh()

    def events(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Live events (``execution``, ``job``) until the execution ends."""
        return self.api.events(self.project, self.name, after)

    __iter__ = events

    def cancel(self) -> Execution:
        self.data = self.api.cancel(self.project, self.name)
        return self

    def rerun(self, *operations: Operation | Callable[..., Any] | str, **sources: str) -> Execution:
        """Run again what did not succeed; in debug mode with edits: edited operations (functions),
        ``op=source`` texts, or names of operations redefined since, whose current definition in the
        calling namespace (a notebook's) is taken."""
        edits = dict(sources)
        for op in operations:
            if isinstance(op, str):
                op = _redefined(op)
            op = op if isinstance(op, Operation) else Operation(op)
            edits[op.name] = op.definition().source
        self.data = self.api.rerun(self.project, self.name, edits)
        return self

    def delete(self) -> None:
        self.api.delete(self.project, self.name)

    def logs(self, op: str | None = None) -> Any:
        """One operation's log, or every operation's."""
        if op is not None:
            return self.api.log(self.project, self.name, op)
        return {job["op"]: self.api.log(self.project, self.name, job["op"]) for job in self.data["jobs"]}

    def result(self, op: str, output: str = "output", credentials: Mapping[str, Any] | None = None) -> Any:
        """Load an operation's output from the execution's storage."""
        job = self.jobs.get(op)
        if job is None:
            raise NotFound(f"execution {self.name!r} has no operation {op!r}")
        location = next((out["location"] for out in job["outputs"] if out["name"] == output), None)
        if location is None:
            raise NotFound(f"operation {op!r} of {self.name!r} has no stored output {output!r} (status {job['status']})")
        storage = self.data["storage"]
        config = {**storage["config"], **self._secrets.get("storage", {}), **dict(credentials or {})}
        backend = storage_backends.create(storage["backend"], config, Context("", "", 1))  # the path is absolute
        return read_value(backend.filesystem(), location)

    def __repr__(self) -> str:
        data = self.data
        jobs = ", ".join(f"{job['op']}={job['status']}" for job in data.get("jobs", []))
        return f"<Execution {data['project']}/{data['name']} {data['status']}: {jobs}>"

    def _ipython_display_(self) -> None:
        if Execution.view is None:
            print(repr(self))
        else:
            Execution.view(self)
