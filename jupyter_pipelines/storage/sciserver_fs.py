"""An fsspec filesystem over the SciServer Files REST API.

Paths look like ``rootVolume/owner/userVolume/path/in/volume``, e.g.
``Storage/alice/persistent/data/x.pkl`` or ``Temporary/alice/scratch/tmp.bin``
(the same ``splitPath`` convention as SciServer's own SciScript-Python): the first
three segments name the user volume, the rest is the path inside it.  The URL forms
``sciserver://Storage/alice/persistent/x`` and ``sciserver:///Storage/...`` are accepted.

Endpoints used (``files_url`` is e.g. ``https://apps.sciserver.org/fileservice``)::

    GET    {files_url}/api/file/{path}              download (streamed, never Range)
    PUT    {files_url}/api/file/{path}?quiet=true   upload (quiet=false: fail if it exists)
    DELETE {files_url}/api/data/{path}              delete a file or a folder (recursive)
    GET    {files_url}/api/jsontree/{path}?level=2  list one folder
    PUT    {files_url}/api/folder/{path}?quiet=...  create a folder (and its parents)

Authentication: every request carries ``X-Auth-Token``.  The token is ``token=``, or
obtained by logging in with ``username``/``password`` at
``{login_url}/keystone/v3/tokens`` (the token comes back in ``X-Subject-Token``; a
401 later triggers one fresh log-in and a retry), or read from ``token_file``
(default: SciServer Compute's ``/home/idies/keystone.token`` when it exists).

The SciServer file service does not honour HTTP Range requests, so files opened for
reading stream the whole body sequentially: seeking forward skips bytes, seeking
backward re-downloads from the start.  Files opened for writing are spooled to a
``tempfile.SpooledTemporaryFile`` (memory up to ``spool_max_size``, then disk) and
PUT as one streaming request on close (or on commit inside a transaction).

The production service reports most failures as HTTP 500 with
``{"status": "error", "error": "<message>"}`` and answers a GET of a missing file with
an empty 200; both are handled (the message is mapped to FileNotFoundError /
FileExistsError / PermissionError, and a bodiless 200 is verified with a listing).

Only the standard library, fsspec and requests are imported: this module may be
shipped inside exported pipeline zips.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, BinaryIO, Literal, Protocol, overload
from urllib.parse import quote

import requests
from fsspec.callbacks import Callback
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

__all__ = ["SciServerFilesFileSystem", "SciServerFile"]

DEFAULT_FILES_URL = "https://apps.sciserver.org/fileservice"
DEFAULT_LOGIN_URL = "https://apps.sciserver.org/login-portal"
DEFAULT_TOKEN_FILE = "/home/idies/keystone.token"
#: number of leading path segments that name a user volume (rootVolume/owner/userVolume)
VOLUME_DEPTH = 3
_COPY_CHUNK = 1 << 20


class _Readable(Protocol):
    """A binary source: ``read(n)`` returns at most n bytes, b"" at the end."""

    def read(self, n: int = ..., /) -> bytes: ...


class _RawStream(Protocol):
    """What is used of ``requests.Response.raw`` (a urllib3 response)."""

    def read(self, amt: int | None = ..., decode_content: bool | None = ...) -> bytes: ...


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _parse_time(value: object) -> _dt.datetime | None:
    """Parse SciServer's ISO-8601 instants (Java ``Instant.toString``) to datetime."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    # Java may print nanoseconds; datetime takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


class _SizedReader:
    """A file-like body of known length, so requests sends Content-Length
    (not chunked) and streams it block by block."""

    def __init__(self, fileobj: _Readable, size: int) -> None:
        self._f = fileobj
        self._left = size
        self.size = size

    def __len__(self) -> int:
        return self.size

    def read(self, n: int | None = -1) -> bytes:
        if self._left <= 0:
            return b""
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(_COPY_CHUNK)
            if not chunk:
                return
            yield chunk


class SciServerFilesFileSystem(AbstractFileSystem):
    """fsspec filesystem for SciServer user volumes, over the Files REST API.

    Parameters
    ----------
    files_url: base URL of the file service (``.../fileservice``).
    token: a SciServer (keystone) token.
    username, password: log in at ``login_url`` to get a token (lazily, on first use).
    login_url: the login portal, e.g. ``https://apps.sciserver.org/login-portal``.
    token_file: file holding a token (default ``/home/idies/keystone.token`` if present).
    timeout: requests timeout, ``(connect, read)`` seconds.
    spool_max_size: bytes of a file being written kept in memory before spilling to disk.
    use_listings_cache: directory listings are not cached unless this is True (other
        processes write to the same volumes, so stale listings would mislead).
    """

    protocol = ("sciserver",)
    root_marker = ""

    def __init__(
        self,
        files_url: str | None = DEFAULT_FILES_URL,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        login_url: str | None = DEFAULT_LOGIN_URL,
        token_file: str | None = None,
        timeout: float | tuple[float | None, float | None] | list[float | None] | None = (30, 600),
        spool_max_size: int = 16 * 2**20,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("use_listings_cache", False)
        super().__init__(**kwargs)
        self.files_url = (files_url or DEFAULT_FILES_URL).rstrip("/")
        self.login_url = (login_url or DEFAULT_LOGIN_URL).rstrip("/")
        self.username = username
        self.password = password
        if isinstance(timeout, list):  # e.g. from JSON options
            connect, read = timeout
            timeout = (connect, read)
        self.timeout = timeout
        self.spool_max_size = int(spool_max_size)
        self._token = token
        if self._token is None and not (username and password):
            path = token_file or (
                DEFAULT_TOKEN_FILE if os.path.exists(DEFAULT_TOKEN_FILE) else None
            )
            if path:
                with open(path) as f:
                    self._token = f.read().strip() or None
        self._lock = threading.Lock()
        self._local = threading.local()

    # ------------------------------------------------------------------ paths

    @overload
    @classmethod
    def _strip_protocol(cls, path: list[str]) -> list[str]: ...

    @overload
    @classmethod
    def _strip_protocol(cls, path: str | os.PathLike[str]) -> str: ...

    @classmethod
    def _strip_protocol(cls, path: str | os.PathLike[str] | list[str]) -> str | list[str]:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text: str = stringify_path(path)
        for proto in cls.protocol:
            for prefix in (proto + "://", proto + "::"):
                if text.startswith(prefix):
                    text = text[len(prefix):]
        text = text.strip("/")
        while "//" in text:
            text = text.replace("//", "/")
        return text

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        return {}

    @classmethod
    def _parent(cls, path: str) -> str:
        path = cls._strip_protocol(path)
        return path.rsplit("/", 1)[0] if "/" in path else ""

    @staticmethod
    def split_path(path: str) -> tuple[str, str]:
        """``(volume, relative)``: ``"Storage/alice/persistent"``, ``"a/b.txt"``."""
        parts = path.split("/")
        return "/".join(parts[:VOLUME_DEPTH]), "/".join(parts[VOLUME_DEPTH:])

    @staticmethod
    def _depth(path: str) -> int:
        return len(path.split("/")) if path else 0

    def _url(self, api: str, path: str, **params: object) -> str:
        url = f"{self.files_url}/api/{api}/{quote(path, safe='/')}"
        if params:
            url += "?" + "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
        return url

    def _check_in_volume(self, path: str, action: str) -> None:
        if self._depth(path) < VOLUME_DEPTH:
            raise ValueError(
                f"SciServer path {path!r} must name a user volume and a path in it: "
                "rootVolume/owner/userVolume[/path...] (e.g. Storage/alice/persistent/x)"
            )

    # ------------------------------------------------------------------- http

    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def login(self) -> str:
        """Log in with username/password; returns and keeps the new token."""
        if not (self.username and self.password):
            raise PermissionError(
                errno.EACCES, "SciServer log-in needs a username and a password"
            )
        body = {
            "auth": {
                "identity": {
                    "password": {
                        "user": {"name": self.username, "password": self.password}
                    }
                }
            }
        }
        url = f"{self.login_url}/keystone/v3/tokens"
        r = self.session.post(url, json=body, timeout=self.timeout)
        if r.status_code in (401, 403):
            raise PermissionError(
                errno.EACCES,
                f"SciServer log-in refused for user {self.username!r} ({r.status_code})",
            )
        if not 200 <= r.status_code < 300:
            raise OSError(f"SciServer log-in failed ({r.status_code}): {r.text[:500]}")
        token = r.headers.get("X-Subject-Token")
        if not token:
            raise OSError("SciServer log-in answered without an X-Subject-Token header")
        with self._lock:
            self._token = token
        return token

    @property
    def token(self) -> str | None:
        if self._token is None and self.username and self.password:
            self.login()
        return self._token

    def _request(
        self,
        method: str,
        url: str,
        path: str,
        action: str,
        body: bytes | _SizedReader | Callable[[], bytes | _SizedReader] | None = None,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
        ok_missing: bool = False,
    ) -> requests.Response:
        """Send one request; ``body`` is a callable making a fresh body (so a 401
        can be retried after a new log-in).  Raises mapped OSErrors."""
        hdrs = dict(headers or {})
        for attempt in (0, 1):
            token = self.token
            if token:
                hdrs["X-Auth-Token"] = token
            data = body() if callable(body) else body
            r = self.session.request(
                method, url, data=data, headers=hdrs, stream=stream, timeout=self.timeout
            )
            if (
                r.status_code == 401
                and attempt == 0
                and self.username
                and self.password
                and (body is None or callable(body) or isinstance(body, bytes))
            ):
                r.close()
                self.login()
                continue
            break
        if ok_missing and r.status_code == 404:
            return r
        self._raise_for_status(r, path, action)
        return r

    def _raise_for_status(self, r: requests.Response, path: str, action: str) -> None:
        code = r.status_code
        if 200 <= code < 300:
            return
        try:
            text = r.text
        finally:
            r.close()
        msg = text
        try:
            doc = json.loads(text)
            if isinstance(doc, dict):
                msg = doc.get("error") or doc.get("message") or text
        except ValueError:
            pass
        msg = (msg or "").strip()[:1000]
        where = f"SciServer {action} {path!r}"
        low = msg.lower()
        if code == 401:
            hint = "" if self._token else " (no token configured)"
            raise PermissionError(errno.EACCES, f"{where}: not authenticated{hint}: {msg}", path)
        if code == 403:
            raise PermissionError(errno.EACCES, f"{where}: permission denied: {msg}", path)
        if code == 404:
            raise FileNotFoundError(errno.ENOENT, f"{where}: not found: {msg}", path)
        if code == 409 or "already exists" in low:
            raise FileExistsError(errno.EEXIST, f"{where}: already exists: {msg}", path)
        if "does not exist" in low or "not found" in low or "no such file" in low:
            raise FileNotFoundError(errno.ENOENT, f"{where}: not found: {msg}", path)
        if "not a directory" in low:
            raise NotADirectoryError(errno.ENOTDIR, f"{where}: {msg}", path)
        if "is a directory" in low:
            raise IsADirectoryError(errno.EISDIR, f"{where}: {msg}", path)
        if any(w in low for w in ("not allowed", "permission", "forbidden", "denied",
                                  "unauthorized", "does not have")):
            raise PermissionError(errno.EACCES, f"{where}: permission denied: {msg}", path)
        raise OSError(f"{where} failed (HTTP {code}): {msg}")

    # --------------------------------------------------------------- listings

    def _entry(
        self, parent: str, item: Mapping[str, Any], kind: Literal["file", "directory"]
    ) -> dict[str, Any]:
        name = f"{parent}/{item['name']}" if parent else item["name"]
        size = int(item.get("size") or 0) if kind == "file" else 0
        out: dict[str, Any] = {"name": name, "size": size, "type": kind}
        for key in ("creationTime", "lastModified"):
            if item.get(key) is not None:
                out[key] = item[key]
        return out

    def _list_dir(self, path: str) -> list[dict[str, Any]]:
        """One jsontree (level=2) listing of a folder -> list of info dicts."""
        r = self._request("GET", self._url("jsontree", path, level=2), path, "list")
        try:
            doc = r.json()
        except ValueError as e:
            raise OSError(f"SciServer list {path!r}: answer is not JSON") from e
        root = doc.get("root", doc) if isinstance(doc, dict) else {}
        entries = [self._entry(path, d, "directory") for d in root.get("folders") or []]
        entries += [self._entry(path, f, "file") for f in root.get("files") or []]
        entries.sort(key=lambda e: e["name"])
        return entries

    @overload
    def ls(
        self, path: str, detail: Literal[True] = ..., refresh: bool = ..., **kwargs: Any
    ) -> list[dict[str, Any]]: ...

    @overload
    def ls(
        self, path: str, detail: Literal[False], refresh: bool = ..., **kwargs: Any
    ) -> list[str]: ...

    @overload
    def ls(
        self, path: str, detail: bool = ..., refresh: bool = ..., **kwargs: Any
    ) -> list[dict[str, Any]] | list[str]: ...

    def ls(
        self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any
    ) -> list[dict[str, Any]] | list[str]:
        path = self._strip_protocol(path)
        self._check_in_volume(path, "list")
        entries: list[dict[str, Any]] | None = None
        if not refresh:
            try:
                entries = self._ls_from_cache(path)
            except FileNotFoundError:
                if self.dircache.use_listings_cache:
                    raise
        if entries is None:
            try:
                entries = self._list_dir(path)
            except PermissionError:
                raise
            except OSError:
                # jsontree lists folders only: a file is found through its folder
                info = self._info_from_parent(path)
                if info is None or info["type"] != "file":
                    raise
                entries = [info]
            else:
                self.dircache[path] = entries
        return entries if detail else [e["name"] for e in entries]

    def _info_from_parent(self, path: str) -> dict[str, Any] | None:
        parent = self._parent(path)
        if self._depth(parent) < VOLUME_DEPTH:
            return None
        try:
            siblings = self.ls(parent, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return None
        for e in siblings:
            if e["name"] == path:
                return e
        return None

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        depth = self._depth(path)
        if depth < VOLUME_DEPTH:
            # root volumes and owners are not listable through the Files API
            return {"name": path, "size": 0, "type": "directory"}
        if depth == VOLUME_DEPTH:
            self._list_dir(path)  # raises if the volume is missing or forbidden
            return {"name": path, "size": 0, "type": "directory"}
        info = self._info_from_parent(path)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, f"SciServer: no such path {path!r}", path)
        return info

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False
        except ValueError:
            return False

    def created(self, path: str) -> _dt.datetime | None:
        return _parse_time(self.info(path).get("creationTime"))

    def modified(self, path: str) -> _dt.datetime | None:
        return _parse_time(self.info(path).get("lastModified"))

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
        else:
            path = self._strip_protocol(path)
            for key in [k for k in self.dircache if k == path or k.startswith(path + "/")]:
                self.dircache.pop(key, None)
            parent = path
            while parent:
                self.dircache.pop(parent, None)
                parent = self._parent(parent)
        super().invalidate_cache(path)

    # ------------------------------------------------------------ directories

    def _put_folder(self, path: str, quiet: bool) -> None:
        self._request("PUT", self._url("folder", path, quiet=str(bool(quiet)).lower()),
                      path, "create folder")
        self.invalidate_cache(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        self._check_in_volume(path, "mkdir")
        if self._depth(path) == VOLUME_DEPTH:
            if self.exists(path):
                raise FileExistsError(errno.EEXIST, f"SciServer: {path!r} exists", path)
            raise PermissionError(
                errno.EACCES, f"SciServer user volume {path!r} does not exist; "
                "user volumes are created in the SciServer dashboard", path)
        if not create_parents and not self.isdir(self._parent(path)):
            raise FileNotFoundError(errno.ENOENT, f"SciServer: no folder {self._parent(path)!r}",
                                    self._parent(path))
        self._put_folder(path, quiet=False)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if self._depth(path) <= VOLUME_DEPTH:
            if self._depth(path) < VOLUME_DEPTH or self.isdir(path):
                if exist_ok:
                    return
                raise FileExistsError(errno.EEXIST, f"SciServer: {path!r} exists", path)
            self.mkdir(path)  # raises a clear error about the missing user volume
            return
        if exist_ok:
            if self.isfile(path):
                raise FileExistsError(errno.EEXIST, f"SciServer: {path!r} is a file", path)
            self._put_folder(path, quiet=True)
        else:
            self._put_folder(path, quiet=False)

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        if self.ls(path, detail=False):
            raise OSError(errno.ENOTEMPTY, f"SciServer: folder {path!r} is not empty", path)
        self._delete(path)

    # ---------------------------------------------------------------- delete

    def _delete(self, path: str) -> None:
        path = self._strip_protocol(path)
        if self._depth(path) <= VOLUME_DEPTH:
            raise PermissionError(
                errno.EACCES, f"refusing to delete {path!r}: it is (or contains) a whole "
                "SciServer user volume", path)
        self._request("DELETE", self._url("data", path), path, "delete")
        self.invalidate_cache(path)

    def rm_file(self, path: str) -> None:
        self._delete(path)

    _rm = rm_file

    def rm(
        self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None
    ) -> None:
        """Delete files or folders.  Folders are deleted recursively on the server in
        one request (``recursive=True`` needed for a non-empty one)."""
        if maxdepth is not None:
            super().rm(path, recursive=recursive, maxdepth=maxdepth)
            return
        paths = path if isinstance(path, list) else [path]
        targets: set[str] = set()
        for p in paths:
            p = self._strip_protocol(p)
            if _has_magic(p):
                found = self.glob(p)
                if not found:
                    raise FileNotFoundError(errno.ENOENT, f"SciServer: nothing matches {p!r}", p)
                targets.update(found)
            else:
                targets.add(p)
        done: list[str] = []
        for p in sorted(targets):
            if any(p.startswith(d + "/") for d in done):
                continue  # already deleted with its folder
            if not recursive:
                info = self.info(p)
                if info["type"] == "directory" and self.ls(p, detail=False):
                    raise OSError(errno.ENOTEMPTY,
                                  f"SciServer: folder {p!r} is not empty (use recursive=True)", p)
            self._delete(p)
            done.append(p)

    # ------------------------------------------------------------ bytes I/O

    def _get_stream(self, path: str) -> tuple[requests.Response, int | None]:
        """GET the file, streamed; returns ``(response, size)``."""
        path = self._strip_protocol(path)
        self._check_in_volume(path, "read")
        r = self._request("GET", self._url("file", path), path, "read", stream=True,
                          headers={"Accept-Encoding": "identity"})
        length = r.headers.get("Content-Length")
        if length is not None:
            return r, int(length)
        # No length: the production service answers 200 with an empty body for a
        # missing file or a folder, so check what is really there.
        info = self.info(path)
        if info["type"] == "directory":
            r.close()
            raise IsADirectoryError(errno.EISDIR, f"SciServer: {path!r} is a folder", path)
        return r, info.get("size")

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        if start is None and end is None:
            r, size = self._get_stream(path)
            with r:
                raw: _RawStream = r.raw
                data = raw.read(decode_content=True) if size is None else _read_exact(r, size, path)
            return data
        part: bytes = super().cat_file(path, start=start, end=end, **kwargs)
        return part

    def _put(
        self, path: str, body: bytes | Callable[[], bytes | _SizedReader], quiet: bool
    ) -> None:
        """PUT a file; ``body`` is bytes or a callable returning a fresh body."""
        path = self._strip_protocol(path)
        self._check_in_volume(path, "write")
        self._request("PUT", self._url("file", path, quiet=str(bool(quiet)).lower()), path,
                      "write", body=body, headers={"Content-Type": "application/octet-stream"})
        self.invalidate_cache(path)

    def pipe_file(
        self,
        path: str,
        value: bytes | bytearray | memoryview,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        self._put(path, bytes(value), quiet=(mode != "create"))

    def put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Callback | None = None,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        size = os.path.getsize(lpath)
        if callback is not None:
            callback.set_size(size)
        files: list[BinaryIO] = []

        def body() -> bytes | _SizedReader:
            if size == 0:
                return b""
            f = open(lpath, "rb")
            files.append(f)
            return _SizedReader(f, size)

        try:
            self._put(rpath, body, quiet=(mode != "create"))
        finally:
            for f in files:
                f.close()
        if callback is not None:
            callback.relative_update(size)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        if self.isdir(path1):
            self.makedirs(path2, exist_ok=True)
            return
        responses: list[requests.Response] = []

        def body() -> bytes | _SizedReader:
            r, size = self._get_stream(path1)
            responses.append(r)
            if not size:
                r.close()
                return b""
            return _SizedReader(_RawReader(r), size)

        try:
            self._put(path2, body, quiet=True)
        finally:
            for r in responses:
                r.close()

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | Literal["default"] | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SciServerFile:
        return SciServerFile(self, path, mode=mode, block_size=block_size,
                             autocommit=autocommit, cache_options=cache_options, **kwargs)


class _RawReader:
    """read(n) over a streamed requests response (decoded, as sent)."""

    def __init__(self, response: requests.Response) -> None:
        self.r = response

    def read(self, n: int | None = -1) -> bytes:
        raw: _RawStream = self.r.raw
        if n is None or n < 0:
            return raw.read(decode_content=True)
        return raw.read(n, decode_content=True)


def _read_exact(r: requests.Response, n: int, path: str) -> bytes:
    raw: _RawStream = r.raw
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = raw.read(min(n - got, _COPY_CHUNK), decode_content=True)
        if not chunk:
            raise OSError(f"SciServer read {path!r}: stream ended after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class SciServerFile(AbstractBufferedFile):
    """A file on SciServer.

    Reading streams one GET sequentially (no HTTP Range: the service has none);
    ``_fetch_range`` serves the cache from that stream, skipping forward, or starting
    a new download for a backward seek.  Writing spools to a SpooledTemporaryFile and
    PUTs it in one streamed request on close / commit ("xb" fails if the file exists,
    "ab" first copies the current content into the spool).
    """

    # set by AbstractBufferedFile
    fs: SciServerFilesFileSystem
    forced: bool

    def __init__(
        self,
        fs: SciServerFilesFileSystem,
        path: str,
        mode: str = "rb",
        block_size: int | Literal["default"] | None = "default",
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        size: int | None = None,
        **kwargs: Any,
    ) -> None:
        path = fs._strip_protocol(path)
        self._response: requests.Response | None = None
        self._pos = 0
        self._spool: tempfile.SpooledTemporaryFile[bytes] | None = None
        if mode == "rb":
            self._response, length = fs._get_stream(path)
            if size is None:
                size = length if length is not None else fs.info(path)["size"]
        elif mode == "xb":
            if fs.exists(path):
                raise FileExistsError(errno.EEXIST, f"SciServer: {path!r} exists", path)
        fs._check_in_volume(path, "write")
        super().__init__(fs, path, mode=mode, block_size=block_size, autocommit=autocommit,
                         cache_type=cache_type, cache_options=cache_options, size=size,
                         **kwargs)
        if mode != "rb":
            self._spool = tempfile.SpooledTemporaryFile(max_size=fs.spool_max_size)
            if mode == "ab" and fs.exists(path):
                r, n = fs._get_stream(path)
                with r:
                    shutil.copyfileobj(_SizedReader(_RawReader(r), n or 0), self._spool,
                                       _COPY_CHUNK)
                self.loc = self._spool.tell()

    # ---- reading

    def _restart(self) -> requests.Response:
        """Start a new download from byte 0; returns the new response."""
        if self._response is not None:
            self._response.close()
        self._response, _ = self.fs._get_stream(self.path)
        self._pos = 0
        return self._response

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size) if self.size is not None else end
        if start >= end:
            return b""
        response = self._response
        if response is None or start < self._pos:
            response = self._restart()
        raw: _RawStream = response.raw
        while self._pos < start:  # skip forward
            chunk = raw.read(min(start - self._pos, _COPY_CHUNK), decode_content=True)
            if not chunk:
                raise OSError(f"SciServer read {self.path!r}: stream ended at {self._pos}")
            self._pos += len(chunk)
        chunks: list[bytes] = []
        want = end - start
        while want > 0:
            chunk = raw.read(want, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
            self._pos += len(chunk)
        data = b"".join(chunks)
        if want > 0 and self.size is not None:
            raise OSError(f"SciServer read {self.path!r}: stream ended at {self._pos} "
                          f"of {self.size} bytes")
        return data

    # ---- writing

    def write(self, data: bytes) -> int:
        if not self.writable():
            raise ValueError("File not in write mode")
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self.forced:
            raise ValueError("This file has been force-flushed, can only close")
        if self._spool is None:
            raise ValueError("This file has been committed or discarded, can only close")
        n = self._spool.write(data)
        self.loc += n
        return n

    def flush(self, force: bool = False) -> None:
        if self.closed:
            raise ValueError("Flush on closed file")
        if self.readable() or not force:
            return
        if self.forced:
            raise ValueError("Force flush cannot be called more than once")
        self.forced = True
        if self.autocommit:
            self.commit()

    def _initiate_upload(self) -> None:  # not used: one PUT on commit
        pass

    def _upload_chunk(self, final: bool = False) -> bool:  # not used: one PUT on commit
        return True

    def commit(self) -> None:
        spool = self._spool
        if spool is None:
            return
        size = spool.seek(0, 2)

        def body() -> bytes | _SizedReader:
            if size == 0:
                return b""
            spool.seek(0)
            return _SizedReader(spool, size)

        try:
            self.fs._put(self.path, body, quiet=(self.mode != "xb"))
        finally:
            self.discard()

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and self.mode != "rb" and not self.closed:
            # an error inside ``with fs.open(p, "wb")``: don't publish half a file
            self.discard()
            self.forced = True
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()
        finally:
            if self._response is not None:
                self._response.close()
                self._response = None
            if self.mode != "rb" and self.autocommit:
                self.discard()
