"""The SQLite store (WAL). Every state change and its event are one transaction:
state is written before it is announced."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from ..errors import NotFound
from ..pipeline import Pipeline
from ..statuses import UNDER_WAY, ExecutionStatus, JobStatus
from .models import ArtifactRecord, Event, ExecutionRecord, JobRecord, attempt_dict, now

Listener = Callable[[list[Event]], None]


def _enable_wal(db: sqlite3.Connection, timeout: float = 60.0) -> None:
    """Switch to WAL; while another process creates the same database this answers "locked"
    without waiting (SQLite's busy timeout does not apply), so retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _make_private(path: str) -> None:
    """Make the database, and its -wal and -shm files if they exist, readable by their owner only.

    SQLite creates -wal and -shm files with the mode of the database, so a database made 0600
    before SQLite first opens it keeps them private too.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


class Store:
    """Projects, commits, tags, executions, jobs, the event log, settings and artifacts."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._local = threading.local()
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self._changed = threading.Condition()
        _make_private(self.path)
        db = self._connection()
        self._migrate(db)
        db.executescript(resources.files(__package__).joinpath("schema.sql").read_text())

    # -- connections and transactions ----------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.row_factory = sqlite3.Row
            _enable_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            self._local.pending = []
        return db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Bring a store written by an earlier version up to the schema (columns added since)."""
        columns = {row[1] for row in db.execute("PRAGMA table_info(executions)")}
        if columns and "params" not in columns:
            db.execute("ALTER TABLE executions ADD COLUMN params TEXT NOT NULL DEFAULT '{}'")
        job_columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        if job_columns and "figures" not in job_columns:
            db.execute("ALTER TABLE jobs ADD COLUMN figures TEXT NOT NULL DEFAULT '[]'")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); events it appends are announced after commit."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")  # may fail too (a full disk): then nothing of it was written
        except BaseException:
            self._local.pending = []
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        events, self._local.pending = self._local.pending, []
        if events:
            self._announce(events)

    def read(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self._connection().execute(sql, args).fetchall()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- events ----------------------------------------------------------------------------------
    def _append_event(self, db: sqlite3.Connection, execution: sqlite3.Row, kind: str, data: dict[str, Any]) -> None:
        created = now()
        key = (execution["id"], execution["project"], execution["name"])
        cursor = db.execute(
            "INSERT INTO events (execution_id, project, execution, type, data, created) VALUES (?,?,?,?,?,?)",
            (*key, kind, json.dumps(data), created),
        )
        self._local.pending.append(Event(cursor.lastrowid or 0, *key, kind, data, created))

    def _announce(self, events: list[Event]) -> None:
        with self._changed:
            self._changed.notify_all()
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(events)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(events)`` after each commit that appended events; returns an unsubscribe."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def events(self, after: int = 0, execution_id: int | None = None, limit: int = 1000) -> list[Event]:
        if execution_id is None:
            rows = self.read("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
        else:
            rows = self.read("SELECT * FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                             execution_id, after, limit)
        return [Event.from_row(row) for row in rows]

    def last_event_seq(self) -> int:
        rows = self.read("SELECT MAX(seq) FROM events")
        return int(rows[0][0] or 0)

    def wait_for_events(self, after: int, execution_id: int | None = None, timeout: float = 1.0) -> list[Event]:
        """Events after ``after``, waiting up to ``timeout`` seconds for some.

        Commits in this process wake the wait; other processes' writes are seen by polling.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(after, execution_id)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            with self._changed:
                self._changed.wait(min(0.25, left))

    # -- executions and jobs ---------------------------------------------------------------------
    def create_execution(self, pipeline: Pipeline, name: str, *, debug: bool, compute: dict[str, Any],
                         storage: dict[str, Any], needs_secrets: bool, owner: str,
                         params: dict[str, Any] | None = None) -> ExecutionRecord:
        """Commit the snapshot, reserve a unique name, create the execution, its jobs and its tag."""
        snapshot = pipeline.to_dict()
        commit = pipeline.digest()
        created = now()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO projects (name, created) VALUES (?, ?)", (pipeline.project, created))
            db.execute(
                "INSERT OR IGNORE INTO commits (id, project, pipeline, parent, snapshot, created) VALUES (?,?,?,?,?,?)",
                (commit, pipeline.project, pipeline.name, self._latest_commit(db, pipeline), json.dumps(snapshot), created),
            )
            final_name = self._free_name(db, pipeline.project, name)
            cursor = db.execute(
                "INSERT INTO executions (project, name, pipeline, status, debug, commit_id, compute, storage, "
                "needs_secrets, created, owner, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (pipeline.project, final_name, pipeline.name, ExecutionStatus.PENDING, int(debug), commit, json.dumps(compute),
                 json.dumps(storage), int(needs_secrets), created, owner, json.dumps(params or {})),
            )
            execution_id = cursor.lastrowid
            for position, node_id in enumerate(pipeline.topological_order()):
                node = pipeline.nodes[node_id]
                db.execute(
                    "INSERT INTO jobs (execution_id, node, position, kind, operation, status) VALUES (?,?,?,?,?,?)",
                    (execution_id, node_id, position, node.kind, node.operation or node.artifact, JobStatus.PENDING),
                )
            db.execute("INSERT INTO tags (project, name, commit_id, execution_id, created) VALUES (?,?,?,?,?)",
                       (pipeline.project, final_name, commit, execution_id, created))
            assert execution_id is not None  # an INSERT's row id
            record = self._execution(db, execution_id)
            row = db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
            self._append_event(db, row, "execution", {"status": ExecutionStatus.PENDING, "pipeline": pipeline.name})
        return record

    @staticmethod
    def _free_name(db: sqlite3.Connection, project: str, base: str) -> str:
        """``base`` the first time it is asked for, then ``base_2``, ``base_3``, … from a counter kept per
        name, so finding the next one costs the same at 100 000 executions. A name once given is not
        given again, even after its execution was deleted (its data stays in storage)."""
        def used(name: str) -> bool:
            return db.execute("SELECT 1 FROM executions WHERE project = ? AND name = ? UNION ALL "
                              "SELECT 1 FROM tags WHERE project = ? AND name = ? LIMIT 1",
                              (project, name, project, name)).fetchone() is not None

        row = db.execute("SELECT last FROM name_counters WHERE project = ? AND base = ?", (project, base)).fetchone()
        if row is None and not used(base):
            db.execute("INSERT INTO name_counters (project, base, last) VALUES (?, ?, 1)", (project, base))
            return base
        last = row[0] if row is not None else Store._highest_suffix(db, project, base)
        number = max(last, 1) + 1
        while used(f"{base}_{number}"):
            number += 1
        db.execute("INSERT INTO name_counters (project, base, last) VALUES (?, ?, ?) "
                   "ON CONFLICT (project, base) DO UPDATE SET last = excluded.last", (project, base, number))
        return f"{base}_{number}"

    @staticmethod
    def _highest_suffix(db: sqlite3.Connection, project: str, base: str) -> int:
        """The highest N of the ``base_N`` names in use (a store written before name counters existed)."""
        pattern, start = f"{base}_[0-9]*", len(base) + 2  # names are [A-Za-z0-9_-]: nothing to escape
        highest = db.execute(
            "SELECT MAX(n) FROM (SELECT CAST(substr(name, ?) AS INTEGER) AS n FROM executions "
            "WHERE project = ? AND name GLOB ? UNION ALL SELECT CAST(substr(name, ?) AS INTEGER) FROM tags "
            "WHERE project = ? AND name GLOB ?)", (start, project, pattern, start, project, pattern)).fetchone()[0]
        return int(highest or 1)

    @staticmethod
    def _latest_commit(db: sqlite3.Connection, pipeline: Pipeline) -> str | None:
        row = db.execute("SELECT id FROM commits WHERE project = ? AND pipeline = ? ORDER BY created DESC, rowid DESC "
                         "LIMIT 1", (pipeline.project, pipeline.name)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _execution(db: sqlite3.Connection, execution_id: int) -> ExecutionRecord:
        row = db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
        if row is None:
            raise NotFound(f"no execution with id {execution_id}")
        record = ExecutionRecord.from_row(row)
        record.jobs = [JobRecord.from_row(job) for job in
                       db.execute("SELECT * FROM jobs WHERE execution_id = ? ORDER BY position", (execution_id,))]
        attempts: dict[str, list[dict[str, Any]]] = {}
        for attempt in db.execute("SELECT node, attempt, status, started, ended, exit_code, error FROM attempts "
                                  "WHERE execution_id = ? ORDER BY node, attempt", (execution_id,)):
            attempts.setdefault(attempt["node"], []).append(attempt_dict(attempt))
        for job in record.jobs:
            job.attempts = attempts.get(job.node, [])
        return record

    def execution_by_id(self, execution_id: int) -> ExecutionRecord:
        return self._execution(self._connection(), execution_id)

    def execution_status(self, execution_id: int) -> str:
        """The status of an execution, without loading its jobs."""
        rows = self.read("SELECT status FROM executions WHERE id = ?", execution_id)
        if not rows:
            raise NotFound(f"no execution with id {execution_id}")
        return str(rows[0][0])

    def execution(self, project: str, name: str) -> ExecutionRecord:
        rows = self.read("SELECT id FROM executions WHERE project = ? AND name = ?", project, name)
        if not rows:
            raise NotFound(f"no execution named {name!r} in project {project!r}")
        return self.execution_by_id(rows[0][0])

    def executions(self, project: str | None = None, pipeline: str | None = None, status: str | None = None,
                   limit: int | None = None, before: int | None = None) -> list[ExecutionRecord]:
        """Executions, newest first, with their jobs; ``limit`` of them with ids below ``before``."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("project", project), ("pipeline", pipeline), ("status", status)):
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if before is not None:
            clauses.append("id < ?")
            args.append(before)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        page = f"LIMIT {int(limit)}" if limit is not None else ""
        db = self._connection()
        rows = db.execute(f"SELECT * FROM executions {where} ORDER BY id DESC {page}", args).fetchall()
        records = [ExecutionRecord.from_row(row) for row in rows]
        by_id = {record.id: record for record in records}
        if by_id:
            marks = ",".join("?" * len(by_id))
            for job in db.execute(f"SELECT * FROM jobs WHERE execution_id IN ({marks}) ORDER BY position", list(by_id)):
                by_id[job["execution_id"]].jobs.append(JobRecord.from_row(job))
        return records

    def start_execution(self, execution_id: int) -> bool:
        """Mark a pending execution ``running``; False (and nothing written) if it is no longer pending."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE executions SET status = 'running', started = ?, error = NULL, ended = NULL "
                                "WHERE id = ? AND status = 'pending'", (now(), execution_id))
            if cursor.rowcount == 0:
                return False
            row = db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
            self._append_event(db, row, "execution", {"status": ExecutionStatus.RUNNING, "pipeline": row["pipeline"]})
        return True

    def update_execution(self, execution_id: int, event: dict[str, Any] | None = None, **values: Any) -> None:
        """Set columns of an execution; record an ``execution`` event with the new status and ``event``."""
        with self.transaction() as db:
            self._set(db, "executions", "id = ?", (execution_id,), values)
            row = db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
            if event is not None or "status" in values:
                data = {"status": row["status"], "pipeline": row["pipeline"], **(event or {})}
                if row["error"] and row["status"] in (ExecutionStatus.FAILED, ExecutionStatus.CANCELED):
                    data.setdefault("error", row["error"])
                self._append_event(db, row, "execution", data)

    def update_job(self, execution_id: int, node: str, **values: Any) -> None:
        """Set columns of a job and record a ``job`` event with its new state.

        The job's attempt (a new ``attempt`` number starts one) is kept in ``attempts`` while it is
        under way and when it ends; a job set back to ``pending`` (to run again) leaves its past
        attempts as they were, and one interrupted under way (a restart) is recorded as canceled.
        """
        key = (execution_id, node)
        with self.transaction() as db:
            before = db.execute("SELECT status FROM jobs WHERE execution_id = ? AND node = ?", key).fetchone()
            self._set(db, "jobs", "execution_id = ? AND node = ?", key, values)
            job = JobRecord.from_row(db.execute("SELECT * FROM jobs WHERE execution_id = ? AND node = ?",
                                                key).fetchone())
            under_way = before is not None and before[0] in UNDER_WAY
            if job.attempt and ("attempt" in values or under_way):
                interrupted = job.status == JobStatus.PENDING
                db.execute(
                    "INSERT OR REPLACE INTO attempts (execution_id, node, attempt, status, started, ended, exit_code, "
                    "error) VALUES (?,?,?,?,?,?,?,?)",
                    (*key, job.attempt, JobStatus.CANCELED if interrupted else job.status,
                     job.started, now() if interrupted else job.ended, job.exit_code,
                     "interrupted: the engine stopped while it ran" if interrupted else job.error))
            row = db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
            self._append_event(db, row, "job", job.to_dict(row["project"], row["name"]))

    @staticmethod
    def _set(db: sqlite3.Connection, table: str, where: str, key: tuple[Any, ...], values: dict[str, Any]) -> None:
        if not values:
            return
        columns = ", ".join(f"{column} = ?" for column in values)
        encoded = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in values.values()]
        db.execute(f"UPDATE {table} SET {columns} WHERE {where}", (*encoded, *key))

    def compact_events(self, ended_before: str) -> int:
        """Drop the event log of executions that ended before ``ended_before`` (ISO time), keeping each
        one's last event (its final state); returns how many events were dropped. Their state stays
        in the executions, jobs and attempts tables; only the replay of their history goes."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM events WHERE execution_id IN (SELECT id FROM executions WHERE ended IS NOT NULL "
                "AND ended < ? AND status IN ('success', 'failed', 'canceled')) AND seq NOT IN "
                "(SELECT MAX(seq) FROM events GROUP BY execution_id)", (ended_before,))
            return cursor.rowcount

    def delete_execution(self, execution_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM tags WHERE execution_id = ?", (execution_id,))
            db.execute("DELETE FROM events WHERE execution_id = ?", (execution_id,))
            db.execute("DELETE FROM executions WHERE id = ?", (execution_id,))

    # -- commits and tags ------------------------------------------------------------------------
    def commit(self, commit_id: str) -> dict[str, Any]:
        rows = self.read("SELECT * FROM commits WHERE id = ?", commit_id)
        if not rows:
            raise NotFound(f"no commit {commit_id!r}")
        data = dict(rows[0])
        data["snapshot"] = json.loads(data["snapshot"])
        return data

    def add_commit(self, pipeline: Pipeline, parent: str | None) -> str:
        commit = pipeline.digest()
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO commits (id, project, pipeline, parent, snapshot, created) VALUES (?,?,?,?,?,?)",
                (commit, pipeline.project, pipeline.name, parent, pipeline.to_json(indent=None), now()),
            )
        return commit

    def move_tag(self, project: str, name: str, commit: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE tags SET commit_id = ? WHERE project = ? AND name = ?", (commit, project, name))

    def tags(self, project: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT tags.project, tags.name, tags.commit_id AS [commit], executions.name AS execution, "
               "commits.pipeline, tags.created FROM tags JOIN commits ON commits.id = tags.commit_id "
               "LEFT JOIN executions ON executions.id = tags.execution_id")
        rows = self.read(sql + " WHERE tags.project = ? ORDER BY tags.created DESC, tags.rowid DESC", project) \
            if project else self.read(sql + " ORDER BY tags.created DESC, tags.rowid DESC")
        return [dict(row) for row in rows]

    def tag(self, project: str, name: str) -> dict[str, Any]:
        for tag in self.tags(project):
            if tag["name"] == name:
                return tag
        raise NotFound(f"no tag named {name!r} in project {project!r}")

    # -- settings and artifacts ------------------------------------------------------------------
    def settings(self, project: str, pipeline: str) -> dict[str, Any]:
        rows = self.read("SELECT data FROM settings WHERE project = ? AND pipeline = ?", project, pipeline)
        return json.loads(rows[0][0]) if rows else {}

    def save_settings(self, project: str, pipeline: str, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings (project, pipeline, data, updated) VALUES (?,?,?,?)",
                       (project, pipeline, json.dumps(data), now()))

    def save_artifact(self, artifact: ArtifactRecord) -> None:
        values = artifact.to_dict()
        values["config"] = json.dumps(values["config"])
        with self.transaction() as db:
            db.execute(f"INSERT OR REPLACE INTO artifacts ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                       list(values.values()))

    def artifact(self, project: str, name: str) -> ArtifactRecord:
        rows = self.read("SELECT * FROM artifacts WHERE project = ? AND name = ?", project, name)
        if not rows:
            raise NotFound(f"no artifact named {name!r} in project {project!r}; register it with Artifact.upload()")
        return ArtifactRecord.from_row(rows[0])

    def artifacts(self, project: str) -> list[ArtifactRecord]:
        return [ArtifactRecord.from_row(row) for row in
                self.read("SELECT * FROM artifacts WHERE project = ? ORDER BY name", project)]
