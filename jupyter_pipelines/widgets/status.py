"""The live status view of one execution.

It starts from the execution's current state (``execution.refresh()``), then a background
thread follows the execution's event stream (``execution.events()``: ``execution`` and ``job``
events, plus ``log`` events from the server) and updates the widgets. ipykernel ≥ 7.1 sends
comm messages from any thread, so the follower sets widget traits directly, as the ipywidgets
"Asynchronous widgets" guide does for background updates; a lock keeps the follower and the
once-a-second ticker (elapsed time; log tail in embedded mode, where the engine emits no log
events) from interleaving. Nothing runs in the user's cell: ``show()`` returns at once.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Mapping

import ipywidgets as w

from ..errors import PipelinesError
from ..store.models import FINAL_EXECUTION, FINAL_JOB, seconds_between
from .display import Shown
from .style import BAR_STYLES, badge, error_box, esc, format_seconds, help_text

RANK = {"pending": 0, "queued": 1, "running": 2}
LOG_LINES = 20
KEEP_LOG_CHARS = 64_000


class OperationRow(w.HBox):
    """One job: name, coloured status, duration. ``row.status`` is the status text."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        super().__init__(layout=w.Layout(align_items="center", margin="1px 0"))
        self.op: str = job["op"]
        self.status: str = ""
        self.job: dict[str, Any] = {}
        kind = job.get("kind")
        details = [kind] if kind in ("input", "output") else []
        if job.get("operation") and job["operation"] != self.op:
            details.append(str(job["operation"]))
        note = f' <span style="color:#757575">({esc(": ".join(details))})</span>' if details else ""
        self.name_label = w.HTML(f"<code>{esc(self.op)}</code>{note}", layout=w.Layout(width="260px", overflow="hidden"))
        self.badge = w.HTML(layout=w.Layout(width="100px"))
        self.duration = w.HTML(layout=w.Layout(width="110px"))
        self.children = (self.name_label, self.badge, self.duration)
        self.add_class("jp-pipelines-op-row")
        self.add_class(f"jp-pipelines-op-{self.op}")  # stable hooks for browser tests and styling
        self.update(job)

    def update(self, job: Mapping[str, Any]) -> None:
        self.job = {**self.job, **job}
        if self.job["status"] != self.status:
            if self.status:
                self.remove_class(f"jp-pipelines-op-status-{self.status}")
            self.status = self.job["status"]
            self.add_class(f"jp-pipelines-op-status-{self.status}")
            self.badge.value = badge(self.status)
        self.tick()

    def tick(self) -> None:
        started, ended = self.job.get("started"), self.job.get("ended")
        text = format_seconds(seconds_between(started, ended)) if started else ""
        if self.status == "running" and text:
            text += " …"
        value = f'<span style="font-variant-numeric:tabular-nums">{esc(text)}</span>'
        if self.duration.value != value:
            self.duration.value = value

    def newer(self, job: Mapping[str, Any]) -> bool:
        """Whether ``job`` (from an event, possibly replayed) is not older than what is shown."""
        attempt, current = int(job.get("attempt") or 0), int(self.job.get("attempt") or 0)
        if attempt != current:
            return attempt > current
        rank = lambda status: RANK.get(status, 3)  # noqa: E731
        return rank(job["status"]) >= rank(self.status)


class StatusView(Shown):
    """Live view of an execution: rows, progress, elapsed time, log tail, errors, Cancel."""

    def __init__(self, execution: Any, log_lines: int = LOG_LINES) -> None:
        self.execution = execution
        self.api = execution.api
        self.log_lines = log_lines
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._cancel_thread: threading.Thread | None = None
        self.data: dict[str, Any] = dict(execution.data)
        self.rows: dict[str, OperationRow] = {}
        self._logs: dict[str, list[Any]] = {}  # op -> [byte offset, text]
        self._log_op: str | None = None
        self._log_events = getattr(self.api, "mode", "") == "server"
        self.stream_error: str = ""

        self.header = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=1, description="0 / 0", bar_style="info",
                                      style={"description_width": "70px"}, layout=w.Layout(width="420px"))
        self.elapsed = w.HTML()
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="warning",
                                      tooltip="Cancel the execution: running operations are killed")
        self.cancel_button.on_click(self._cancel)
        self.rows_box = w.VBox(layout=w.Layout(margin="4px 0"))
        self.log_title = w.HTML()
        self.log = w.HTML()
        self.error = w.HTML()
        self.widget = w.VBox([
            self.header,
            w.HBox([self.progress, self.elapsed, self.cancel_button], layout=w.Layout(align_items="center")),
            self.rows_box, self.error, self.log_title, self.log,
        ], layout=w.Layout(border="1px solid var(--jp-border-color2,#e0e0e0)", padding="6px 10px"))
        self.widget.add_class("jp-pipelines-status-view")
        self._render(self.data)

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> StatusView:
        """Refresh the state, then follow the event stream on a background thread (once)."""
        with self._lock:
            if self._thread is not None:
                return self
            try:
                self.data = dict(self.execution.refresh().data)
            except PipelinesError as error:
                self._fail_stream(f"Cannot read the execution: {error}")
                self._done.set()
                self._thread = threading.Thread(target=lambda: None)
                self._thread.start()
                return self
            except Exception as error:  # noqa: BLE001 - a network error: show it, no traceback
                self._fail_stream(f"Cannot reach the pipelines API: {type(error).__name__}: {error}")
                self._done.set()
                self._thread = threading.Thread(target=lambda: None)
                self._thread.start()
                return self
            self._render(self.data)
            for op, row in self.rows.items():
                if row.status in ("running", "failed"):  # the logs the view shows
                    self._read_log(op)
            self._thread = threading.Thread(target=self._follow, name=f"pipelines-view-{self.execution.name}",
                                            daemon=True)
            self._thread.start()
            if not self.final:
                self._ticker = threading.Thread(target=self._tick_loop, name="pipelines-view-ticker", daemon=True)
                self._ticker.start()
        return self

    def show(self) -> StatusView:
        self.start()
        return super().show()

    @property
    def final(self) -> bool:
        return self.data.get("status") in FINAL_EXECUTION

    def wait(self, timeout: float | None = None) -> bool:
        """Join the follower (for tests and scripts); True when the view has reached the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._cancel_thread, self._thread, self._ticker):
            if thread is not None:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._done.is_set()

    def close(self) -> None:
        """Stop following (the widgets stay as they are)."""
        self._done.set()

    # -- the follower ---------------------------------------------------------------------------------
    def _follow(self) -> None:
        try:
            if not self.final:
                for event in self.execution.events():
                    if self._done.is_set():
                        return
                    self._apply(event)
        except PipelinesError as error:
            self._fail_stream(f"Lost the execution's event stream: {error}")
        except Exception as error:  # noqa: BLE001 - keep the user's output free of tracebacks
            self._fail_stream(f"Lost the execution's event stream: {type(error).__name__}: {error}")
        finally:
            self._finish()

    def _finish(self) -> None:
        try:
            data = self.api.execution(self.execution.project, self.execution.name)
        except Exception:  # noqa: BLE001 - keep what the events said
            data = None
        with self._lock:
            if data is not None:
                self.execution.data = data
                self.data = dict(data)
            for op, row in self.rows.items():
                if row.status == "failed" and op not in self._logs:
                    self._read_log(op)
            self._render(self.data)
            self._done.set()

    def _tick_loop(self) -> None:
        while not self._done.wait(1.0):
            with self._lock:
                if self._done.is_set():
                    return
                self._tick()
                if not self._log_events:
                    for op, row in self.rows.items():
                        if row.status == "running":
                            self._read_log(op, tail=True)
                    self._render_log()

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind, data = event.get("type"), dict(event.get("data") or {})
        with self._lock:
            if kind == "job" and data.get("op") in self.rows:
                row = self.rows[data["op"]]
                if not row.newer(data):
                    return
                self._update_job(data)
                self._render_header()
            elif kind == "job":  # a node we did not know (a re-run that changed the graph)
                self.data.setdefault("jobs", []).append(data)
                self._render(self.data)
            elif kind == "execution":
                self.data.update({k: v for k, v in data.items() if k in ("status", "error")})
                if data.get("status") == "running" and not self.data.get("started"):
                    self.data["started"] = event.get("created")
                self._render_header()
            elif kind == "log" and data.get("op"):
                self._append_log(data["op"], data.get("offset"), data.get("text") or "")
                self._render_log()

    def _update_job(self, job: Mapping[str, Any]) -> None:
        row = self.rows[job["op"]]
        before = row.status
        row.update(job)
        for stored in self.data.get("jobs", []):
            if stored["op"] == job["op"]:
                stored.update(job)
        if row.status == "running" and before != "running":
            self._log_op = row.op
            if before in FINAL_JOB:  # running again (a re-run): a fresh log
                self._logs.pop(row.op, None)
        if row.status in FINAL_JOB and before not in FINAL_JOB and not self._log_events:
            self._read_log(row.op, tail=True)
        self._render_progress()
        self._render_errors()
        self._render_log()

    # -- logs -----------------------------------------------------------------------------------------
    def _read_log(self, op: str, tail: bool = False) -> None:
        """Read an operation's log (with ``tail``, only what is new since the last read)."""
        try:
            if tail and op in self._logs:
                offset = self._logs[op][0]
                self._append_log(op, offset, self.api.log(self.execution.project, self.execution.name, op, offset))
            else:
                text = self.api.log(self.execution.project, self.execution.name, op)
                self._logs[op] = [len(text.encode()), text[-KEEP_LOG_CHARS:]]
        except Exception:  # noqa: BLE001 - a log that cannot be read is shown as empty
            self._logs.setdefault(op, [0, ""])

    def _append_log(self, op: str, offset: Any, text: str) -> None:
        if not text:
            return
        entry = self._logs.setdefault(op, [0, ""])
        size = len(text.encode())
        if not isinstance(offset, int) or offset == entry[0]:
            entry[0] += size
            entry[1] = (entry[1] + text)[-KEEP_LOG_CHARS:]
        elif offset < entry[0]:  # partly seen already
            data = text.encode()[entry[0] - offset:]
            if data:
                entry[1] = (entry[1] + data.decode("utf-8", "replace"))[-KEEP_LOG_CHARS:]
                entry[0] = offset + size
        else:  # a gap: read the whole log
            self._read_log(op)

    def _shown_log_op(self) -> str | None:
        running = [op for op, row in self.rows.items() if row.status == "running"]
        if self._log_op in running:
            return self._log_op
        if running:
            return running[-1]
        failed = [op for op, row in self.rows.items() if row.status == "failed"]
        if failed:
            return failed[0]
        if self._log_op in self._logs and self._logs[self._log_op][1].strip():
            return self._log_op
        written = [op for op in self.rows if self._logs.get(op, [0, ""])[1].strip()]
        return written[-1] if written else self._log_op

    def _render_log(self) -> None:
        op = self._shown_log_op()
        if op is None or op not in self.rows:
            title, body = "", ""
        else:
            text = self._logs.get(op, [0, ""])[1]
            lines = text.rstrip("\n").splitlines()[-self.log_lines:]
            status = self.rows[op].status
            title = help_text(f"Log of {op} ({status}), last {self.log_lines} lines:" if lines
                              else f"Log of {op} ({status}): nothing written yet.")
            body = (f'<pre class="jp-pipelines-log" style="margin:0;max-height:22em;overflow:auto;font-size:11px;'
                    f'background:var(--jp-layout-color2,#f5f5f5);padding:4px 6px">{esc(chr(10).join(lines))}</pre>'
                    if lines else "")
        if self.log_title.value != title:
            self.log_title.value = title
        if self.log.value != body:
            self.log.value = body

    # -- rendering ------------------------------------------------------------------------------------
    def _render(self, data: Mapping[str, Any]) -> None:
        jobs = list(data.get("jobs") or [])
        if [job["op"] for job in jobs] != list(self.rows):
            old = self.rows
            self.rows = {job["op"]: old.get(job["op"]) or OperationRow(job) for job in jobs}
            self.rows_box.children = tuple(self.rows.values())
        for job in jobs:
            self.rows[job["op"]].update(job)
        self._render_header()
        self._render_progress()
        self._render_errors()
        self._render_log()

    def _render_header(self) -> None:
        data = self.data
        status = data.get("status", "")
        tag = data.get("tag") or data.get("name", "")
        extra = ' · <span title="operations can be edited and re-run">debug mode</span>' if data.get("debug") else ""
        value = (f'<div style="font-size:14px"><b class="jp-pipelines-execution-name">{esc(data.get("name"))}</b> '
                 f'{badge(status)}</div>'
                 f'<div style="color:var(--jp-ui-font-color2,#616161);font-size:12px">pipeline '
                 f'<code>{esc(data.get("pipeline"))}</code> · project <code>{esc(data.get("project"))}</code> · tag '
                 f'<code class="jp-pipelines-tag">{esc(tag)}</code>{extra}</div>')
        if self.header.value != value:
            self.header.value = value
        final = status in FINAL_EXECUTION
        if final and not self.cancel_button.disabled:
            self.cancel_button.disabled = True
            self.cancel_button.tooltip = f"The execution has ended ({status})"
            self.cancel_button.layout.display = "none"
        self._tick()

    def _tick(self) -> None:
        data = self.data
        start = data.get("started") or data.get("created")
        if not start:
            return
        seconds = seconds_between(start, data.get("ended") if self.final else None)
        label = "took" if self.final else "elapsed"
        value = f'<span style="margin:0 12px;font-variant-numeric:tabular-nums">{label} {esc(format_seconds(seconds))}</span>'
        if self.elapsed.value != value:
            self.elapsed.value = value
        for row in self.rows.values():
            if row.status == "running":
                row.tick()

    def _render_progress(self) -> None:
        statuses = [row.status for row in self.rows.values()]
        done = sum(status in FINAL_JOB for status in statuses)
        total = len(statuses)
        execution_status = self.data.get("status", "")
        if "failed" in statuses or execution_status == "failed":
            style = "danger"
        elif "canceled" in statuses or execution_status == "canceled":
            style = "warning"
        elif total and done == total and execution_status == "success":
            style = "success"
        else:
            style = BAR_STYLES.get("running", "info")
        with self.progress.hold_sync():
            self.progress.max = max(total, 1)
            self.progress.value = done
            self.progress.description = f"{done} / {total}"
            self.progress.bar_style = style

    def _render_errors(self) -> None:
        parts = []
        for op, row in self.rows.items():
            if row.status == "failed":
                job = row.job
                message = f"{op} failed" + (f": {job['error']}" if job.get("error") else "")
                if job.get("exit_code") not in (None, 0) and not job.get("traceback"):
                    message += f" (exit code {job['exit_code']})"
                parts.append(error_box(message, job.get("traceback") or ""))
        if self.data.get("error") and not parts:
            parts.append(error_box(str(self.data["error"])))
        if self.stream_error:
            parts.append(error_box(self.stream_error))
        value = "".join(parts)
        if self.error.value != value:
            self.error.value = value

    def _fail_stream(self, message: str) -> None:
        with self._lock:
            self.stream_error = message
            self._render_errors()

    # -- cancel ---------------------------------------------------------------------------------------
    def _cancel(self, _: Any = None) -> None:
        if self.cancel_button.disabled:
            return
        self.cancel_button.disabled = True
        self.cancel_button.description = "Canceling…"

        def cancel() -> None:
            try:
                self.execution.cancel()
            except Exception as error:  # noqa: BLE001 - shown in the view
                message = str(error) if isinstance(error, PipelinesError) else f"{type(error).__name__}: {error}"
                with self._lock:
                    self.stream_error = f"Cancel failed: {message}"
                    self._render_errors()
                    self.cancel_button.disabled = self.final
            finally:
                self.cancel_button.description = "Cancel"

        self._cancel_thread = threading.Thread(target=cancel, name="pipelines-cancel", daemon=True)
        self._cancel_thread.start()
