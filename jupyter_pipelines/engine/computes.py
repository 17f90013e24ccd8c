"""Compute backends shared by the executions that use the same configuration, and closed when idle."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from ..compute import ComputeBackend, compute_backends
from ..errors import BadRequest
from ..paths import Context


class _Entry:
    def __init__(self) -> None:
        self.ready: Future[ComputeBackend] = Future()
        self.users = 0
        self.idle_since = time.monotonic()


class ComputePool:
    """Hands out compute backends by ``(name, config)``: one instance (one worker pool, one fork
    server, one cluster connection) per configuration in use.

    A backend is created outside the pool's lock, on a thread of its own, and waited for at most
    its :meth:`~ComputeBackend.connect_timeout`, so a scheduler that never answers delays
    only the submits that asked for it. When its last execution ends, a backend stays warm for the
    next one; older idle backends of the same name are closed then, and any backend idle for
    ``idle_seconds`` is closed by :meth:`reap`.
    """

    def __init__(self, context: Context, log: logging.Logger, idle_seconds: float = 600.0) -> None:
        self.context = context
        self.log = log
        self.idle_seconds = idle_seconds
        self._entries: dict[str, _Entry] = {}
        self._keys: dict[int, str] = {}  # id(backend) -> key
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, name: str, config: Mapping[str, Any]) -> ComputeBackend:
        """The backend for this configuration, created if needed; give it back with :meth:`release`."""
        cls = compute_backends.get(name)
        key = json.dumps([name, dict(config)], sort_keys=True, default=str)
        with self._lock:
            if self._closed:
                raise RuntimeError("the execution manager was closed")
            entry = self._entries.get(key)
            create = entry is None
            if entry is None:
                entry = self._entries[key] = _Entry()
            entry.users += 1
        if create:
            threading.Thread(target=self._create, args=(key, entry, cls, config), daemon=True,
                             name=f"connect-{name}").start()
        timeout = cls.connect_timeout(config)
        try:
            return entry.ready.result(timeout)
        except TimeoutError:
            self._forget(key, entry)
            raise BadRequest(f"compute backend {name!r} did not connect within {timeout:g} s") from None
        except BaseException:
            self._forget(key, entry)
            raise

    def _create(self, key: str, entry: _Entry, cls: type[ComputeBackend], config: Mapping[str, Any]) -> None:
        try:
            backend = cls(config, self.context)
        except BaseException as error:  # noqa: BLE001 - handed to every submit waiting for it
            entry.ready.set_exception(error)
            return
        with self._lock:
            self._keys[id(backend)] = key
            orphaned = self._entries.get(key) is not entry  # every waiter gave up before it connected
        entry.ready.set_result(backend)
        if orphaned:
            self._close(backend)

    def _forget(self, key: str, entry: _Entry) -> None:
        """A submit gave up on ``entry``: drop it when nobody else waits (a late backend is closed)."""
        with self._lock:
            entry.users -= 1
            if entry.users > 0 or self._entries.get(key) is not entry:
                return
            del self._entries[key]
        if entry.ready.done() and entry.ready.exception() is None:
            self._close(entry.ready.result())

    def release(self, backend: ComputeBackend) -> None:
        """An execution is done with ``backend``; older idle backends of the same kind are closed."""
        with self._lock:
            key = self._keys.get(id(backend))
            entry = self._entries.get(key or "")
            if entry is None:
                return
            entry.users -= 1
            entry.idle_since = time.monotonic()
            if entry.users > 0:
                return
            name = backend.name
            stale = [k for k, e in self._entries.items()
                     if k != key and e.users == 0 and e.ready.done() and json.loads(k)[0] == name]
            closing = [self._pop(k) for k in stale]
        for other in closing:
            self._close(other)

    def reap(self) -> None:
        """Close the backends that have been idle for ``idle_seconds``."""
        now = time.monotonic()
        with self._lock:
            stale = [k for k, e in self._entries.items()
                     if e.users == 0 and e.ready.done() and now - e.idle_since >= self.idle_seconds]
            closing = [self._pop(k) for k in stale]
        for backend in closing:
            self._close(backend)

    def _pop(self, key: str) -> ComputeBackend | None:
        entry = self._entries.pop(key)
        if entry.ready.exception() is not None:
            return None
        backend = entry.ready.result()
        self._keys.pop(id(backend), None)
        return backend

    def live(self) -> int:
        """How many backends are open (for tests and diagnostics)."""
        with self._lock:
            return sum(1 for e in self._entries.values() if e.ready.done() and e.ready.exception() is None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            if entry.ready.done() and entry.ready.exception() is None:
                self._close(entry.ready.result())


    def _close(self, backend: ComputeBackend | None) -> None:
        if backend is None:
            return
        try:
            backend.close()
        except Exception:  # noqa: BLE001 - closing one backend must not stop closing the others
            self.log.exception("closing compute backend %r failed", backend.name)
