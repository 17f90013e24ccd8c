"""Thin REST handlers over the execution manager (prefix ``/pipelines/api``).

Every method is authenticated and authorized (resource ``pipelines``); handlers read the request,
call one manager method on a thread pool (the event loop never waits for storage or the store)
and write its answer. Every check of what was sent lives in the manager, so the embedded engine
gets the same ones.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from ..client import UPLOAD_HEADER
from ..engine import ExecutionManager
from ..engine.checks import MAX_BODY_BYTES
from ..errors import PipelinesError
from ..pipeline import DEFAULT_PROJECT
from ..statuses import FINAL_EXECUTION, FINAL_JOB
from ..storage.base import safe_part
from ..store.models import now
from .bridge import EventBridge

KEEPALIVE_SECONDS = 15.0
IDLE_SECONDS = 1.0  # also picks up events written by other processes (CLI, embedded engines)
LOG_TAIL_SECONDS = 0.05
MAX_UPLOAD_BYTES = 64 << 30


class PipelinesHandler(APIHandler):
    """Shared plumbing: the manager, JSON bodies, error mapping, off-loop calls."""

    auth_resource = "pipelines"

    @property
    def manager(self) -> ExecutionManager:
        manager: ExecutionManager = self.settings["pipelines_manager"]
        return manager

    @property
    def bridge(self) -> EventBridge:
        bridge: EventBridge = self.settings["pipelines_bridge"]
        return bridge

    def project(self) -> str:
        try:
            return safe_part(self.get_argument("project", DEFAULT_PROJECT))
        except PipelinesError as error:
            raise web.HTTPError(400, f"bad project name: {error}") from None

    def body(self) -> dict[str, Any]:
        if len(self.request.body) > MAX_BODY_BYTES:
            raise web.HTTPError(413, f"the request body is larger than {MAX_BODY_BYTES >> 20} MiB")
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise web.HTTPError(400, f"malformed JSON body: {error}") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the JSON body must be an object")
        return data

    async def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking engine work on the thread pool; engine errors become 4xx with their message."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.settings["pipelines_executor"],
                                              functools.partial(func, *args, **kwargs))
        except PipelinesError as error:
            raise web.HTTPError(error.status, str(error)) from None

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


class BackendsHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send(await self.call(self.manager.backends))


class ExecutionsHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        filters = {key: self.get_argument(key, None) for key in ("project", "pipeline", "status", "limit", "before")}
        page = await self.call(self.manager.page, **filters)
        self.send({**page, "now": now()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        record = await self.call(self.manager.submit, body.get("pipeline"), body.get("name"),
                                 debug=body.get("debug"), compute=body.get("compute"), storage=body.get("storage"),
                                 credentials=body.get("credentials"), params=body.get("params"),
                                 save=body.get("save"))
        self.set_header("Location", f"{self.base_url}pipelines/api/executions/{record.name}?project={record.project}")
        self.send({**record.to_dict(), "now": now()}, 201)


class ExecutionHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send({**await self.call(self.manager.describe, self.project(), name), "now": now()})

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.call(self.manager.delete, self.project(), name)
        self.set_status(204)
        self.finish()


class CancelHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        self.send({**(await self.call(self.manager.cancel, self.project(), name)).to_dict(), "now": now()})


class RerunHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        operations = self.body().get("operations")
        record = await self.call(self.manager.rerun, self.project(), name, operations)
        self.send({**record.to_dict(), "now": now()})


class LogHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str, op: str) -> None:
        text = await self.call(self.manager.job_log, self.project(), name, op, self.get_argument("offset", None),
                               self.get_argument("attempt", None))
        self.finish(text, set_content_type="text/plain; charset=utf-8")  # APIHandler would say JSON


class FigureHandler(PipelinesHandler):
    """An image an operation drew (``jobs[i].figures`` of ``GET executions/{name}`` link here)."""

    @web.authenticated
    @authorized
    async def get(self, name: str, op: str, index: str) -> None:
        data, mime = await self.call(self.manager.figure, self.project(), name, op, index)
        self.set_header("Cache-Control", "no-cache")  # a re-run draws anew at the same URL
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(data, set_content_type=mime)  # APIHandler.finish would say JSON


class EventsHandler(PipelinesHandler):
    """Server-sent events of one execution from the store's event log, plus live log tails.

    Stored events carry ``id:`` (their sequence number): a client reconnecting with
    ``Last-Event-ID`` gets exactly the ones it missed. ``log`` events carry no id; each says
    the offset of its text in the operation's log. Whatever was written is flushed at once.
    """

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        project = self.project()
        given = self.request.headers.get("Last-Event-ID") or self.get_argument("after", None)
        record, _ = await self.call(self.manager.events, project, name, given)  # checks it is a number
        after = int(given or 0)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        tailing = {job.node: job.attempt for job in record.jobs if job.status == "running"}
        status = record.status
        offsets: dict[str, int] = {}
        last_write = time.monotonic()
        try:
            while True:
                mark = self.bridge.last_seq
                events = await self.call(self.manager.events_of, record.id, after)
                ended_jobs: set[str] = set()
                for event in events:
                    after = event.seq
                    if event.type == "job":
                        node = event.data["op"]
                        if event.data["status"] == "running":
                            tailing[node] = event.data["attempt"]
                        elif event.data["status"] in FINAL_JOB and node in tailing:
                            ended_jobs.add(node)
                    self.write(f"id: {event.seq}\nevent: {event.type}\ndata: {json.dumps(event.data)}\n\n")
                    if event.type == "execution":
                        status = event.data.get("status", status)
                wrote = bool(events)
                for node in sorted(tailing):
                    wrote = await self._tail(project, name, node, tailing[node], offsets) or wrote
                for node in ended_jobs:
                    tailing.pop(node, None)
                if wrote or time.monotonic() - last_write > KEEPALIVE_SECONDS:
                    if not wrote:
                        self.write(": keepalive\n\n")
                    await self.flush()
                    last_write = time.monotonic()
                if status in FINAL_EXECUTION:
                    break
                await self.bridge.wait(mark, LOG_TAIL_SECONDS if tailing else IDLE_SECONDS)
        except StreamClosedError:
            return
        self.finish()

    async def _tail(self, project: str, name: str, node: str, attempt: int, offsets: dict[str, int]) -> bool:
        """Write what is new in a running job's log as ``log`` events; True if anything was."""
        key = f"{node}#{attempt}"
        start = offsets.get(key, 0)
        chunk = await self.call(self.manager.log_chunk, project, name, node, attempt, start)
        if not chunk["text"] and not chunk["truncated"]:
            return False
        offsets[key] = chunk["end"]
        data = {"op": node, "attempt": attempt, "offset": chunk["offset"], "text": chunk["text"]}
        if chunk["truncated"]:
            data["truncated"] = chunk["truncated"]
        self.write(f"event: log\ndata: {json.dumps(data)}\n\n")
        return True


@web.stream_request_body
class ArtifactsHandler(PipelinesHandler):
    """``GET``: a project's artifacts. ``POST``: register data already on storage (a JSON body), or
    upload the bytes of the body (``application/octet-stream``, described by the ``X-Pipelines-Artifact``
    header) — streamed to a private spool file, never held in memory."""

    spool: IO[bytes] | None = None
    received = 0

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "POST":
            return
        if self.current_user is None or not self.authorizer.is_authorized(self, self.current_user, "write",
                                                                          self.auth_resource):
            raise web.HTTPError(403)
        if self._uploading():
            if isinstance(self.request.connection, HTTP1Connection):
                self.request.connection.set_max_body_size(MAX_UPLOAD_BYTES)
            self.spool = tempfile.TemporaryFile(dir=self.manager.data_dir)
        else:
            self.request.body = b""

    def _uploading(self) -> bool:
        return self.request.headers.get("Content-Type", "").startswith("application/octet-stream")

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.spool is not None:
            self.spool.write(chunk)
        elif self.received <= MAX_BODY_BYTES:
            self.request.body += chunk

    def on_finish(self) -> None:
        if self.spool is not None:
            self.spool.close()

    @web.authenticated
    @authorized
    async def get(self) -> None:
        records = await self.call(self.manager.list_artifacts, self.project())
        self.send({"artifacts": [record.to_dict() for record in records]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        if self.spool is None:
            if self.received > MAX_BODY_BYTES:
                raise web.HTTPError(413, f"the request body is larger than {MAX_BODY_BYTES >> 20} MiB")
            record = await self.call(self.manager.register_artifact, self.body())
        else:
            try:
                meta = json.loads(self.request.headers.get(UPLOAD_HEADER) or "{}")
            except ValueError as error:
                raise web.HTTPError(400, f"malformed {UPLOAD_HEADER} header: {error}") from None
            self.spool.seek(0)
            record = await self.call(self.manager.upload_artifact, self.spool, meta)
        self.send(record.to_dict(), 201)


class ArtifactHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send((await self.call(self.manager.artifact, self.project(), name)).to_dict())


class TagsHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.send({"tags": await self.call(self.manager.tags, self.get_argument("project", None))})


class DiffHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, a: str, b: str) -> None:
        self.send(await self.call(self.manager.diff, self.project(), a, b))


class SettingsHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, pipeline: str) -> None:
        self.send(await self.call(self.manager.settings, self.project(), pipeline))

    @web.authenticated
    @authorized
    async def put(self, pipeline: str) -> None:
        self.send(await self.call(self.manager.save_settings, self.project(), pipeline, self.body()))


class ExportsHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        built = await self.call(self.manager.export, self.body())
        self.send({**built, "url": f"pipelines/api/exports/{built['id']}"}, 201)


class ExportHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, export_id: str) -> None:
        path, meta = await self.call(self.manager.export_file, export_id)
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{meta["filename"]}"')
        self.set_header("Content-Length", str(os.path.getsize(path)))
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish()
        await self.call(self.manager.export_downloaded, export_id)


NAME = r"([^/]+)"


def routes() -> list[tuple[str, type[PipelinesHandler]]]:
    """URL patterns (the extension app prepends the server's base URL)."""
    prefix = "/pipelines/api"
    table = [
        ("backends", BackendsHandler),
        ("executions", ExecutionsHandler),
        (f"executions/{NAME}", ExecutionHandler),
        (f"executions/{NAME}/cancel", CancelHandler),
        (f"executions/{NAME}/rerun", RerunHandler),
        (f"executions/{NAME}/events", EventsHandler),
        (f"executions/{NAME}/jobs/{NAME}/log", LogHandler),
        (f"executions/{NAME}/jobs/{NAME}/figures/{NAME}", FigureHandler),
        ("artifacts", ArtifactsHandler),
        (f"artifacts/{NAME}", ArtifactHandler),
        ("tags", TagsHandler),
        (f"tags/{NAME}/diff/{NAME}", DiffHandler),
        ("exports", ExportsHandler),
        (f"exports/{NAME}", ExportHandler),
        (f"settings/{NAME}", SettingsHandler),
    ]
    return [(f"{prefix}/{path}/?", handler) for path, handler in table]
