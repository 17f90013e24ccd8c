"""The body of a job process forked by the fork server, and how a job's log is reset.

A job process leads its own session, keeps its orphaned descendants and marks what it starts
(``runner.tree.become_job``), so that cancel can kill all of it; when its operation
returns, whatever it left running is killed before the outcome is reported.

Logs are opened with ``job.open_nofollow``: a symbolic link planted at a log's path is refused,
never written or read through.
"""
from __future__ import annotations

import errno
import os
import shutil
import sys
import traceback
from collections.abc import Generator
from multiprocessing.connection import Connection

from .contracts import JobOutcome, JobSpec, StorageSpec
from .job import JobError, open_nofollow, run_job
from .tree import become_job, end_descendants

RUNNER_DIR = os.path.dirname(os.path.abspath(__file__))


def user_traceback(error: BaseException) -> str:
    """The traceback of ``error`` without the runner's own frames."""
    summary = traceback.TracebackException.from_exception(error)
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if not frame.filename.startswith(RUNNER_DIR)]
    )
    return "".join(summary.format())


def failure(error: BaseException) -> JobOutcome:
    """A failed job's outcome: a one-line error and the user-facing traceback."""
    if isinstance(error, JobError):
        return {"status": "failed", "error": str(error), "traceback": ""}
    message = f"{type(error).__name__}: {error}".strip().rstrip(":")
    return {"status": "failed", "error": message, "traceback": user_traceback(error)}


def run_reported(spec: JobSpec) -> JobOutcome:
    """Run the job; its outcome, success or failure (written to stderr too), never an exception.
    What it left running is killed before this returns."""
    try:
        outcome = run_job(spec)
    except BaseException as error:  # noqa: BLE001 - every failure is reported to the engine
        outcome = failure(error)
        sys.stderr.write(outcome["traceback"] or outcome["error"] + "\n")
    end_descendants()
    return outcome


def exit_code(outcome: JobOutcome) -> int:
    """The exit code of a job's process after it reported ``outcome``."""
    return 0 if outcome["status"] == "success" else 1


_WARM_UP_SOURCE = "def warm_up(value=None):\n    return value if value is not None else {'step': 0}\n"


def warm_up_steps(folder: str, runs: int = 16) -> Generator[None, None, None]:
    """Run tiny jobs (write a value; read it and write it again) in ``folder``, one per step; the
    folder is made at the first step and removed at the last (or when the iterator is closed).

    Python specialises code as it runs it, writing into its code objects: code that already ran
    in the fork server is not specialised again in each job, where every such write copies a page.
    """
    storage: StorageSpec = {"protocol": "file", "options": {}}
    first, second = os.path.join(folder, "first"), os.path.join(folder, "second")
    owner = os.getpid()  # a forked child that drops this iterator must not remove the folder
    try:
        os.mkdir(folder, 0o700)
        for _ in range(runs):
            run_job({"node": "warm_up", "kind": "operation", "function": "warm_up", "source": _WARM_UP_SOURCE,
                     "inputs": {}, "outputs": {"output": first}, "storage": storage})
            yield
            run_job({"node": "warm_up", "kind": "operation", "function": "warm_up", "source": _WARM_UP_SOURCE,
                     "inputs": {"value": first}, "outputs": {"output": second}, "storage": storage})
            yield
    except Exception:  # noqa: BLE001, S110 - only ever a matter of speed
        pass
    finally:
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)


def warm_up(folder: str, runs: int = 16) -> None:
    """All of :func:`warm_up_steps` at once."""
    for _ in warm_up_steps(folder, runs):
        pass


def reset_log(path: str) -> None:
    """Create a job's log empty (0600) or empty it; a symbolic link there is left for its writer to refuse."""
    try:
        log = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return
        raise
    with log:
        os.fchmod(log.fileno(), 0o600)  # also a log written before logs were private


def job_child(conn: Connection) -> None:
    """In a freshly forked child: lead a new session, send our pid and start time, run the job, report, exit.

    The request is ``(spec, log_path[, wait[, note]])``; with ``wait`` the child is prepared ahead
    of its turn and runs once a second message arrives; ``note`` is a line for the log before the
    job runs (say, which of its imports the fork server could not make for it). stdout and stderr
    go to the log file as they are written, and are closed before the outcome is sent: after it
    the child only exits (with ``exit_code(outcome)``), so the parent need not wait for that.
    """
    code = 1
    try:
        os.setsid()
        started = become_job()
        conn.send(("pid", os.getpid(), started))
        request = conn.recv()
        spec, log_path = request[0], request[1]
        if len(request) > 2 and request[2]:
            conn.recv()  # prepared ahead of its turn: wait for the word to go
        outcome = _run(spec, log_path, request[3] if len(request) > 3 else None)
        code = exit_code(outcome)
        _close_output()
        conn.send(("outcome", outcome))
    finally:
        try:
            _close_output()
        finally:
            os._exit(code)


def _run(spec: JobSpec, log_path: str, note: str | None = None) -> JobOutcome:
    """Run the job with its output going to its log; what it left running is killed once it returns."""
    try:
        log = open_nofollow(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError as error:
        return {"status": "failed", "error": f"cannot write the job's log: {error}", "traceback": ""}
    with log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if note:
        sys.stderr.write(f"[pipelines] {note}\n")
    return run_reported(spec)


def _close_output() -> None:
    """Flush stdout and stderr and point them at /dev/null (the log sees its end now)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
