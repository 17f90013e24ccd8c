"""Colours, small HTML fragments and layout constants shared by the widgets."""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

STATUS_COLORS: dict[str, tuple[str, str]] = {  # status -> (background, text)
    "pending": ("#9e9e9e", "#ffffff"),
    "queued": ("#81d4fa", "#01334d"),
    "running": ("#1e88e5", "#ffffff"),
    "success": ("#2e7d32", "#ffffff"),
    "failed": ("#c62828", "#ffffff"),
    "canceled": ("#ef6c00", "#ffffff"),
    "skipped": ("#e0e0e0", "#616161"),
}
BAR_STYLES = {"success": "success", "failed": "danger", "canceled": "warning", "running": "info", "pending": ""}
LABEL_WIDTH = "170px"
FIELD_WIDTH = "520px"


def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def badge(status: str) -> str:
    """A coloured pill for a job or execution status."""
    background, color = STATUS_COLORS.get(status, ("#bdbdbd", "#000000"))
    return (f'<span class="jp-pipelines-status" data-status="{esc(status)}" style="display:inline-block;'
            f'min-width:64px;text-align:center;padding:0 8px;border-radius:9px;font-size:11px;line-height:18px;'
            f'background:{background};color:{color}">{esc(status)}</span>')


def help_text(text: str) -> str:
    return f'<div style="color:var(--jp-ui-font-color2,#757575);font-size:11px;line-height:1.3">{esc(text)}</div>'


def error_box(message: str, details: str = "") -> str:
    """A red box with a message and, optionally, a traceback."""
    body = f"<b>{esc(message)}</b>"
    if details:
        body += (f'<pre style="margin:6px 0 0;max-height:320px;overflow:auto;white-space:pre-wrap;'
                 f'font-size:11px">{esc(details)}</pre>')
    return (f'<div class="jp-pipelines-error" style="border-left:4px solid #c62828;background:#fdecea;'
            f'color:#611a15;padding:6px 10px;margin:4px 0">{body}</div>')


def info_box(message_html: str) -> str:
    return (f'<div style="border-left:4px solid #1e88e5;background:#e3f2fd;color:#0d3c61;'
            f'padding:6px 10px;margin:4px 0">{message_html}</div>')


def field_error(message: str) -> str:
    return f'<div style="color:#c62828;font-size:11px" role="alert">⚠ {esc(message)}</div>'


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def indented(widget: w.Widget) -> w.Widget:
    """Put ``widget`` under a field's input, aligned with it."""
    widget.layout.margin = f"0 0 2px {LABEL_WIDTH}"
    widget.layout.padding = "0 0 0 6px"
    return widget


def section(title: str) -> w.HTML:
    return w.HTML(f'<div style="font-weight:600;margin:6px 0 2px">{esc(title)}</div>')
