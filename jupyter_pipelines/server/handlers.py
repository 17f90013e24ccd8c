"""Thin REST handlers over the execution manager (prefix ``/pipelines/api``).

Every method is authenticated and authorized (resource ``pipelines``); blocking engine work
runs on a thread pool so the event loop never waits for storage or the store.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import time
import uuid
from typing import Any, Callable

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from ..engine import ExecutionManager
from ..engine.manager import read_log
from ..errors import BadRequest, NotFound, PipelinesError
from ..pipeline import DEFAULT_PROJECT
from ..store.models import FINAL_EXECUTION, FINAL_JOB
from .bridge import EventBridge

PROJECT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
KEEPALIVE_SECONDS = 15.0
IDLE_SECONDS = 1.0  # also picks up events written by other processes (CLI, embedded engines)
LOG_TAIL_SECONDS = 0.2


class PipelinesHandler(APIHandler):
    """Shared plumbing: the manager, JSON bodies, error mapping, off-loop calls."""

    auth_resource = "pipelines"

    @property
    def manager(self) -> ExecutionManager:
        return self.settings["pipelines_manager"]

    @property
    def bridge(self) -> EventBridge:
        return self.settings["pipelines_bridge"]

    def project(self) -> str:
        project = self.get_argument("project", DEFAULT_PROJECT)
        if not PROJECT.match(project):
            raise web.HTTPError(400, f"bad project name {project!r}")
        return project

    def body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise web.HTTPError(400, f"malformed JSON body: {error}") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the JSON body must be an object")
        return data

    async def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking engine work on the thread pool; engine errors become 4xx with their message."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.settings["pipelines_executor"], functools.partial(func, *args, **kwargs))
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
        filters = {key: self.get_argument(key, None) for key in ("project", "pipeline", "status")}
        records = await self.call(self.manager.list, **filters)
        self.send({"executions": [record.to_dict() for record in records]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        if not isinstance(body.get("pipeline"), dict):
            raise web.HTTPError(400, "missing field 'pipeline' (the pipeline's JSON object)")
        for key in ("compute", "storage", "credentials"):
            if body.get(key) is not None and not isinstance(body[key], dict):
                raise web.HTTPError(400, f"field {key!r} must be an object")
        if body.get("name") is not None and not isinstance(body["name"], str):
            raise web.HTTPError(400, "field 'name' must be a string")
        record = await self.call(self.manager.submit, body["pipeline"], body.get("name") or "",
                                 debug=bool(body.get("debug")), compute=body.get("compute"),
                                 storage=body.get("storage"), credentials=body.get("credentials"),
                                 save=bool(body.get("save")))
        self.set_header("Location", f"{self.base_url}pipelines/api/executions/{record.name}?project={record.project}")
        self.send(record.to_dict(), 201)


class ExecutionHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send((await self.call(self.manager.get, self.project(), name)).to_dict())

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
        self.send((await self.call(self.manager.cancel, self.project(), name)).to_dict())


class RerunHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        operations = self.body().get("operations") or {}
        if not isinstance(operations, dict):
            raise web.HTTPError(400, "field 'operations' must map operation names to their edited source")
        self.send((await self.call(self.manager.rerun, self.project(), name, operations)).to_dict())


class LogHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str, op: str) -> None:
        offset = int(self.get_argument("offset", "0") or 0)
        text = await self.call(self.manager.log, self.project(), name, op, offset)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text)


class EventsHandler(PipelinesHandler):
    """Server-sent events of one execution from the store's event log, plus live log tails.

    Stored events carry ``id:`` (their sequence number): a client reconnecting with
    ``Last-Event-ID`` gets exactly the ones it missed. ``log`` events carry no id; each says
    the offset of its text in the operation's log.
    """

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        project = self.project()
        record = await self.call(self.manager.get, project, name)
        after = int(self.request.headers.get("Last-Event-ID") or self.get_argument("after", "0") or 0)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        tailing = {job.node for job in record.jobs if job.status == "running"}
        status = record.status
        offsets: dict[str, int] = {}
        last_write = time.monotonic()
        try:
            while True:
                mark = self.bridge.last_seq
                events = await self.call(self.manager.store.events, after, record.id)
                ended_jobs: set[str] = set()
                for event in events:
                    after = event.seq
                    if event.type == "job":
                        node = event.data["op"]
                        if event.data["status"] == "running":
                            tailing.add(node)
                        elif event.data["status"] in FINAL_JOB and node in tailing:
                            ended_jobs.add(node)
                    self.write(f"id: {event.seq}\nevent: {event.type}\ndata: {json.dumps(event.data)}\n\n")
                    if event.type == "execution":
                        status = event.data.get("status", status)
                for node in sorted(tailing):
                    await self._tail(project, name, node, offsets)
                tailing -= ended_jobs
                if events or time.monotonic() - last_write > KEEPALIVE_SECONDS:
                    if not events:
                        self.write(": keepalive\n\n")
                    await self.flush()
                    last_write = time.monotonic()
                if status in FINAL_EXECUTION:
                    break
                await self.bridge.wait(mark, LOG_TAIL_SECONDS if tailing else IDLE_SECONDS)
        except StreamClosedError:
            return
        self.finish()

    async def _tail(self, project: str, name: str, node: str, offsets: dict[str, int]) -> None:
        start = offsets.get(node, 0)  # read the file only: the execution was checked when the stream opened
        text = await self.call(read_log, self.manager.log_path(project, name, node), start)
        if text:
            offsets[node] = start + len(text.encode())
            self.write(f"event: log\ndata: {json.dumps({'op': node, 'offset': start, 'text': text})}\n\n")


class ArtifactsHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        records = await self.call(self.manager.store.artifacts, self.project())
        self.send({"artifacts": [record.to_dict() for record in records]})


class ArtifactHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.send((await self.call(self.manager.store.artifact, self.project(), name)).to_dict())


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
        body = self.body()
        export_id = uuid.uuid4().hex
        filename = await self.call(build_export, self.manager, body, self.exports_dir(self.manager), export_id)
        self.send({"id": export_id, "filename": filename, "url": f"pipelines/api/exports/{export_id}"}, 201)

    @staticmethod
    def exports_dir(manager: ExecutionManager) -> str:
        return os.path.join(manager.data_dir, "exports")


class ExportHandler(PipelinesHandler):
    @web.authenticated
    @authorized
    async def get(self, export_id: str) -> None:
        folder = ExportsHandler.exports_dir(self.manager)
        path = os.path.join(folder, f"{export_id}.zip")
        if not re.fullmatch(r"[0-9a-f]{32}", export_id) or not os.path.isfile(path):
            raise web.HTTPError(404, f"no export {export_id!r}")
        with open(os.path.join(folder, f"{export_id}.json")) as meta:
            filename = json.load(meta)["filename"]
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish()


def build_export(manager: ExecutionManager, body: dict[str, Any], folder: str, export_id: str) -> str:
    """Build the zip of a pipeline (JSON) or of an execution's snapshot into the exports folder."""
    from ..export import build_zip
    from ..pipeline import Pipeline

    if isinstance(body.get("pipeline"), dict):
        pipeline = Pipeline.from_dict(body["pipeline"])
    elif body.get("execution"):
        record = manager.get(body.get("project") or DEFAULT_PROJECT, str(body["execution"]))
        pipeline = Pipeline.from_dict(manager.store.commit(record.commit_id)["snapshot"])
    else:
        raise BadRequest("give 'pipeline' (its JSON) or 'execution' (a name) to export")
    options = {key: body[key] for key in ("bundle", "credentials", "embed_credentials") if body.get(key)}
    os.makedirs(folder, mode=0o700, exist_ok=True)
    filename = f"{pipeline.name}.zip"
    path = os.path.join(folder, f"{export_id}.zip")
    try:
        with open(path, "wb") as file:
            build_zip(pipeline, file, home=manager.data_dir, **options)
    except (NotFound, ValueError, TypeError) as error:
        os.unlink(path)
        raise BadRequest(f"cannot export {pipeline.name!r}: {error}") from None
    with open(os.path.join(folder, f"{export_id}.json"), "w") as meta:
        json.dump({"filename": filename, "pipeline": pipeline.name, "project": pipeline.project}, meta)
    return filename


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
        ("artifacts", ArtifactsHandler),
        (f"artifacts/{NAME}", ArtifactHandler),
        ("tags", TagsHandler),
        (f"tags/{NAME}/diff/{NAME}", DiffHandler),
        ("exports", ExportsHandler),
        (f"exports/{NAME}", ExportHandler),
        (f"settings/{NAME}", SettingsHandler),
    ]
    return [(f"{prefix}/{path}/?", handler) for path, handler in table]
