"""A loopback stand-in for SciServer's REST APIs, for tests.

``SciServerStandin`` runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (random port)
in a thread and speaks:

* the login portal: ``POST {login_url}/keystone/v3/tokens`` with
  ``{"auth":{"identity":{"password":{"user":{"name":..,"password":..}}}}}`` ->
  201, token in the ``X-Subject-Token`` header (401 on bad credentials);
* the Files API under ``{files_url}/api/``::

    GET    file/{path}               download (whole body, 200; Range is ignored)
    HEAD   file/{path}               headers only
    PUT    file/{path}?quiet=true    upload, overwriting; without quiet=true an
                                     existing file -> 409 (production: 500 + message)
    DELETE data/{path}               delete a file or a folder, recursively
    GET    jsontree/{path}?level=2   one folder: {"root": {"name", "creationTime",
                                     "lastModified", "folders": [..], "files": [..]},
                                     "queryPath": path}
    PUT    folder/{path}?quiet=..    create a folder and its parents; without
                                     quiet=true an existing one -> 409
    GET    ping

  Paths are ``rootVolume/owner/userVolume/...``; each user gets
  ``Storage/<user>/persistent`` and ``Temporary/<user>/scratch``.  Every Files call
  needs ``X-Auth-Token`` (missing/unknown -> 401) and a user only reaches volumes
  owned by themself (others' -> 403; an unknown volume of their own -> 404).  A missing
  path -> 404, a file where a folder is needed (or the reverse) -> 409/400.  Files
  live in a temporary folder on disk; uploads are streamed to disk and renamed into
  place.

``production_quirks=True`` answers errors the way the real service does (HTTP 500 with
``{"status": "error", "error": message}``, 401 kept) and a GET of a missing file with an
empty 200 without Content-Length.

Routes are a table of ``(method, compiled regex) -> handler(req) -> Response``;
``standin.add_route("GET", r"/racm/jobm/rest/jobs", fn)`` adds more (e.g. the
SciServer Compute / RACM job routes).  Handlers get a ``Request`` (method, path,
match, query, headers, body readers, ``user`` when ``req.require_user()`` is used)
and return a ``Response`` (or raise ``HTTPError``).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

FILES_PREFIX = "/fileservice"
LOGIN_PREFIX = "/login-portal"
ROOT_VOLUMES = {"Storage": ["persistent"], "Temporary": ["scratch"]}


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Response:
    """``body``: bytes, or a binary file object streamed (and closed) after headers."""

    def __init__(self, status=200, body=b"", headers=None, length=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.length = length

    @classmethod
    def json(cls, obj, status=200, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return cls(status, json.dumps(obj).encode(), h)


class Request:
    def __init__(self, handler, method, match):
        self.handler = handler
        self.standin = handler.server.standin
        self.method = method
        parts = urlsplit(handler.path)
        self.raw_path = parts.path
        self.path = unquote(parts.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = handler.headers
        self.match = match
        self.user = None
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        self._chunked = "chunked" in te
        self._left = int(self.headers.get("Content-Length") or 0)
        self._chunk_left = 0
        self._eof = not self._chunked and self._left == 0

    def param(self, name, default=None):
        return self.match.group(name) if self.match and name in self.match.groupdict() else default

    def flag(self, name):
        return str(self.query.get(name, "")).lower() in ("true", "1", "yes")

    # -- body

    def read(self, n=65536):
        """Read up to n bytes of the request body (handles chunked uploads)."""
        if self._eof:
            return b""
        rfile = self.handler.rfile
        if not self._chunked:
            data = rfile.read(min(n, self._left))
            self._left -= len(data)
            if self._left <= 0 or not data:
                self._eof = True
            return data
        if self._chunk_left == 0:
            line = rfile.readline().strip()
            size = int(line.split(b";")[0] or b"0", 16)
            if size == 0:
                while rfile.readline().strip():  # trailers
                    pass
                self._eof = True
                return b""
            self._chunk_left = size
        data = rfile.read(min(n, self._chunk_left))
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            rfile.readline()  # CRLF after the chunk
        return data

    def body(self):
        chunks = []
        while True:
            c = self.read()
            if not c:
                return b"".join(chunks)
            chunks.append(c)

    def drain(self):
        while self.read():
            pass

    def json(self):
        try:
            return json.loads(self.body() or b"null")
        except ValueError as e:
            raise HTTPError(400, f"request body is not JSON: {e}") from None

    def require_user(self):
        token = self.headers.get("X-Auth-Token")
        if not token:
            raise HTTPError(401, "User's auth token is missing")
        user = self.standin.tokens.get(token)
        if user is None:
            raise HTTPError(401, "User's auth token is invalid")
        self.user = user
        return user


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "SciServerStandin/1.0"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _dispatch(self):
        standin = self.server.standin
        method = self.command
        path = unquote(urlsplit(self.path).path)
        req = None
        try:
            handler, match = standin.find_route(method if method != "HEAD" else "GET", path)
            req = Request(self, method, match)
            with standin._log_lock:
                standin.requests.append((method, path, dict(self.headers)))
            if handler is None:
                raise HTTPError(404, f"no route for {method} {path}")
            resp = handler(req)
        except HTTPError as e:
            resp = standin.error_response(e.status, e.message)
        except Exception as e:  # noqa: BLE001 - a bug in a handler: report it, keep serving
            resp = Response.json({"status": "error", "error": f"{type(e).__name__}: {e}"}, 500)
        if req is not None:
            try:
                req.drain()
            except Exception:  # noqa: BLE001 - a body that cannot be read: end this connection
                self.close_connection = True
        self._send(resp)

    def _send(self, resp):
        body = resp.body
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if isinstance(body, (bytes, bytearray)):
            length = len(body)
        else:
            length = resp.length
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            if self.command == "HEAD":
                return
            if isinstance(body, (bytes, bytearray)):
                self.wfile.write(body)
            else:
                shutil.copyfileobj(body, self.wfile, 1 << 20)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if hasattr(body, "close"):
                body.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _dispatch


def _iso(ts):
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SciServerStandin:
    """Loopback SciServer (login portal + Files API).  Use as a context manager, or
    call ``start()`` / ``stop()``."""

    def __init__(self, users=None, root=None, production_quirks=False):
        self.users = dict(users or {"alice": "alice-password", "bob": "bob-password"})
        self.tokens = {}  # token -> username
        self.production_quirks = production_quirks
        self._own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="sciserver-standin-")
        self.routes = []  # [(method, compiled regex, handler)]
        self.requests = []  # log: (method, unquoted path, headers)
        self._log_lock = threading.Lock()
        self._server = None
        self._thread = None
        for user in self.users:
            self.add_user_volumes(user)
        self._add_login_routes()
        self._add_files_routes()

    # -- lifecycle

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True,
                                        name="sciserver-standin")
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def files_url(self):
        return self.url + FILES_PREFIX

    @property
    def login_url(self):
        return self.url + LOGIN_PREFIX

    # -- users, tokens

    def add_user(self, name, password):
        self.users[name] = password
        self.add_user_volumes(name)

    def add_user_volumes(self, user):
        for root, volumes in ROOT_VOLUMES.items():
            for vol in volumes:
                os.makedirs(os.path.join(self.root, root, user, vol), exist_ok=True)

    def issue_token(self, user):
        if user not in self.users:
            raise KeyError(user)
        token = secrets.token_hex(16)
        self.tokens[token] = user
        return token

    def revoke_token(self, token):
        self.tokens.pop(token, None)

    def requests_with_header(self, name):
        with self._log_lock:
            return [r for r in self.requests if name.lower() in {k.lower() for k in r[2]}]

    # -- routing

    def add_route(self, method, pattern, handler):
        """Register ``handler(req) -> Response`` for ``method`` and a regex matched
        (fullmatch) against the percent-decoded URL path (no query).  Later routes win."""
        self.routes.insert(0, (method.upper(), re.compile(pattern), handler))

    def route(self, method, pattern):
        def deco(fn):
            self.add_route(method, pattern, fn)
            return fn
        return deco

    def find_route(self, method, path):
        for m, rx, fn in self.routes:
            if m == method:
                match = rx.fullmatch(path)
                if match:
                    return fn, match
        return None, None

    def error_response(self, status, message):
        if self.production_quirks and status not in (401,):
            status = 500
        return Response.json({"status": "error", "error": message}, status)

    # -- login portal

    def _add_login_routes(self):
        def tokens(req):
            doc = req.json() or {}
            try:
                user = doc["auth"]["identity"]["password"]["user"]
                name, password = user["name"], user["password"]
            except (KeyError, TypeError):
                raise HTTPError(400, "malformed keystone authentication request") from None
            if self.users.get(name) != password or password is None:
                raise HTTPError(401, "The request you have made requires authentication.")
            token = self.issue_token(name)
            expires = _iso(time.time() + 24 * 3600)
            return Response.json({"token": {"user": {"name": name}, "expires_at": expires}},
                                 201, {"X-Subject-Token": token})

        self.add_route("POST", LOGIN_PREFIX + r"/keystone/v3/tokens", tokens)

    # -- files API

    def _resolve(self, req, rel):
        """Check access to ``rel`` (rootVolume/owner/userVolume/...) -> disk path."""
        user = req.require_user()
        parts = [p for p in rel.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise HTTPError(400, "Attempted to access a path outside of the requested volume")
        if len(parts) < 3:
            raise HTTPError(400, "path must be rootVolume/owner/userVolume[/path]")
        root, owner, volume = parts[:3]
        if root not in ROOT_VOLUMES:
            raise HTTPError(404, f"Fileservice does not contain top volume '{root}'")
        if owner != user:
            raise HTTPError(403, f"user '{user}' is not allowed to access volumes of '{owner}'")
        base = os.path.join(self.root, root, owner, volume)
        if not os.path.isdir(base):
            raise HTTPError(404, f"user volume '{root}/{owner}/{volume}' does not exist")
        return base, os.path.join(base, *parts[3:]), "/".join(parts)

    def _check_parents(self, base, full):
        """A file standing where a parent folder must be -> 409."""
        d = os.path.dirname(full)
        while len(d) > len(base):
            if os.path.isfile(d):
                raise HTTPError(409, "a parent of the path is a file, not a directory")
            d = os.path.dirname(d)

    def _add_files_routes(self):
        api = FILES_PREFIX + r"/api"
        p = r"(?P<path>.+)"

        def ping(req):
            return Response(200, b"Service is alive", {"Content-Type": "text/plain"})

        def download(req):
            base, full, rel = self._resolve(req, req.param("path"))
            # Range headers are ignored: SciServer always sends the whole file.
            if not os.path.isfile(full):
                if self.production_quirks:
                    # what the real service does: 200, no Content-Length, no body
                    return Response(200, io.BytesIO(b""), length=None)
                if os.path.isdir(full):
                    raise HTTPError(400, f"'{rel}' is a directory")
                raise HTTPError(404, f"file '{rel}' does not exist")
            st = os.stat(full)
            f = open(full, "rb")
            return Response(200, f, {
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{os.path.basename(full)}"',
                "Etag": f"W/{int(st.st_mtime * 1000)}",
            }, length=st.st_size)

        def upload(req):
            base, full, rel = self._resolve(req, req.param("path"))
            if len(rel.split("/")) < 4:
                raise HTTPError(400, "a file path is needed inside the user volume")
            quiet = req.flag("quiet")
            if os.path.isdir(full):
                raise HTTPError(409, f"'{rel}' is a directory")
            if os.path.exists(full) and not quiet:
                raise HTTPError(409, f"Error when creating '{rel}'.  File already exists.")
            self._check_parents(base, full)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(full), prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = req.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
                if os.path.exists(full) and not quiet:  # lost a race
                    raise HTTPError(409, f"Error when creating '{rel}'.  File already exists.")
                os.replace(tmp, full)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return Response(200, b"", {"Etag": f"W/{int(os.stat(full).st_mtime * 1000)}"})

        def delete(req):
            base, full, rel = self._resolve(req, req.param("path"))
            if full.rstrip("/") == base.rstrip("/"):
                raise HTTPError(400, "deleting a whole user volume goes through api/volume")
            if os.path.isdir(full):
                shutil.rmtree(full)
            elif os.path.isfile(full):
                os.unlink(full)
            else:
                raise HTTPError(404, f"'{rel}' does not exist")
            return Response(200, b"")

        def jsontree(req):
            base, full, rel = self._resolve(req, req.param("path"))
            level = req.query.get("level")
            if level != "2":
                raise HTTPError(400, "this stand-in only serves level=2 listings")
            if not os.path.exists(full):
                raise HTTPError(404, f"Error when listing contents of '{rel}'. Path does not exist.")
            if not os.path.isdir(full):
                raise HTTPError(400, f"Error when listing contents of '{rel}'. Not a directory.")
            folders, files = [], []
            with os.scandir(full) as it:
                for e in sorted(it, key=lambda e: e.name):
                    if e.name.startswith(".upload-"):
                        continue
                    st = e.stat(follow_symlinks=False)
                    item = {"name": e.name, "creationTime": _iso(st.st_ctime),
                            "lastModified": _iso(st.st_mtime)}
                    if e.is_dir(follow_symlinks=False):
                        folders.append(item)
                    else:
                        item["size"] = st.st_size
                        files.append(item)
            st = os.stat(full)
            return Response.json({
                "root": {"name": os.path.basename(full), "creationTime": _iso(st.st_ctime),
                         "lastModified": _iso(st.st_mtime), "folders": folders, "files": files},
                "queryPath": rel,
            })

        def folder(req):
            base, full, rel = self._resolve(req, req.param("path"))
            quiet = req.flag("quiet")
            if os.path.isfile(full):
                raise HTTPError(409, f"'{rel}' is a file")
            if os.path.isdir(full) and not quiet:
                raise HTTPError(409, f"Error when creating directory '{rel}'. Directory already exists.")
            self._check_parents(base, full)
            os.makedirs(full, exist_ok=True)
            return Response(200, b"")

        self.add_route("GET", api + r"/ping", ping)
        self.add_route("GET", api + r"/file/" + p, download)
        self.add_route("PUT", api + r"/file/" + p, upload)
        self.add_route("DELETE", api + r"/data/" + p, delete)
        self.add_route("GET", api + r"/jsontree/" + p, jsontree)
        self.add_route("PUT", api + r"/folder/" + p, folder)



# -- SciServer Compute (RACM jobm) ------------------------------------------------------------

RACM_PREFIX = "/racm"
CONTAINER_WORKSPACE = "/home/idies/workspace/"
JOB_QUEUED, JOB_STARTED, JOB_SUCCESS, JOB_ERROR, JOB_CANCELED = 1, 8, 32, 64, 128


def enable_compute(standin, python=None, start_delay=0.05, image="python-standin", domain="standin-domain"):
    """Add SciServer Compute's RACM job routes to ``standin`` (through its route table).

    ``{url}/racm/jobm/rest/...``::

        GET  computedomains?batch=true      one docker domain: apiEndpoint, images, userVolumes (ids)
        POST jobs/docker                    submit {command, dockerComputeEndpoint, dockerImageName,
                                            resultsFolderURI, submitterDID, volumeContainers,
                                            userVolumes: [{userVolumeId, needsWriteAccess}]} -> {"id", ...}
        GET  jobs/{id}                      the job, with "status" 1 (queued) -> 8 (started) ->
                                            32 (success) | 64 (error) | 128 (canceled)
        POST jobs/{id}/cancel               kill the job's process group -> 128

    A job "runs" by executing its command with ``bash -c`` in a subprocess (its own session):
    cwd = the results folder (``resultsFolderURI``, a container path under
    ``/home/idies/workspace/<rootVolume>/<owner>/<volume>/...`` mapped onto this stand-in's
    file store), stdout written to ``stdout.txt`` and stderr to ``stderr.txt`` there (so the
    Files API serves them while it runs), and a private HOME holding ``keystone.token`` with
    a fresh token of the submitting user (what a SciServer container gets). ``python``
    replaces a leading ``python3`` of the command (default: the test's interpreter).
    Returns the ``compute`` state: ``.jobs`` (id -> job dict with "process") and
    ``.submitted`` (the JSON bodies received).
    """
    import signal
    import subprocess
    import sys
    from types import SimpleNamespace

    state = SimpleNamespace(jobs={}, submitted=[], lock=threading.Lock(), next_id=1000, image=image,
                            domain=domain, python=python or sys.executable)
    standin.compute = state
    base = RACM_PREFIX + r"/jobm/rest"

    def endpoint():
        return standin.url + "/docker-endpoint/" + domain

    def user_volumes(user):
        vols, n = [], 0
        for root, names in ROOT_VOLUMES.items():
            for name in names:
                n += 1
                vols.append({"id": n, "name": name, "rootVolumeName": root, "owner": user,
                             "allowedActions": ["read", "write"], "description": ""})
        return vols

    def computedomains(req):
        user = req.require_user()
        return Response.json([{"name": domain, "apiEndpoint": endpoint(), "id": 1,
                               "images": [{"name": image, "description": "stand-in image"}],
                               "userVolumes": user_volumes(user), "volumes": []}])

    def public(job):
        return {k: v for k, v in job.items() if k not in ("process", "home", "user_token")}

    def run(job, command, cwd):
        time.sleep(start_delay)
        with state.lock:
            if job["status"] == JOB_CANCELED:
                return
            if command.startswith("python3 "):
                command = state.python + command[len("python3"):]
            env = dict(os.environ, HOME=job["home"])
            out = open(os.path.join(cwd, "stdout.txt"), "wb")
            err = open(os.path.join(cwd, "stderr.txt"), "wb")
            job["process"] = subprocess.Popen(["bash", "-c", command], cwd=cwd, stdout=out, stderr=err,
                                              stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            out.close()
            err.close()
            job["status"] = JOB_STARTED
            job["startTime"] = _iso(time.time())
        code = job["process"].wait()
        with state.lock:
            if job["status"] != JOB_CANCELED:
                job["status"] = JOB_SUCCESS if code == 0 else JOB_ERROR
            job["exitCode"] = code
            job["endTime"] = _iso(time.time())
        shutil.rmtree(job["home"], ignore_errors=True)

    def submit(req):
        user = req.require_user()
        body = req.json() or {}
        state.submitted.append(body)
        for key in ("command", "dockerComputeEndpoint", "dockerImageName", "resultsFolderURI", "userVolumes"):
            if key not in body:
                raise HTTPError(400, f"missing field {key!r} in the docker job")
        if body["dockerComputeEndpoint"] != endpoint():
            raise HTTPError(400, f"unknown compute endpoint {body['dockerComputeEndpoint']!r}")
        if body["dockerImageName"] != image:
            raise HTTPError(400, f"unknown image {body['dockerImageName']!r}")
        known = {v["id"] for v in user_volumes(user)}
        if any(v.get("userVolumeId") not in known for v in body["userVolumes"]):
            raise HTTPError(400, "unknown user volume id")
        uri = body["resultsFolderURI"]
        if not uri.startswith(CONTAINER_WORKSPACE):
            raise HTTPError(400, f"resultsFolderURI must be under {CONTAINER_WORKSPACE}")
        _, cwd, _ = standin._resolve(req, uri[len(CONTAINER_WORKSPACE):])
        os.makedirs(cwd, exist_ok=True)
        home = tempfile.mkdtemp(prefix="standin-job-home-")
        token = standin.issue_token(user)
        with open(os.path.join(home, "keystone.token"), "w") as f:
            f.write(token)
        with state.lock:
            state.next_id += 1
            job = {"id": state.next_id, "status": JOB_QUEUED, "command": body["command"], "username": user,
                   "submitterDID": body.get("submitterDID", ""), "resultsFolderURI": uri.rstrip("/") + "/",
                   "dockerImageName": image, "submissionTime": _iso(time.time()), "type": "jobm.model.COMPMDockerJobModel",
                   "process": None, "home": home, "user_token": token}
            state.jobs[job["id"]] = job
        threading.Thread(target=run, args=(job, body["command"], cwd), daemon=True).start()
        return Response.json(public(job))

    def own_job(req):
        """The job of the request's ``id``, if it belongs to the request's user (404 otherwise)."""
        user = req.require_user()
        job = state.jobs.get(int(req.param("id")))
        if job is None or job["username"] != user:
            raise HTTPError(404, f"job {req.param('id')} not found")
        return job

    def get_job(req):
        job = own_job(req)
        with state.lock:
            return Response.json(public(job))

    def cancel(req):
        job = own_job(req)
        with state.lock:
            if job["status"] in (JOB_SUCCESS, JOB_ERROR, JOB_CANCELED):
                return Response.json(public(job))
            job["status"] = JOB_CANCELED
            process = job["process"]
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return Response.json(public(job))

    standin.add_route("GET", base + r"/computedomains", computedomains)
    standin.add_route("POST", base + r"/jobs/docker", submit)
    standin.add_route("GET", base + r"/jobs/(?P<id>\d+)", get_job)
    standin.add_route("POST", base + r"/jobs/(?P<id>\d+)/cancel", cancel)
    return state


if __name__ == "__main__":  # manual poking: python tests/sciserver_standin.py
    with SciServerStandin() as s:
        print("files:", s.files_url, "login:", s.login_url, "alice token:", s.issue_token("alice"))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
