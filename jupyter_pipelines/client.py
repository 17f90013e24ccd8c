"""Kernel-side client: talk to the Jupyter server's pipelines API, or run an embedded engine.

``connect()`` finds the Jupyter server that started this kernel (explicit variables, then
JupyterHub's, then the runtime directory's ``jpserver-*.json``) and falls back to an engine
inside this process when none is reachable. Both paths return the same JSON, so
:class:`Execution` behaves the same on each.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import quote

import requests

from .errors import BadRequest, Conflict, NotFound, PipelinesError
from .pipeline import DEFAULT_PROJECT, Operation, Pipeline
from .store.models import FINAL_EXECUTION

API_PREFIX = "pipelines/api"
_ERRORS: dict[int, type[PipelinesError]] = {400: BadRequest, 404: NotFound, 409: Conflict}
_lock = threading.Lock()
_connection: Api | None = None


def data_dir() -> str:
    """Where the store, logs and default storage live (shared by the server and embedded mode)."""
    explicit = os.environ.get("JUPYTER_PIPELINES_HOME")
    if explicit:
        return os.path.abspath(explicit)
    from jupyter_core.paths import jupyter_data_dir

    return os.path.join(jupyter_data_dir(), "pipelines")


class Api:
    """The operations both paths offer, in the REST API's JSON shapes."""

    mode = "abstract"

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def execution(self, project: str, name: str) -> dict[str, Any]: ...
    def executions(self, **filters: str) -> list[dict[str, Any]]: ...
    def cancel(self, project: str, name: str) -> dict[str, Any]: ...
    def rerun(self, project: str, name: str, operations: Mapping[str, str]) -> dict[str, Any]: ...
    def delete(self, project: str, name: str) -> None: ...
    def log(self, project: str, name: str, op: str) -> str: ...
    def events(self, project: str, name: str, after: int = 0) -> Iterator[dict[str, Any]]: ...
    def tags(self, project: str | None = None) -> list[dict[str, Any]]: ...
    def diff(self, project: str, a: str, b: str) -> dict[str, Any]: ...
    def backends(self) -> dict[str, Any]: ...
    def settings(self, project: str, pipeline: str) -> dict[str, Any]: ...
    def save_settings(self, project: str, pipeline: str, data: Mapping[str, Any]) -> dict[str, Any]: ...
    def artifact(self, project: str, name: str) -> dict[str, Any]: ...
    def export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Build a zip of ``body["pipeline"]``: ``{"id", "filename", "url"}`` (server) or ``{"path"}`` (embedded)."""
        raise NotImplementedError

    # -- what the user calls ---------------------------------------------------------------------
    def submit_pipeline(self, pipeline: Pipeline, name: str = "", *, debug: bool = False,
                        compute: str | Mapping[str, Any] | None = None, storage: str | Mapping[str, Any] | None = None,
                        credentials: Mapping[str, Mapping[str, Any]] | None = None, save: bool = False) -> Execution:
        body = {"pipeline": pipeline.to_dict(), "name": name, "debug": debug, "compute": _choice(compute),
                "storage": _choice(storage), "credentials": dict(credentials or {}), "save": save}
        secrets = {"storage": dict(_choice(storage).get("config") or {}), "credentials": dict(credentials or {})}
        return Execution(self, self.submit(body), secrets)

    def get(self, name: str, project: str = DEFAULT_PROJECT) -> Execution:
        return Execution(self, self.execution(project, name))


def _choice(value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"backend": value, "config": {}}
    return {"backend": value.get("backend"), "config": dict(value.get("config") or {})}


class EmbeddedApi(Api):
    """The engine in this process (no Jupyter server reachable)."""

    mode = "embedded"

    def __init__(self, manager: Any = None, resume: bool = True) -> None:
        from .engine import ExecutionManager

        if manager is None:
            manager = ExecutionManager(data_dir())
            atexit.register(manager.close)
            if resume:
                manager.resume()
        self.manager = manager

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        record = self.manager.submit(body["pipeline"], body.get("name") or "", debug=bool(body.get("debug")),
                                     compute=body.get("compute"), storage=body.get("storage"),
                                     credentials=body.get("credentials"), save=bool(body.get("save")))
        return record.to_dict()

    def execution(self, project: str, name: str) -> dict[str, Any]:
        return self.manager.get(project, name).to_dict()

    def executions(self, **filters: str) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self.manager.list(**filters)]

    def cancel(self, project: str, name: str) -> dict[str, Any]:
        return self.manager.cancel(project, name).to_dict()

    def rerun(self, project: str, name: str, operations: Mapping[str, str]) -> dict[str, Any]:
        return self.manager.rerun(project, name, operations).to_dict()

    def delete(self, project: str, name: str) -> None:
        self.manager.delete(project, name)

    def log(self, project: str, name: str, op: str) -> str:
        return self.manager.log(project, name, op)

    def events(self, project: str, name: str, after: int = 0) -> Iterator[dict[str, Any]]:
        record = self.manager.get(project, name)
        while True:
            for event in self.manager.store.wait_for_events(after, record.id, timeout=1.0):
                after = event.seq
                yield event.to_dict()
                if event.type == "execution" and event.data.get("status") in FINAL_EXECUTION:
                    return

    def tags(self, project: str | None = None) -> list[dict[str, Any]]:
        return self.manager.tags(project)

    def diff(self, project: str, a: str, b: str) -> dict[str, Any]:
        return self.manager.diff(project, a, b)

    def backends(self) -> dict[str, Any]:
        return self.manager.backends()

    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        return self.manager.settings(project, pipeline)

    def save_settings(self, project: str, pipeline: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return self.manager.save_settings(project, pipeline, data)

    def artifact(self, project: str, name: str) -> dict[str, Any]:
        return self.manager.store.artifact(project, name).to_dict()

    def export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        from .export import write_zip

        pipeline = Pipeline.from_dict(body["pipeline"])
        options = {key: body[key] for key in ("bundle", "credentials", "embed_credentials") if body.get(key)}
        path = write_zip(pipeline, body.get("path") or f"{pipeline.name}.zip", home=self.manager.data_dir, **options)
        return {"path": path, "filename": os.path.basename(path)}


class RemoteApi(Api):
    """The server extension's REST API over ``requests`` (token auth)."""

    mode = "server"

    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"token {token}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        response = self.session.request(method, self.url(path), **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text or response.reason
            raise _ERRORS.get(response.status_code, PipelinesError)(message)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def reachable(self) -> bool:
        try:
            return self.session.get(self.url("backends"), timeout=3).status_code == 200
        except requests.RequestException:
            return False

    @staticmethod
    def _q(project: str) -> dict[str, str]:
        return {"project": project}

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.json("POST", "executions", json=body)

    def execution(self, project: str, name: str) -> dict[str, Any]:
        return self.json("GET", f"executions/{quote(name)}", params=self._q(project))

    def executions(self, **filters: str) -> list[dict[str, Any]]:
        return self.json("GET", "executions", params={k: v for k, v in filters.items() if v})["executions"]

    def cancel(self, project: str, name: str) -> dict[str, Any]:
        return self.json("POST", f"executions/{quote(name)}/cancel", params=self._q(project))

    def rerun(self, project: str, name: str, operations: Mapping[str, str]) -> dict[str, Any]:
        return self.json("POST", f"executions/{quote(name)}/rerun", params=self._q(project),
                         json={"operations": dict(operations)})

    def delete(self, project: str, name: str) -> None:
        self.request("DELETE", f"executions/{quote(name)}", params=self._q(project))

    def log(self, project: str, name: str, op: str) -> str:
        return self.request("GET", f"executions/{quote(name)}/jobs/{quote(op)}/log", params=self._q(project)).text

    def events(self, project: str, name: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """Follow the SSE stream, reconnecting with Last-Event-ID until the execution ends."""
        while True:
            headers = {"Last-Event-ID": str(after)} if after else {}
            try:
                with self.request("GET", f"executions/{quote(name)}/events", params=self._q(project),
                                  headers=headers, stream=True, timeout=(5, 60)) as response:
                    for event in parse_sse(response.iter_lines(decode_unicode=True)):
                        if event.get("id"):
                            after = int(event["id"])
                        data = json.loads(event.get("data") or "{}")
                        yield {"seq": int(event["id"]) if event.get("id") else None, "type": event.get("event"),
                               "execution": name, "project": project, "data": data}
                        if event.get("event") == "execution" and data.get("status") in FINAL_EXECUTION:
                            return
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                time.sleep(0.5)

    def tags(self, project: str | None = None) -> list[dict[str, Any]]:
        return self.json("GET", "tags", params={"project": project} if project else {})["tags"]

    def diff(self, project: str, a: str, b: str) -> dict[str, Any]:
        return self.json("GET", f"tags/{quote(a)}/diff/{quote(b)}", params=self._q(project))

    def backends(self) -> dict[str, Any]:
        return self.json("GET", "backends")

    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        return self.json("GET", f"settings/{quote(pipeline)}", params=self._q(project))

    def save_settings(self, project: str, pipeline: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return self.json("PUT", f"settings/{quote(pipeline)}", params=self._q(project), json=dict(data))

    def artifact(self, project: str, name: str) -> dict[str, Any]:
        return self.json("GET", f"artifacts/{quote(name)}", params=self._q(project))

    def export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.json("POST", "exports", json=dict(body))


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent events from text lines: dicts of ``id``, ``event``, ``data``."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            event[key] = f"{event[key]}\n{value}" if key == "data" and key in event else value


def discover() -> RemoteApi | None:
    """The Jupyter server to use, if one is reachable (see the module docstring for the order)."""
    candidates: list[tuple[str, str]] = []
    if os.environ.get("JUPYTER_PIPELINES_URL"):
        candidates.append((os.environ["JUPYTER_PIPELINES_URL"], os.environ.get("JUPYTER_PIPELINES_TOKEN", "")))
    if os.environ.get("JUPYTERHUB_SERVICE_URL"):
        candidates.append((os.environ["JUPYTERHUB_SERVICE_URL"], os.environ.get("JUPYTERHUB_API_TOKEN", "")))
    candidates.extend(_runtime_servers())
    for url, token in candidates:
        api = RemoteApi(url, token)
        if api.reachable():
            return api
    return None


def _runtime_servers() -> list[tuple[str, str]]:
    """Servers from jpserver-*.json: the kernel's parent first, then those whose root holds the cwd."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return []
    servers = list(list_running_servers())
    cwd = os.path.realpath(os.getcwd())

    def rank(info: Mapping[str, Any]) -> int:
        if info.get("pid") == os.getppid():
            return 0
        root = os.path.realpath(info.get("root_dir") or info.get("notebook_dir") or "/nonexistent")
        return 1 if cwd == root or cwd.startswith(root.rstrip("/") + "/") else 2

    return [(info["url"], info.get("token", "")) for info in sorted(servers, key=rank) if rank(info) < 2]


def connect(refresh: bool = False, resume: bool = True) -> Api:
    """The API to use from here: the Jupyter server's, or an embedded engine (said once).

    An embedded engine resumes executions interrupted by a crash unless ``resume`` is false.
    """
    global _connection
    with _lock:
        if _connection is None or refresh:
            remote = None if os.environ.get("JUPYTER_PIPELINES_EMBEDDED") == "1" else discover()
            if remote is None:
                print("jupyter_pipelines: no Jupyter server with the pipelines extension is reachable; "
                      "executions run in this process (embedded mode).", file=sys.stderr)
                _connection = EmbeddedApi(resume=resume)
            else:
                _connection = remote
        return _connection


def use(api: Api) -> None:
    """Make ``api`` the connection (the server extension and tests use this)."""
    global _connection
    with _lock:
        _connection = api


class Execution:
    """A handle on one execution: its state, its results, and control over it."""

    def __init__(self, api: Api, data: Mapping[str, Any], secrets: Mapping[str, Any] | None = None) -> None:
        self.api = api
        self.data = dict(data)
        self._secrets = dict(secrets or {})

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def project(self) -> str:
        return self.data["project"]

    @property
    def tag(self) -> str:
        return self.data["tag"]

    @property
    def status(self) -> str:
        return self.refresh().data["status"]

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

    def rerun(self, *operations: Operation | Callable[..., Any], **sources: str) -> Execution:
        """Run again; in debug mode pass edited operations (functions) or ``op=source`` texts."""
        edits = dict(sources)
        for op in operations:
            op = op if isinstance(op, Operation) else Operation(op)
            edits[op.name] = op.definition().source
        self.data = self.api.rerun(self.project, self.name, edits)
        return self

    def delete(self) -> None:
        self.api.delete(self.project, self.name)

    def logs(self, op: str | None = None) -> str | dict[str, str]:
        """One operation's log, or every operation's."""
        if op is not None:
            return self.api.log(self.project, self.name, op)
        return {job["op"]: self.api.log(self.project, self.name, job["op"]) for job in self.data["jobs"]}

    def result(self, op: str, output: str = "output", credentials: Mapping[str, Any] | None = None) -> Any:
        """Load an operation's output from the execution's storage."""
        from .runner.job import read_value
        from .storage.base import storage_backends
        from .backends import Context

        job = self.jobs.get(op)
        if job is None:
            raise NotFound(f"execution {self.name!r} has no operation {op!r}")
        location = next((out["location"] for out in job["outputs"] if out["name"] == output), None)
        if location is None:
            raise NotFound(f"operation {op!r} of {self.name!r} has no stored output {output!r} (status {job['status']})")
        storage = self.data["storage"]
        config = {**storage["config"], **self._secrets.get("storage", {}), **dict(credentials or {})}
        backend = storage_backends.create(storage["backend"], config, Context("", "", 1))
        return read_value(backend.filesystem(), location)

    def __repr__(self) -> str:
        data = self.data
        jobs = ", ".join(f"{job['op']}={job['status']}" for job in data.get("jobs", []))
        return f"<Execution {data['project']}/{data['name']} {data['status']}: {jobs}>"

    def _ipython_display_(self) -> None:
        from .widgets import StatusView

        StatusView(self).show()
