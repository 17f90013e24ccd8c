"""The parts of a status view that show one job: its row (status, duration, a click to select it),
its outputs with their previews, and its attempts."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from ..store.models import seconds_between
from .style import badge, esc, format_seconds, help_text

#: The style of preformatted text (logs, sources, previews).
PRE = ('margin:0;max-height:22em;overflow:auto;font-size:11px;white-space:pre-wrap;'
       'background:var(--jp-layout-color2,#f5f5f5);padding:4px 6px')
#: The order of the statuses a job goes through in one attempt (an event older than what is shown is ignored).
RANK = {"pending": 0, "queued": 1, "running": 2}


def preview_html(preview: Mapping[str, Any] | None) -> str:
    """An output's preview (as the runner describes it) as HTML; empty when there is none."""
    if not isinstance(preview, Mapping):
        return ""
    kind = preview.get("kind")
    parts: list[str] = []
    if kind == "table":
        columns = [str(c) for c in preview.get("columns") or []]
        rows = preview.get("rows") or []
        head = "".join(f'<th style="text-align:left;padding:1px 6px;border-bottom:1px solid #bdbdbd">{esc(c)}</th>'
                       for c in columns)
        body = "".join("<tr>" + "".join(f'<td style="padding:1px 6px">{esc(v)}</td>' for v in row) + "</tr>"
                       for row in rows if isinstance(row, (list, tuple)))
        shape = preview.get("shape")
        if shape:
            parts.append(help_text(" × ".join(str(s) for s in shape) + (" (rows × columns)" if len(shape) == 2 else "")))
        parts.append(f'<div style="overflow:auto;max-height:18em"><table style="border-collapse:collapse;'
                     f'font-size:11px;font-family:var(--jp-code-font-family,monospace)"><thead><tr>{head}</tr>'
                     f'</thead><tbody>{body}</tbody></table></div>')
    elif kind == "array":
        shape = preview.get("shape")
        described = ("shape " + " × ".join(str(s) for s in shape) if shape else "") + \
                    (f" · {preview['dtype']}" if preview.get("dtype") else "")
        if described.strip():
            parts.append(help_text(described.strip(" ·")))
        parts.append(f'<pre style="{PRE}">{esc(preview.get("text"))}</pre>')
    elif kind == "image":
        mime = str(preview.get("mime") or "image/png")
        data = str(preview.get("data") or "")
        if mime.startswith("image/") and data:
            parts.append(f'<img alt="preview" src="data:{esc(mime)};base64,{esc(data)}" '
                         f'style="max-width:100%;max-height:320px"/>')
    elif kind in ("value", "text"):
        parts.append(f'<pre style="{PRE}">{esc(preview.get("text"))}</pre>')
    else:
        shown = {k: v for k, v in preview.items() if k != "truncated"}
        parts.append(f'<pre style="{PRE}">{esc(json.dumps(shown, default=str)[:4000])}</pre>')
    if preview.get("truncated"):
        parts.append(help_text("(preview truncated)"))
    return f'<div class="jp-pipelines-preview" data-kind="{esc(kind)}">{"".join(parts)}</div>'


def outputs_html(outputs: list[Mapping[str, Any]] | None) -> str:
    """The outputs of a job: name, type, size, and each one's preview when it has one."""
    items = []
    for output in outputs or []:
        name = str(output.get("name") or "output")
        facts = [str(output["type"])] if output.get("type") else []
        if isinstance(output.get("size"), int):
            facts.append(_size(output["size"]))
        items.append(f'<div class="jp-pipelines-output jp-pipelines-output-{esc(name)}" style="margin:2px 0 6px">'
                     f'<code>{esc(name)}</code> <span style="color:#757575;font-size:11px">{esc(" · ".join(facts))}'
                     f'</span>{preview_html(output.get("preview"))}</div>')
    return "".join(items)


def attempts_html(attempts: list[Mapping[str, Any]] | None) -> str:
    if not attempts:
        return ""
    cell = 'style="text-align:left;padding:1px 8px"'
    rows = "".join(
        f"<tr><td {cell}>{esc(a.get('attempt'))}</td><td {cell}>{badge(str(a.get('status') or ''))}</td>"
        f"<td {cell}>{esc(a.get('started') or '')}</td>"
        f"<td {cell}>{esc(format_seconds(a.get('duration')) if a.get('duration') is not None else '')}</td>"
        f"<td {cell}>{esc('' if a.get('exit_code') is None else a.get('exit_code'))}</td>"
        f"<td {cell}>{esc(a.get('error') or '')}</td></tr>" for a in attempts)
    head = "".join(f"<th {cell}>{h}</th>" for h in ("attempt", "status", "started", "took", "exit code", "error"))
    return (f'<table class="jp-pipelines-attempts" style="border-collapse:collapse;font-size:11px;margin:2px 0 4px">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


class OperationRow(w.HBox):
    """One job: name (a click selects it), coloured status, duration. ``row.status`` is the status text."""

    def __init__(self, job: Mapping[str, Any], on_select: Any = None) -> None:
        super().__init__(layout=w.Layout(align_items="center", margin="1px 0"))
        self.op: str = job["op"]
        self.status: str = ""
        self.job: dict[str, Any] = {}
        kind = job.get("kind")
        details = [kind] if kind in ("input", "output") else []
        if job.get("operation") and job["operation"] != self.op:
            details.append(str(job["operation"]))
        self.select_button = w.Button(description=self.op, tooltip=f"Show {self.op}: its log, outputs and source",
                                      layout=w.Layout(width="200px", height="24px"))
        self.select_button.add_class("jp-pipelines-op-select")
        if on_select is not None:
            self.select_button.on_click(lambda _: on_select(self.op))
        note = f'<span style="color:#757575">({esc(": ".join(details))})</span>' if details else ""
        self.name_label = w.HTML(note, layout=w.Layout(width="110px", overflow="hidden"))
        self.badge = w.HTML(layout=w.Layout(width="100px"))
        self.duration = w.HTML(layout=w.Layout(width="110px"))
        self.children = (self.select_button, self.name_label, self.badge, self.duration)
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

    def duration_text(self) -> str:
        started, ended = self.job.get("started"), self.job.get("ended")
        text = format_seconds(seconds_between(started, ended)) if started else ""
        return text + " …" if self.status == "running" and text else text

    def tick(self) -> None:
        value = f'<span style="font-variant-numeric:tabular-nums">{esc(self.duration_text())}</span>'
        if self.duration.value != value:
            self.duration.value = value

    def mark(self, selected: bool) -> None:
        if selected:
            self.add_class("jp-pipelines-op-selected")
        else:
            self.remove_class("jp-pipelines-op-selected")

    def newer(self, job: Mapping[str, Any]) -> bool:
        """Whether ``job`` (from an event, possibly replayed) is not older than what is shown."""
        attempt, current = int(job.get("attempt") or 0), int(self.job.get("attempt") or 0)
        if attempt != current:
            return attempt > current
        return RANK.get(job["status"], 3) >= RANK.get(self.status, 3)
