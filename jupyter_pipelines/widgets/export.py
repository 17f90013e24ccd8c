"""The export dialog: ``pipeline.export()`` with no path.

Per Input artifact: bundle it into the zip, or let ``main.py`` fetch it at run time with
credentials read from environment variables; embedding credentials in the zip only through an
explicit, clearly labelled checkbox. One click on Run builds the zip and, when a Jupyter server
is reachable, starts the browser's download of it (``POST exports`` → ``GET exports/{id}``): a
one-shot script is put into the dialog's ``Output`` widget — the way ipywidgets routes output
from a button's callback to the page — and taken out again at once, so a saved notebook never
holds it; the link stays too. With no server (embedded mode) the zip is written next to the
notebook and linked. Passwords are write-only, as in the execute dialog.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import quote, urlparse

import ipywidgets as w

from ..client import Api
from ..errors import PipelinesError
from ..pipeline import Pipeline
from .artifacts import artifact_record
from .display import NEEDS_KERNEL, Shown, detached_note
from .forms import FieldsForm, credential_fields
from .style import FIELD_WIDTH, LABEL_WIDTH, error_box, esc, help_text, info_box

BUNDLE = "bundle"
FETCH = "fetch"
IN_PROCESS = frozenset({"memory"})  # data that lives in the engine's process: it can only be bundled
EMBED_LABEL = "Embed these credentials in the zip (anyone with the file can read them)"


def _message(error: BaseException) -> str:
    return str(error) if isinstance(error, PipelinesError) else f"{type(error).__name__}: {error}"


class InputChoice:
    """How one Input artifact gets into the exported run."""

    def __init__(self, artifact: str, record: dict[str, Any] | None, schema: dict[str, Any] | None) -> None:
        self.artifact = artifact
        self.backend = (record or {}).get("backend") or "unknown"
        fields = [f for f in credential_fields(schema or {}) if f.get("type", "str") in ("str", "dict")]
        for field in fields:
            field["required"] = False
        config = dict((record or {}).get("config") or {})
        self.form = FieldsForm(fields, {k: v for k, v in config.items() if k in {f["name"] for f in fields}},
                               owner=f"credentials of {artifact}: ")
        self.has_credentials = bool(fields)
        bundle_only = self.backend in IN_PROCESS
        options = [("Bundle it into the zip", BUNDLE)]
        if not bundle_only:
            options.append(("Fetch it at run time, credentials from environment variables", FETCH))
        self.mode = w.RadioButtons(options=options, value=BUNDLE if bundle_only or not self.has_credentials
                                   else FETCH, layout=w.Layout(width="auto"))
        self.embed = w.Checkbox(value=False, description=EMBED_LABEL, indent=False,
                                layout=w.Layout(width="auto"),
                                tooltip="The values are written in plain text into pipeline.json")
        self.note = w.HTML()
        self.fields = w.VBox([self.form.box])
        title = w.HTML(f'<div style="font-weight:600;margin:6px 0 2px">{esc(artifact)} '
                       f'<span style="font-weight:400">({esc(self.backend)})</span></div>')
        self.box = w.VBox([title, self.mode, self.note, self.embed, self.fields],
                          layout=w.Layout(margin="0 0 8px 0"))
        self.mode.observe(lambda _: self._update(), "value")
        self.embed.observe(lambda _: self._update(), "value")
        self._update()

    def _update(self) -> None:
        fetch = self.mode.value == FETCH
        self.embed.layout.display = "" if fetch and self.has_credentials else "none"
        if fetch:
            show_fields = self.embed.value
            self.note.value = help_text("main.py reads it where it is stored; the credentials it needs are read "
                                        "from environment variables (the zip's README names them).")
            if self.embed.value:
                self.note.value += ('<div style="color:#b71c1c;font-size:11px;font-weight:600">⚠ The values below '
                                    'are written in plain text into the zip.</div>')
        else:
            show_fields = self.has_credentials and self.backend not in IN_PROCESS
            self.note.value = help_text(
                "Its data is copied into the zip (artifacts/)." + (" Credentials to read it now, if its stored "
                                                                    "record lacks them (used once, not written to "
                                                                    "the zip):" if show_fields else ""))
        self.fields.layout.display = "" if show_fields else "none"

    def options(self) -> tuple[dict[str, Any], list[str]]:
        """``{"bundle": bool, "credentials": {...}, "embed_credentials": {...}}`` and the problems."""
        bundle = self.mode.value == BUNDLE
        result: dict[str, Any] = {"bundle": bundle, "credentials": {}, "embed_credentials": {}}
        if bundle or self.embed.value:
            config, problems = self.form.values()
            if problems:
                return result, problems
            result["credentials" if bundle else "embed_credentials"] = config
        return result, []


class ExportDialog(Shown):
    """The export dialog widget; ``show()`` displays it and returns the dialog."""

    def __init__(self, pipeline: Pipeline, api: Api, folder: str | None = None) -> None:
        self.pipeline = pipeline
        self.api = api
        self.folder = folder
        self.result: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self.message = w.HTML()
        self.link = w.HTML()
        try:
            schemas = {s["name"]: s for s in api.backends().get("storage", [])}
        except Exception as error:  # noqa: BLE001
            schemas = {}
            self.message.value = error_box(f"Cannot reach the pipelines API: {_message(error)}")
        self.inputs: dict[str, InputChoice] = {}
        for node in pipeline.nodes.values():
            if node.kind == "input" and node.artifact and node.artifact not in self.inputs:
                record = self._artifact_record(node.artifact)
                self.inputs[node.artifact] = InputChoice(node.artifact, record,
                                                         schemas.get((record or {}).get("backend")))
        self.filename = w.Text(value=f"{pipeline.name}.zip", description="File name",
                               style={"description_width": LABEL_WIDTH}, layout=w.Layout(width=FIELD_WIDTH))
        if self.server:
            self.filename.layout.display = "none"
        self.export_button = w.Button(description="Run", button_style="primary", icon="download",
                                      tooltip="Build the zip and download it: unzip it and run python main.py")
        self.export_button.add_class("jp-pipelines-export-run")
        self.export_button.add_class(NEEDS_KERNEL)
        self.export_button.on_click(self.export)
        self.downloader = w.Output(layout=w.Layout(height="0px", overflow="hidden"))
        self.download_script = ""  # the last one sent to the page
        self.detached = detached_note("<b>This dialog is no longer live</b>: the kernel that showed it restarted or "
                                      "stopped. Run its cell again to export the pipeline.")
        title = w.HTML(f'<div style="font-size:14px;margin-bottom:4px"><b>Export</b> '
                       f'<code>{esc(pipeline.name)}</code> <span style="color:#757575">· a zip that runs with '
                       f'<code>python main.py</code></span></div>')
        parts: list[w.Widget] = [self.detached, title]
        if self.inputs:
            parts.append(w.HTML(help_text("Input artifacts: choose how each reaches the exported run.")))
            parts += [choice.box for choice in self.inputs.values()]
        else:
            parts.append(w.HTML(help_text("This pipeline reads no input artifact.")))
        parts += [self.filename, w.HBox([self.export_button], layout=w.Layout(margin="6px 0 0")),
                  self.message, self.link, self.downloader]
        self.widget = w.VBox(parts, layout=w.Layout(border="1px solid var(--jp-border-color2,#e0e0e0)",
                                                    padding="6px 10px", max_width="760px"))
        self.widget.add_class("jp-pipelines-export-dialog")

    @property
    def server(self) -> bool:
        return getattr(self.api, "mode", "") == "server"

    def _artifact_record(self, name: str) -> dict[str, Any] | None:
        return artifact_record(self.api, self.pipeline.project, name)

    def body(self) -> tuple[dict[str, Any], list[str]]:
        body: dict[str, Any] = {"pipeline": self.pipeline.to_dict(), "bundle": [], "credentials": {},
                                "embed_credentials": {}}
        problems: list[str] = []
        for artifact, choice in self.inputs.items():
            options, found = choice.options()
            problems += found
            if options["bundle"]:
                body["bundle"].append(artifact)
            for key in ("credentials", "embed_credentials"):
                if options[key]:
                    body[key][artifact] = options[key]
        return body, problems

    def clear_secrets(self) -> None:
        for choice in self.inputs.values():
            choice.form.clear_secrets()

    def export(self, _: Any = None) -> dict[str, Any] | None:
        """Build the zip and show the download link; returns the API's answer (or None)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            body, problems = self.body()
            if problems:
                self.message.value = error_box("Not exported: fix the marked fields.", "\n".join(problems))
                return None
            self.export_button.disabled = True
            self.link.value = ""
            self.message.value = info_box("Building the zip…")
            try:
                if self.server:
                    result = dict(self.api.export(body))
                    href = self.download_url(result["url"])
                    self.start_download(result)
                    self.link.value = info_box(
                        f'<a href="{esc(href)}" download="{esc(result.get("filename") or "")}" target="_blank" '
                        f'style="font-weight:600;text-decoration:underline">⬇ Download {esc(result.get("filename"))}'
                        f'</a> <span style="color:#616161">(served by the Jupyter server)</span>')
                else:
                    filename = self.filename.value.strip() or f"{self.pipeline.name}.zip"
                    folder = self.folder or os.getcwd()
                    path = os.path.join(folder, filename)
                    result = self._write(body, path)
                    path = result["path"]
                    relative = os.path.relpath(path, os.getcwd())
                    href = "/".join(quote(part) for part in relative.split(os.sep))
                    self.link.value = info_box(
                        f'<a href="{esc(href)}" download="{esc(os.path.basename(path))}" target="_blank" '
                        f'style="font-weight:600;text-decoration:underline">⬇ {esc(relative)}</a>'
                        f'<div style="color:#616161;font-size:11px">written to {esc(path)}</div>')
            except Exception as error:  # noqa: BLE001 - shown in the widget
                self.message.value = error_box(f"Export failed: {_message(error)}")
                return None
            finally:
                body.clear()
                self.export_button.disabled = False
            self.clear_secrets()
            embedded = sorted(a for a, c in self.inputs.items() if c.mode.value == "fetch" and c.embed.value)
            self.message.value = (error_box("This zip contains credentials in plain text for: " + ", ".join(embedded)
                                            + ". Share it only as you would share them.") if embedded else "")
            self.result = result
            return result
        finally:
            self._lock.release()

    def start_download(self, result: dict[str, Any]) -> None:
        """Have the page download the built zip (once): a script through the ``Output`` widget, removed at once."""
        from IPython.display import Javascript  # IPython only inside a kernel

        url = str(result["url"])
        fallback = self.download_url(url)
        once = f"jp-pipelines-export-{result.get('id') or url}"
        self.download_script = (
            "(function () {\n"
            f"  var once = {json.dumps(once)};\n"
            "  try { if (window.sessionStorage.getItem(once)) { return; } window.sessionStorage.setItem(once, '1'); }"
            " catch (e) {}\n"
            f"  var url = {json.dumps(url)}, href = {json.dumps(fallback)};\n"
            "  if (!/^(https?:)?\\//.test(url)) {\n"  # server-relative: against the page's base URL
            "    try {\n"
            "      var config = document.getElementById('jupyter-config-data');\n"
            "      var base = config ? JSON.parse(config.textContent).baseUrl : null;\n"
            "      if (base) { href = base.replace(/\\/?$/, '/') + url.replace(/^\\//, ''); }\n"
            "    } catch (e) {}\n"
            "  }\n"
            "  var link = document.createElement('a');\n"
            f"  link.href = href; link.download = {json.dumps(result.get('filename') or '')};\n"
            "  link.style.display = 'none'; document.body.appendChild(link); link.click(); link.remove();\n"
            "})();")
        self.downloader.append_display_data(Javascript(self.download_script))
        self.downloader.outputs = ()  # rendered (run) already; a saved widget state must not run it again

    def _write(self, body: dict[str, Any], path: str) -> dict[str, Any]:
        written = self.api.export_to(body, path)
        return {"path": written, "filename": os.path.basename(written)}

    def download_url(self, url: str) -> str:
        """An absolute path on the server (``/<base path>/pipelines/api/exports/<id>``).

        Relative links in notebook output resolve against the notebook's page, so the server's
        base URL path is prefixed.
        """
        if url.startswith(("http://", "https://", "/")):
            return url
        base_path = urlparse(getattr(self.api, "base_url", "/")).path or "/"
        return base_path.rstrip("/") + "/" + url.lstrip("/")
