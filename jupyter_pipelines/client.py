"""Kernel-side client: the pipelines API of a Jupyter server, or of an engine in this process.

``connect()`` finds the Jupyter server to use (explicit variables, then JupyterHub's, then the
running servers of this user: the kernel's own, one whose root holds the current directory, any
other; see :func:`find_server`) and falls back to an engine inside this process when none with
the pipelines extension is reachable; one line on stderr says which it chose. Both answer in the
REST API's JSON shapes, so what sits on top (``session``, the widgets, the CLI) behaves the same on
each.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from .engine import ExecutionManager
from .errors import BadRequest, Conflict, NotFound, PipelinesError

if TYPE_CHECKING:
    import requests  # imported by RemoteApi when one is made: a script on the embedded engine never needs it

API_PREFIX = "pipelines/api"
_ERRORS: dict[int, type[PipelinesError]] = {400: BadRequest, 404: NotFound, 409: Conflict, 413: BadRequest}
#: Request header of an artifact upload: the JSON that describes the bytes of the body.
UPLOAD_HEADER = "X-Pipelines-Artifact"
_lock = threading.Lock()
_connection: Api | None = None


class Api:
    """The operations both paths offer, in the REST API's JSON shapes."""

    mode = "abstract"

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def execution(self, project: str, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def page(self, **filters: Any) -> dict[str, Any]:
        """One page of executions: ``{"executions", "next"}`` (filters: project, pipeline, status, limit, before)."""
        raise NotImplementedError

    def executions(self, **filters: Any) -> list[dict[str, Any]]:
        """Every execution matching ``filters``, newest first (all pages)."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.page(**filters, before=cursor)
            found.extend(page["executions"])
            cursor = page.get("next")
            if not cursor:
                return found

    def cancel(self, project: str, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def rerun(self, project: str, name: str, operations: Mapping[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    def delete(self, project: str, name: str) -> None:
        raise NotImplementedError

    def log(self, project: str, name: str, op: str, offset: int = 0, attempt: int | None = None) -> str:
        """An operation's log from byte ``offset``: its latest attempt's, or ``attempt``'s."""
        raise NotImplementedError

    def figure(self, project: str, name: str, op: str, index: int) -> bytes:
        """The image (PNG) of figure ``index`` that operation ``op`` drew (its ``figures`` list them)."""
        raise NotImplementedError

    def events(self, project: str, name: str, after: int = 0) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def tags(self, project: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def diff(self, project: str, a: str, b: str) -> dict[str, Any]:
        raise NotImplementedError

    def backends(self) -> dict[str, Any]:
        raise NotImplementedError

    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        raise NotImplementedError

    def save_settings(self, project: str, pipeline: str, data: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def artifact(self, project: str, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def artifacts(self, project: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def register_artifact(self, body: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def upload_artifact(self, meta: Mapping[str, Any], reader: IO[bytes]) -> dict[str, Any]:
        """Stream ``reader`` into storage as an artifact (``meta``: name, project, storage, credentials, type, suffix)."""
        raise NotImplementedError

    def export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Build a zip for download: ``{"id", "filename", "url"}`` (``url`` only from a server)."""
        raise NotImplementedError

    def export_to(self, body: Mapping[str, Any], path: str) -> str:
        """Build a zip and write it to ``path`` on this machine; returns its absolute path."""
        raise NotImplementedError


class EmbeddedApi(Api):
    """The engine in this process (no Jupyter server reachable)."""

    mode = "embedded"

    def __init__(self, manager: ExecutionManager | None = None, resume: bool = True) -> None:
        if manager is None:
            manager = ExecutionManager()
            atexit.register(manager.close)
            if resume:
                manager.resume()
        self.manager = manager

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.manager.submit(body.get("pipeline") or {}, body.get("name"), debug=body.get("debug"),
                                   compute=body.get("compute"), storage=body.get("storage"),
                                   credentials=body.get("credentials"), params=body.get("params"),
                                   save=body.get("save")).to_dict()

    def execution(self, project: str, name: str) -> dict[str, Any]:
        return self.manager.describe(project, name)

    def page(self, **filters: Any) -> dict[str, Any]:
        return self.manager.page(**filters)

    def cancel(self, project: str, name: str) -> dict[str, Any]:
        return self.manager.cancel(project, name).to_dict()

    def rerun(self, project: str, name: str, operations: Mapping[str, str]) -> dict[str, Any]:
        return self.manager.rerun(project, name, operations).to_dict()

    def delete(self, project: str, name: str) -> None:
        self.manager.delete(project, name)

    def log(self, project: str, name: str, op: str, offset: int = 0, attempt: int | None = None) -> str:
        return self.manager.job_log(project, name, op, offset, attempt)

    def figure(self, project: str, name: str, op: str, index: int) -> bytes:
        return self.manager.figure(project, name, op, index)[0]

    def events(self, project: str, name: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """Events after ``after`` until the execution's current end (a re-run's replayed history holds
        earlier ends: those do not stop it)."""
        record, _ = self.manager.events(project, name)
        while True:
            events = self.manager.wait_for_events(record.id, after, timeout=1.0)
            for event in events:
                after = event.seq
                yield event.to_dict()
            if (not events or events[-1].type == "execution") and self.manager.execution_by_id(record.id).final \
                    and not self.manager.events_of(record.id, after):
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
        return self.manager.artifact(project, name).to_dict()

    def artifacts(self, project: str) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self.manager.list_artifacts(project)]

    def register_artifact(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.manager.register_artifact(body).to_dict()

    def upload_artifact(self, meta: Mapping[str, Any], reader: IO[bytes]) -> dict[str, Any]:
        return self.manager.upload_artifact(reader, meta).to_dict()

    def export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.manager.export(body)

    def export_to(self, body: Mapping[str, Any], path: str) -> str:
        return self.manager.export_to(body, path)


class RemoteApi(Api):
    """The server extension's REST API over ``requests`` (token auth)."""

    mode = "server"

    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url.rstrip("/") + "/"
        import requests  # a script that finds no server never imports requests (start-up)

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

    def obj(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON object answer (anything else is the server's fault, said as such)."""
        data = self.json(method, path, **kwargs)
        if not isinstance(data, dict):
            raise PipelinesError(f"{method} {path}: the server answered {type(data).__name__}, not an object")
        return data

    def reachable(self) -> bool:
        import requests  # a script that finds no server never imports requests (start-up)

        try:
            return self.session.get(self.url("backends"), timeout=3).status_code == 200
        except requests.RequestException:
            return False

    @staticmethod
    def _q(project: str) -> dict[str, str]:
        return {"project": project}

    def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.obj("POST", "executions", json=body)

    def execution(self, project: str, name: str) -> dict[str, Any]:
        return self.obj("GET", f"executions/{quote(name)}", params=self._q(project))

    def page(self, **filters: Any) -> dict[str, Any]:
        return self.obj("GET", "executions", params={k: v for k, v in filters.items() if v not in (None, "")})

    def cancel(self, project: str, name: str) -> dict[str, Any]:
        return self.obj("POST", f"executions/{quote(name)}/cancel", params=self._q(project))

    def rerun(self, project: str, name: str, operations: Mapping[str, str]) -> dict[str, Any]:
        return self.obj("POST", f"executions/{quote(name)}/rerun", params=self._q(project),
                         json={"operations": dict(operations)})

    def delete(self, project: str, name: str) -> None:
        self.request("DELETE", f"executions/{quote(name)}", params=self._q(project))

    def log(self, project: str, name: str, op: str, offset: int = 0, attempt: int | None = None) -> str:
        params = {**self._q(project), "offset": str(offset), **({"attempt": str(attempt)} if attempt else {})}
        return self.request("GET", f"executions/{quote(name)}/jobs/{quote(op)}/log", params=params).text

    def figure(self, project: str, name: str, op: str, index: int) -> bytes:
        return self.request("GET", f"executions/{quote(name)}/jobs/{quote(op, safe='')}/figures/{int(index)}",
                            params=self._q(project)).content

    def events(self, project: str, name: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """Follow the SSE stream, reconnecting with Last-Event-ID until the execution ends."""
        import requests  # a script that finds no server never imports requests (start-up)

        while True:
            headers = {"Last-Event-ID": str(after)} if after else {}
            try:
                with self.request("GET", f"executions/{quote(name)}/events", params=self._q(project),
                                  headers=headers, stream=True, timeout=(5, 60)) as response:
                    for event in parse_sse(line if isinstance(line, str) else line.decode()
                                           for line in response.iter_lines(decode_unicode=True)):
                        if event.get("id"):
                            after = int(event["id"])
                        data = json.loads(event.get("data") or "{}")
                        yield {"seq": int(event["id"]) if event.get("id") else None, "type": event.get("event"),
                               "execution": name, "project": project, "data": data}
                return  # the server ends the stream at the execution's current end
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                time.sleep(0.5)

    def tags(self, project: str | None = None) -> list[dict[str, Any]]:
        return list(self.obj("GET", "tags", params={"project": project} if project else {})["tags"])

    def diff(self, project: str, a: str, b: str) -> dict[str, Any]:
        return self.obj("GET", f"tags/{quote(a)}/diff/{quote(b)}", params=self._q(project))

    def backends(self) -> dict[str, Any]:
        return self.obj("GET", "backends")

    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        return self.obj("GET", f"settings/{quote(pipeline)}", params=self._q(project))

    def save_settings(self, project: str, pipeline: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return self.obj("PUT", f"settings/{quote(pipeline)}", params=self._q(project), json=dict(data))

    def artifact(self, project: str, name: str) -> dict[str, Any]:
        return self.obj("GET", f"artifacts/{quote(name)}", params=self._q(project))

    def artifacts(self, project: str) -> list[dict[str, Any]]:
        return list(self.obj("GET", "artifacts", params=self._q(project))["artifacts"])

    def register_artifact(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.obj("POST", "artifacts", json=dict(body))

    def upload_artifact(self, meta: Mapping[str, Any], reader: IO[bytes]) -> dict[str, Any]:
        """The bytes stream as the body; what describes them (credentials too) in a header, never in the URL."""
        headers = {"Content-Type": "application/octet-stream", UPLOAD_HEADER: json.dumps(dict(meta))}
        return self.obj("POST", "artifacts", data=_chunks(reader), headers=headers, timeout=(30, 3600))

    def export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.obj("POST", "exports", json=dict(body))

    def export_to(self, body: Mapping[str, Any], path: str) -> str:
        built = self.export(body)
        path = os.path.abspath(os.path.expanduser(path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.partial"
        with self.request("GET", f"exports/{built['id']}", stream=True) as response, open(partial, "wb") as file:
            shutil.copyfileobj(response.raw, file, 1 << 20)
        os.replace(partial, path)
        return path


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
    """The Jupyter server to use, if one is reachable (see :func:`find_server` for the order)."""
    return find_server()[0]


def find_server() -> tuple[RemoteApi | None, str]:
    """The Jupyter server to use and why it was chosen, or ``(None, why none was)``.

    In order, the first that answers ``GET pipelines/api/backends`` with 200: ``JUPYTER_PIPELINES_URL``
    (token ``JUPYTER_PIPELINES_TOKEN``); JupyterHub's single-user server (``JUPYTERHUB_SERVICE_URL``);
    then the running servers of this user (the runtime directory's ``jpserver-*.json``): the one that
    started this kernel, those whose root holds the current directory (deepest root first), then any
    other.
    """
    candidates: list[tuple[str, str, str]] = []
    explicit = os.environ.get("JUPYTER_PIPELINES_URL")
    if explicit:
        candidates.append((explicit, os.environ.get("JUPYTER_PIPELINES_TOKEN", ""), "set by JUPYTER_PIPELINES_URL"))
    if os.environ.get("JUPYTERHUB_SERVICE_URL"):
        candidates.append((os.environ["JUPYTERHUB_SERVICE_URL"], os.environ.get("JUPYTERHUB_API_TOKEN", ""),
                           "JupyterHub's server for this user"))
    candidates.extend(_runtime_servers())
    for url, token, reason in candidates:
        api = RemoteApi(url, token)
        if api.reachable():
            if explicit and url != explicit:
                reason += f"; JUPYTER_PIPELINES_URL={explicit} does not answer"
            return api, reason
    if explicit:
        return None, f"JUPYTER_PIPELINES_URL={explicit} does not answer, nor does any other server"
    if candidates:
        return None, "no running Jupyter server has the pipelines extension"
    return None, "no Jupyter server with the pipelines extension found"


def _list_running_servers() -> Iterator[dict[str, Any]]:
    """What ``jupyter_server.serverapp.list_running_servers`` lists — the jpserver-*.json of live servers —
    without importing jupyter_server (0.9 s: a script that finds no server would wait that long)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir  # optional: absent outside a Jupyter install
    except ImportError:
        return
    folder = jupyter_runtime_dir()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        if not (name.startswith("jpserver-") and name.endswith(".json")):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as file:
                info = json.load(file)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("pid"), int) and _pid_alive(info["pid"]):
            yield info


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _runtime_servers() -> list[tuple[str, str, str]]:
    """Running servers from this user's jpserver-*.json: ``(url, token, why)``, best first."""
    cwd = os.path.realpath(os.getcwd())
    ranked = []
    for order, info in enumerate(_list_running_servers()):
        root = os.path.realpath(info.get("root_dir") or info.get("notebook_dir") or "/nonexistent")
        if info.get("pid") == os.getppid():
            rank, reason = (0, 0), "the server that started this kernel"
        elif cwd == root or cwd.startswith(root.rstrip("/") + "/"):
            rank, reason = (1, -len(root)), f"its root {root} holds this directory"
        else:
            rank, reason = (2, order), f"a running server of yours (root {root})"
        ranked.append((rank, info["url"], info.get("token", ""), reason))
    return [(url, token, reason) for _, url, token, reason in sorted(ranked, key=lambda item: item[0])]


def connect(refresh: bool = False, resume: bool = True) -> Api:
    """The API to use from here: the Jupyter server's, or an embedded engine; which one is said once on stderr.

    An embedded engine resumes executions interrupted by a crash unless ``resume`` is false.
    """
    global _connection
    with _lock:
        if _connection is None or refresh:
            if os.environ.get("JUPYTER_PIPELINES_EMBEDDED") == "1":
                remote, reason = None, "JUPYTER_PIPELINES_EMBEDDED=1"
            else:
                remote, reason = find_server()
            if remote is None:
                print(f"jupyter_pipelines: using the embedded engine ({reason}); executions run in this process.",
                      file=sys.stderr, flush=True)
                _connection = EmbeddedApi(resume=resume)
            else:
                print(f"jupyter_pipelines: using the Jupyter server at {remote.base_url} ({reason}).",
                      file=sys.stderr, flush=True)
                _connection = remote
        return _connection


def use(api: Api) -> None:
    """Make ``api`` the connection (the server extension and tests use this)."""
    global _connection
    with _lock:
        _connection = api


def _chunks(reader: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := reader.read(size):
        yield chunk
