"""The live status view of one execution.

It starts from the execution's current state (``execution.refresh()``), then a background
thread follows the execution's event stream (``execution.events()``: ``execution`` and ``job``
events, plus ``log`` events from the server) and updates the widgets. ipykernel ≥ 7.1 sends
comm messages from any thread, so the follower sets widget traits directly, as the ipywidgets
"Asynchronous widgets" guide does for background updates; a lock keeps the follower and the
once-a-second ticker (elapsed time; log tail in embedded mode, where the engine emits no log
events; the snapshot) from interleaving. Nothing runs in the user's cell: ``show()`` returns at once.

What it shows: the execution's graph (:class:`~.graph.PipelineGraph`, nodes coloured live; a static
SVG where the frontend module is missing), one row per operation (:mod:`.jobs` draws a job's row,
outputs and attempts), progress, elapsed time, errors
with their traceback (once: the log shown below leaves it out), and the details of one operation
— the one clicked in the graph or in the rows, else the running one (then the failed one): its
attempts, its log (live to the line), its outputs with their previews, its figures, its source
and attributes. The snapshot saved with the notebook (:mod:`.display`) is the same, as HTML.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from ..errors import PipelinesError
from ..statuses import FINAL_EXECUTION, FINAL_JOB
from ..store.models import seconds_between
from .display import NEEDS_KERNEL, Shown, detached_note, reattach_hint
from .graph import GraphBox, PipelineGraph, graph_svg
from .jobs import PRE, OperationRow, attempts_html, outputs_html
from .style import BAR_STYLES, badge, error_box, esc, format_seconds, help_text

LOG_LINES = 20
KEEP_LOG_CHARS = 64_000
SNAPSHOT_EVERY = 2.0  # seconds between snapshot updates while the execution runs (each sends the whole HTML)
GRAPH_HEIGHT = 240
TRACEBACK_START = "Traceback (most recent call last):"
TRACEBACK_SHOWN = "[traceback: shown above, with the error]"
VIEW_STYLE = (
    "<style>"
    ".jp-pipelines-op-select button,.jp-pipelines-op-select{text-align:left!important;font-family:"
    "var(--jp-code-font-family,monospace)!important;background:transparent!important;box-shadow:none!important;"
    "padding:0 4px!important}"
    ".jp-pipelines-op-select:hover{text-decoration:underline}"
    ".jp-pipelines-op-row.jp-pipelines-op-selected{box-shadow:inset 3px 0 0 #1e88e5;"
    "background:var(--jp-layout-color2,#f5f5f5)}"
    "</style>")


def without_traceback(text: str, traceback: str | None) -> str:
    """``text`` (a failed job's log) with the traceback the error box shows replaced by a one-line note."""
    shown = (traceback or "").strip()
    if not shown:
        return text
    if shown in text:
        return text.replace(shown, TRACEBACK_SHOWN)
    start = text.rfind(TRACEBACK_START)  # the log may hold it cut differently (a tail): from its last start
    return text[:start] + TRACEBACK_SHOWN + "\n" if start >= 0 else text


class StatusView(Shown):
    """Live view of an execution: graph, rows, progress, elapsed time, errors, the selected operation, Cancel.

    ``owner``: the shown object whose snapshot this view's state is (the execute dialog it replaced).
    """

    def __init__(self, execution: Any, log_lines: int = LOG_LINES, owner: Shown | None = None) -> None:
        self.execution = execution
        self.api = execution.api
        self.log_lines = log_lines
        self.owner = owner
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._cancel_thread: threading.Thread | None = None
        self.data: dict[str, Any] = dict(execution.data)
        self.rows: dict[str, OperationRow] = {}
        self._logs: dict[str, list[Any]] = {}  # op -> [byte offset, text]
        self._log_op: str | None = None  # the operation that last started running
        self.selected: str | None = None  # chosen in the graph or the rows; None: follow the running one
        self._figures: dict[tuple[str, int], str] = {}  # (op, index) -> <img> (or why not)
        self._log_events = getattr(self.api, "mode", "") == "server"
        self._dirty = False
        self._flushed = 0.0
        self._syncing_graph = False
        self.stream_error: str = ""

        self.header = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=1, description="0 / 0", bar_style="info",
                                      style={"description_width": "70px"}, layout=w.Layout(width="420px"))
        self.elapsed = w.HTML()
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="warning",
                                      tooltip="Cancel the execution: running operations are killed")
        self.cancel_button.add_class("jp-pipelines-cancel")
        self.cancel_button.add_class(NEEDS_KERNEL)
        self.cancel_button.on_click(self._cancel)
        self.detached = detached_note(
            "<b>This view is no longer live</b>: the kernel that showed it restarted or stopped, so it keeps the "
            "last state it received and can no longer act (no Cancel). Re-attach with "
            f"{reattach_hint(execution.name, execution.project)} in a cell.")
        self.graph = PipelineGraph(height=GRAPH_HEIGHT)
        self.graph.observe(self._graph_selected, "selected")
        self.graph_box = GraphBox(self.graph)
        self.rows_box = w.VBox(layout=w.Layout(margin="4px 0"))
        self.error = w.HTML()
        self.details_title = w.HTML()
        self.log_title = w.HTML()
        self.log = w.HTML()
        self.outputs = w.HTML()
        self.figures = w.HTML()
        self.source = w.HTML()
        self.details = w.VBox([self.details_title, self.log_title, self.log, self.outputs, self.figures, self.source],
                              layout=w.Layout(margin="4px 0 0"))
        self.details.add_class("jp-pipelines-details")
        self.widget = w.VBox([
            w.HTML(VIEW_STYLE), self.detached, self.header,
            w.HBox([self.progress, self.elapsed, self.cancel_button], layout=w.Layout(align_items="center")),
            self.graph_box.box, self.rows_box, self.error, self.details,
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
                return self._cannot_start(f"Cannot read the execution: {error}")
            except Exception as error:  # noqa: BLE001 - a network error: show it, no traceback
                return self._cannot_start(f"Cannot reach the pipelines API: {type(error).__name__}: {error}")
            for op, job in ((job["op"], job) for job in self.data.get("jobs") or []):
                if job.get("status") in ("running", "failed"):  # the logs the view shows
                    self._read_log(op)
            self._render(self.data)
            self._thread = threading.Thread(target=self._follow, name=f"pipelines-view-{self.execution.name}",
                                            daemon=True)
            self._thread.start()
            if not self.final:
                self._ticker = threading.Thread(target=self._tick_loop, name="pipelines-view-ticker", daemon=True)
                self._ticker.start()
        return self

    def _cannot_start(self, message: str) -> StatusView:
        self._fail_stream(message)
        self._done.set()
        self._thread = threading.Thread(target=lambda: None)
        self._thread.start()
        return self

    def show(self) -> StatusView:
        self.start()
        super().show()
        return self

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
            self._flush_snapshot(force=True)

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
                if self._dirty and time.monotonic() - self._flushed >= SNAPSHOT_EVERY:
                    self._flush_snapshot()

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
                self._changed()
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
        self._render_graph()
        self._render_progress()
        self._render_errors()
        self._render_details()
        self._changed()

    # -- selection ------------------------------------------------------------------------------------
    def select(self, op: str | None) -> None:
        """Show the details of ``op`` (None: follow the running operation again)."""
        with self._lock:
            if op is not None and op not in self.rows:
                return
            self.selected = op
            if op is not None and op not in self._logs and self.rows[op].status != "pending":
                self._read_log(op)
            self._render_details()
            self._changed()

    def _graph_selected(self, change: Mapping[str, Any]) -> None:
        """A click on a node in the page (our own setting of ``graph.selected`` is not one)."""
        with self._lock:
            if not self._syncing_graph:
                self.select(change.get("new") or None)

    def shown_op(self) -> str | None:
        """The operation whose details are shown: the selected one, else the running one, else the failed one."""
        if self.selected in self.rows:
            return self.selected
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

    _shown_log_op = shown_op  # the name the log tail used

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

    def log_lines_of(self, op: str) -> list[str]:
        """The last lines of ``op``'s log as shown (a failed job's traceback left to the error box)."""
        text = self._logs.get(op, [0, ""])[1]
        row = self.rows.get(op)
        if row is not None and row.status == "failed":
            text = without_traceback(text, row.job.get("traceback"))
        lines: list[str] = text.rstrip("\n").splitlines()
        return lines[-self.log_lines:]

    def _render_log(self) -> None:
        op = self.shown_op()
        if op is None or op not in self.rows:
            title, body = "", ""
        else:
            lines = self.log_lines_of(op)
            status = self.rows[op].status
            title = help_text(f"Log of {op} ({status}), last {self.log_lines} lines:" if lines
                              else f"Log of {op} ({status}): nothing written yet.")
            body = f'<pre class="jp-pipelines-log" style="{PRE}">{esc(chr(10).join(lines))}</pre>' if lines else ""
        if self.log_title.value != title:
            self.log_title.value = title
        if self.log.value != body:
            self.log.value = body
            self._dirty = True

    # -- the selected operation ----------------------------------------------------------------------
    def _job(self, op: str) -> dict[str, Any]:
        row = self.rows.get(op)
        return row.job if row is not None else {}

    def _node(self, op: str) -> dict[str, Any]:
        return next((n for n in (self.data.get("graph") or {}).get("nodes") or [] if n.get("id") == op), {})

    def details_header_html(self, op: str) -> str:
        job, node = self._job(op), self._node(op)
        kind = job.get("kind") or node.get("kind") or "operation"
        what = {"input": "Input artifact", "output": "Output artifact"}.get(kind, "Operation")
        extra = []
        if job.get("operation") and job["operation"] != op:
            extra.append(f"operation <code>{esc(job['operation'])}</code>")
        if kind != "operation" and node.get("artifact"):
            extra.append(f"artifact <code>{esc(node['artifact'])}</code>")
        row = self.rows.get(op)
        if row is not None and row.duration_text():
            extra.append(esc(row.duration_text()))
        if int(job.get("attempt") or 0) > 1:
            extra.append(f"attempt {esc(job['attempt'])}")
        chosen = "" if self.selected == op else ' <span style="color:#757575;font-size:11px">(followed ' \
                                                'automatically; click a node or a row to pick another)</span>'
        return (f'<div class="jp-pipelines-details-title" data-op="{esc(op)}" style="margin:4px 0 2px">'
                f'{what} <b><code>{esc(op)}</code></b> {badge(str(job.get("status") or "pending"))} '
                f'<span style="color:#616161;font-size:12px">{" · ".join(extra)}</span>{chosen}</div>'
                + attempts_html(job.get("attempts")))

    def source_html(self, op: str) -> str:
        job, node = self._job(op), self._node(op)
        parts = []
        attributes = node.get("attributes") or {}
        if attributes:
            rows = "".join(f'<tr><td style="padding:1px 8px;text-align:left"><code>{esc(k)}</code></td>'
                           f'<td style="padding:1px 8px;text-align:left"><code>{esc(json.dumps(v, default=str))}</code>'
                           f'</td></tr>'
                           for k, v in attributes.items())
            parts.append(f'<div style="font-weight:600;margin:4px 0 2px">Attributes</div><table class='
                         f'"jp-pipelines-attributes-table" style="font-size:11px;border-collapse:collapse">{rows}</table>')
        operation = (self.data.get("operations") or {}).get(job.get("operation") or node.get("operation") or "")
        if operation and operation.get("source"):
            parts.append(f'<details class="jp-pipelines-source"><summary style="cursor:pointer;font-weight:600">Source'
                         f'</summary><pre style="{PRE}">{esc(operation["source"])}</pre></details>')
        return "".join(parts)

    def figures_html(self, op: str) -> str:
        figures = self._job(op).get("figures") or []
        fetch = getattr(self.api, "figure", None)
        if not figures or not callable(fetch):
            return ""
        images = []
        for figure in figures:
            index = int(figure.get("index") or 0)
            key = (op, index)
            if key not in self._figures:
                try:
                    data = fetch(self.execution.project, self.execution.name, op, index)
                    mime = str(figure.get("mime") or "image/png")
                    self._figures[key] = (f'<img alt="figure {index}" src="data:{esc(mime)};base64,'
                                          f'{base64.b64encode(data).decode()}" style="max-width:100%;max-height:420px"/>'
                                          if mime.startswith("image/") else help_text(f"figure {index}: {mime}"))
                except NotImplementedError:
                    return ""
                except Exception as error:  # noqa: BLE001 - said in place of the figure
                    self._figures[key] = help_text(f"figure {index} could not be read: {error}")
            images.append(f'<div class="jp-pipelines-figure">{self._figures[key]}</div>')
        return '<div style="font-weight:600;margin:4px 0 2px">Figures</div>' + "".join(images)

    def _render_details(self) -> None:
        op = self.shown_op()
        if op is None or op not in self.rows:
            values = ("", "", "", "")
        else:
            outputs = outputs_html(self._job(op).get("outputs"))
            values = (self.details_header_html(op),
                      '<div style="font-weight:600;margin:4px 0 2px">Outputs</div>' + outputs if outputs else "",
                      self.figures_html(op), self.source_html(op))
        for widget, value in zip((self.details_title, self.outputs, self.figures, self.source), values, strict=True):
            if widget.value != value:
                widget.value = value
        for name, row in self.rows.items():
            row.mark(name == op)
        # the graph marks the user's choice only: a click on the node shown automatically must still pin it
        chosen = self.selected if self.selected in self.rows else ""
        if chosen != self.graph.selected:
            self._syncing_graph = True
            try:
                self.graph.selected = chosen
            finally:
                self._syncing_graph = False
            self.graph_box.refresh()
        self._render_log()

    # -- rendering ------------------------------------------------------------------------------------
    def _render(self, data: Mapping[str, Any]) -> None:
        jobs = list(data.get("jobs") or [])
        if [job["op"] for job in jobs] != list(self.rows):
            old = self.rows
            self.rows = {job["op"]: old.get(job["op"]) or OperationRow(job, self.select) for job in jobs}
            self.rows_box.children = tuple(self.rows.values())
        for job in jobs:
            self.rows[job["op"]].update(job)
        graph = data.get("graph") or {"nodes": [{"id": job["op"], "kind": job.get("kind") or "operation",
                                                 "label": job["op"]} for job in jobs], "edges": []}
        if graph != self.graph.graph:
            self.graph.graph = graph
            self.graph_box.refresh()
        self._render_graph()
        self._render_header()
        self._render_progress()
        self._render_errors()
        self._render_details()
        self._changed()

    def _render_graph(self) -> None:
        if self.graph.update_states([row.job for row in self.rows.values()]):
            self.graph_box.refresh()

    def _render_header(self) -> None:
        data = self.data
        status = data.get("status", "")
        tag = data.get("tag") or data.get("name", "")
        extra = ' · <span title="operations can be edited and re-run">debug mode</span>' if data.get("debug") else ""
        params = data.get("params") or {}
        if params:
            shown = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())
            extra += f' · params <code class="jp-pipelines-params">{esc(shown)}</code>'
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

    def elapsed_text(self) -> str:
        data = self.data
        start = data.get("started") or data.get("created")
        if not start:
            return ""
        seconds = seconds_between(start, data.get("ended") if self.final else None)
        return f"{'took' if self.final else 'elapsed'} {format_seconds(seconds)}"

    def _tick(self) -> None:
        text = self.elapsed_text()
        if not text:
            return
        value = f'<span style="margin:0 12px;font-variant-numeric:tabular-nums">{esc(text)}</span>'
        if self.elapsed.value != value:
            self.elapsed.value = value
        for row in self.rows.values():
            if row.status == "running":
                row.tick()
        op = self.shown_op()
        if op in self.rows and self.rows[op].status == "running":  # its running time, in the details too
            value = self.details_header_html(op)
            if self.details_title.value != value:
                self.details_title.value = value

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

    def errors_html(self) -> str:
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
        return "".join(parts)

    def _render_errors(self) -> None:
        value = self.errors_html()
        if self.error.value != value:
            self.error.value = value

    def _fail_stream(self, message: str) -> None:
        with self._lock:
            self.stream_error = message
            self._render_errors()
            self._changed()

    # -- the snapshot saved with the notebook ---------------------------------------------------------
    def _changed(self) -> None:
        """The state changed: update the snapshot now if it has not been for a while (else the ticker will)."""
        self._dirty = True
        if self.final or time.monotonic() - self._flushed >= SNAPSHOT_EVERY:
            self._flush_snapshot()

    def _flush_snapshot(self, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        self._flushed = time.monotonic()
        try:
            (self.owner or self).refresh_snapshot()
        except Exception:  # noqa: BLE001, S110 - a snapshot is a courtesy: never break the live view for it
            pass

    def snapshot_html(self) -> str:
        """The view's state as static HTML (what a saved notebook keeps)."""
        with self._lock:
            rows = "".join(
                f'<tr class="jp-pipelines-snapshot-row" data-op="{esc(op)}"><td style="padding:1px 8px;text-align:left">'
                f'<code>{esc(op)}</code></td><td style="padding:1px 8px;color:#757575">'
                f'{esc(row.job.get("kind") or "")}</td><td style="padding:1px 8px">{badge(row.status)}</td>'
                f'<td style="padding:1px 8px;text-align:left">{esc(row.duration_text())}</td></tr>'
                for op, row in self.rows.items())
            done = sum(row.status in FINAL_JOB for row in self.rows.values())
            op = self.shown_op()
            details = ""
            if op in self.rows:
                lines = self.log_lines_of(op)
                details = (self.details_header_html(op)
                           + (f'<pre class="jp-pipelines-log" style="{PRE}">{esc(chr(10).join(lines))}</pre>'
                              if lines else "")
                           + outputs_html(self._job(op).get("outputs")) + self.source_html(op))
            progress = f"{done} / {len(self.rows)} done · {self.elapsed_text()}".rstrip(" ·")
            return (f"{self.header.value}"
                    f'<div style="color:#616161;font-size:12px;margin:2px 0">{esc(progress)}</div>'
                    f"{graph_svg(self.graph.graph, self.graph.states, self.graph.selected)}"
                    f'<table style="border-collapse:collapse;font-size:12px;margin:4px 0">{rows}</table>'
                    f"{self.errors_html()}{details}"
                    + help_text(f"A snapshot of the execution's view{' while it ran' if not self.final else ''}, "
                                "saved with the notebook (it needs no kernel).")
                    + '<div style="font-size:11px;color:#757575">Live view: '
                    f'{reattach_hint(self.execution.name, self.execution.project)}</div>')

    def snapshot_text(self) -> str:
        data = self.data
        jobs = ", ".join(f"{op}={row.status}" for op, row in self.rows.items())
        return (f"Execution {data.get('project')}/{data.get('name')}: {data.get('status')} ({jobs}). "
                f"Live view: jupyter_pipelines.get({data.get('name')!r}, project={data.get('project')!r})")

    def live_text(self) -> str:
        return self.snapshot_text()

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
