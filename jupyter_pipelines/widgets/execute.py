"""The execute dialog: ``pipeline.execute()``.

The pipeline's graph above the tabs (a click on an operation marks its attributes); tabs **Basic**
(name with a live "it will be named …" hint, debug mode, every operation's attributes as typed
fields pre-filled with the pipeline's values or the saved ``params``: the changed ones are sent as
``params``), **Credentials** (only
when an Input artifact's storage backend has secret fields), **Compute** and **Storage** (backend
chooser + the backend's fields, drawn from ``GET backends``); below them "Save these settings for
future executions" and Run. After Run the dialog's own container shows the live
:class:`~jupyter_pipelines.widgets.status.StatusView` of the new execution.

Secrets: password fields are write-only (see :mod:`.forms`): what is typed is moved into kernel
memory as soon as it arrives and the widget's synced ``value`` is set back to ``""``, so saving
the notebook (widget state included) never writes it. After a successful Run the values held in
memory are dropped too; after a refused or failed Run they are kept (in memory only) so the user
does not have to type them again.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as w

from ..client import Api
from ..errors import BadRequest, PipelinesError
from ..names import first_free, normalize
from ..pipeline import Pipeline
from ..session import submit
from .artifacts import artifact_record
from .attributes import AttributesForm
from .display import NEEDS_KERNEL, Shown, detached_note
from .forms import BackendForm, CredentialsGroup
from .graph import GraphBox, PipelineGraph, graph_svg, pipeline_graph, pipeline_title
from .status import StatusView
from .style import FIELD_WIDTH, LABEL_WIDTH, error_box, esc, field_error, help_text, indented, info_box

DEBUG_HELP = ("Debug mode: operations of this execution can be edited afterwards and the execution re-run "
              "with the edited versions (stored outputs upstream of the edit are reused).")
TAKEN_TTL = 3.0


def _message(error: BaseException) -> str:
    return str(error) if isinstance(error, PipelinesError) else f"{type(error).__name__}: {error}"


class ExecuteDialog(Shown):
    """The dialog widget; ``show()`` displays it and returns the dialog (``dialog.run_button.click()``)."""

    def __init__(self, pipeline: Pipeline, api: Api) -> None:
        self.pipeline = pipeline
        self.api = api
        self.project: str = pipeline.project
        self.execution: Any = None
        self.view: StatusView | None = None
        self._lock = threading.Lock()
        self._taken: tuple[float, set[str]] = (0.0, set())
        self.message = w.HTML()
        self.widget = w.VBox(layout=w.Layout(border="1px solid var(--jp-border-color2,#e0e0e0)",
                                             padding="6px 10px", max_width="760px"))
        self.widget.add_class("jp-pipelines-execute-dialog")
        try:
            self.backends: dict[str, Any] = api.backends()
        except Exception as error:  # noqa: BLE001 - shown in the widget, never as a traceback
            self.backends = {}
            self.tabs: w.Tab | None = None
            self.run_button = w.Button(description="Run", button_style="primary", icon="play", disabled=True)
            self.message.value = error_box(f"Cannot reach the pipelines API: {_message(error)}")
            self.widget.children = (self._title(), self.message)
            return
        try:
            self.settings: dict[str, Any] = dict(api.settings(self.project, pipeline.name) or {})
        except Exception as error:  # noqa: BLE001
            self.settings = {}
            self.message.value = error_box(f"Saved settings could not be read: {_message(error)}")
        self._build()

    # -- building -----------------------------------------------------------------------------------
    def _title(self) -> w.HTML:
        operations = sum(node.kind == "operation" for node in self.pipeline.nodes.values())
        return w.HTML(f'<div style="font-size:14px;margin-bottom:4px"><b>Execute</b> '
                      f'<code>{esc(self.pipeline.name)}</code> <span style="color:#757575">· project '
                      f'{esc(self.project)} · {operations} operation{"s" if operations != 1 else ""}</span></div>')

    def _build(self) -> None:
        settings = self.settings
        defaults = self.backends.get("defaults", {})
        # Basic
        self.name = w.Text(value=f"{self.pipeline.name}_execution", description="Execution name",
                           placeholder=f"blank means {self.pipeline.name}_execution",
                           style={"description_width": LABEL_WIDTH}, layout=w.Layout(width=FIELD_WIDTH),
                           tooltip="Unique within the project; it also names the tag in the version history")
        self.name_hint = indented(w.HTML())
        self.debug = w.Checkbox(value=bool(settings.get("debug", False)), description="Debug mode", indent=True,
                                style={"description_width": LABEL_WIDTH}, tooltip=DEBUG_HELP)
        self.debug_help = indented(w.HTML(help_text(DEBUG_HELP)))
        self.attributes = AttributesForm(self.pipeline, settings.get("params"))
        basic = w.VBox([self.name, self.name_hint, self.debug, self.debug_help, self.attributes.box])
        self.name.observe(lambda _: self._update_hint(), "value")
        self._update_hint()
        # Credentials
        self.credentials: dict[str, CredentialsGroup] = {}
        self.credentials_note = w.HTML()
        storage_schemas = {s["name"]: s for s in self.backends.get("storage", [])}
        notes = []
        for artifact in self.input_artifacts():
            record = self._artifact_record(artifact)
            if record is None:
                notes.append(artifact)
                continue
            schema = storage_schemas.get(record.get("backend"))
            if schema and any(f.get("secret") for f in schema.get("fields", [])):
                self.credentials[artifact] = CredentialsGroup(artifact, record["backend"], schema, record.get("config"))
        if notes:
            self.credentials_note.value = help_text(
                "Not found as registered artifacts (the server will say more on Run): " + ", ".join(notes))
        # Compute / Storage
        compute = settings.get("compute") or {}
        storage = settings.get("storage") or {}
        self.compute = BackendForm("compute", self.backends.get("compute", []),
                                   compute.get("backend") or defaults.get("compute"), compute.get("config"))
        self.storage = BackendForm("storage", self.backends.get("storage", []),
                                   storage.get("backend") or defaults.get("storage"), storage.get("config"))
        pages: list[tuple[str, w.Widget]] = [("Basic", basic)]
        if self.credentials:
            intro = w.HTML(help_text("Each input artifact is read with its own account. Secrets are kept in "
                                     "memory only: never saved, logged or written to the notebook."))
            pages.append(("Credentials", w.VBox([intro, *(g.box for g in self.credentials.values()),
                                                 self.credentials_note])))
        pages += [("Compute", self.compute.box), ("Storage", self.storage.box)]
        self.tabs = w.Tab(children=[page for _, page in pages], titles=[title for title, _ in pages])
        self.tabs.layout.min_height = "200px"
        self.tabs.add_class("jp-pipelines-tabs")
        self._pages = [title for title, _ in pages]
        self.save = w.Checkbox(value=False, description="Save these settings for future executions", indent=False,
                               tooltip="Keeps the non-secret options for this pipeline; they pre-fill this "
                                       "dialog next time. Secrets are never saved.")
        self.run_button = w.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="Submit the execution")
        self.run_button.add_class("jp-pipelines-run")
        self.run_button.add_class(NEEDS_KERNEL)
        self.run_button.on_click(self.run)
        footer = w.HBox([self.save, self.run_button],
                        layout=w.Layout(justify_content="space-between", align_items="center", margin="6px 0 0"))
        self.graph = PipelineGraph.of(self.pipeline, height=200)
        self.graph.observe(self._graph_selected, "selected")
        self.graph_box = GraphBox(self.graph)
        self.detached = detached_note("<b>This dialog is no longer live</b>: the kernel that showed it restarted or "
                                      "stopped. Run its cell again to execute the pipeline.")
        self.widget.children = (self.detached, self._title(), self.graph_box.box, self.tabs, footer, self.message)

    def _graph_selected(self, change: Any) -> None:
        """A click on a node of the graph: its attributes, in the Basic tab."""
        node = change.get("new") or ""
        if node in self.attributes.groups:
            self._select_tab("Basic")
        self.attributes.highlight(node)

    def input_artifacts(self) -> list[str]:
        seen: dict[str, None] = {}
        for node in self.pipeline.nodes.values():
            if node.kind == "input" and node.artifact:
                seen.setdefault(node.artifact, None)
        return list(seen)

    def _artifact_record(self, name: str) -> dict[str, Any] | None:
        return artifact_record(self.api, self.project, name)

    # -- the name hint --------------------------------------------------------------------------------
    def taken_names(self, fresh: bool = False) -> set[str]:
        stamp, names = self._taken
        if fresh or time.monotonic() - stamp > TAKEN_TTL:
            try:
                names = {e["name"] for e in self.api.executions(project=self.project)}
                names |= {t["name"] for t in self.api.tags(self.project)}
            except Exception:  # noqa: BLE001 - the hint is a courtesy
                names = set()
            self._taken = (time.monotonic(), names)
        return names

    def final_name(self) -> str:
        """The name the execution would get now (raises BadRequest for a name that is refused)."""
        return first_free(normalize(self.name.value, self.pipeline.name), self.taken_names())

    def _update_hint(self) -> None:
        typed = self.name.value
        try:
            base = normalize(typed, self.pipeline.name)
        except BadRequest as error:
            self.name_hint.value = field_error(str(error))
            return
        final = first_free(base, self.taken_names())
        if final != base:
            text = f"“{base}” is taken: this execution will be named <b>{esc(final)}</b>."
        elif not typed.strip():
            text = f"Blank: it will be named <b>{esc(final)}</b>."
        elif final != typed:
            text = f"It will be named <b>{esc(final)}</b> (only letters, digits, _ and - are kept)."
        else:
            text = "✓ available"
        self.name_hint.value = f'<div class="jp-pipelines-name-hint" style="font-size:11px;color:#616161">{text}</div>'

    # -- running --------------------------------------------------------------------------------------
    def _select_tab(self, title: str) -> None:
        if self.tabs is not None and title in self._pages:
            self.tabs.selected_index = self._pages.index(title)

    def request(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The submission's options, and the problems (tab, message) found in the form."""
        problems: list[tuple[str, str]] = []
        try:
            normalize(self.name.value, self.pipeline.name)
        except BadRequest as error:
            problems.append(("Basic", str(error)))
        credentials: dict[str, dict[str, Any]] = {}
        for artifact, group in self.credentials.items():
            config, found = group.values()
            problems += [("Credentials", p) for p in found]
            if config:
                credentials[artifact] = config
        compute, found = self.compute.values()
        problems += [("Compute", p) for p in found]
        storage, found = self.storage.values()
        problems += [("Storage", p) for p in found]
        params, found = self.attributes.params()
        problems += [("Basic", p) for p in found]
        options = {"name": self.name.value, "debug": bool(self.debug.value), "compute": compute,
                   "storage": storage, "credentials": credentials, "params": params, "save": bool(self.save.value)}
        return options, problems

    def clear_secrets(self) -> None:
        for group in self.credentials.values():
            group.clear_secrets()
        self.compute.clear_secrets()
        self.storage.clear_secrets()

    def run(self, _: Any = None) -> Any:
        """Validate, submit, and replace the dialog by the live status view; returns the Execution."""
        if self.tabs is None or not self._lock.acquire(blocking=False):
            return None
        try:
            options, problems = self.request()
            if problems:
                self._select_tab(problems[0][0])
                listing = "".join(f"<li>{esc(tab)} · {esc(text)}</li>" for tab, text in problems)
                self.message.value = error_box("Not run: fix the marked fields.").replace(
                    "</b>", f"</b><ul style='margin:4px 0 0'>{listing}</ul>", 1)
                return None
            self.message.value = info_box("Submitting…")
            self.run_button.disabled = True
            name = options.pop("name")
            try:
                execution = submit(self.api, self.pipeline, name, **options)
            except Exception as error:  # noqa: BLE001 - server errors go in the widget
                self.message.value = error_box(f"The server refused the execution: {_message(error)}"
                                               if isinstance(error, PipelinesError)
                                               else f"Could not submit the execution: {_message(error)}")
                return None
            finally:
                options.clear()
                self.run_button.disabled = False
            self.clear_secrets()
            self.execution = execution
            self.view = StatusView(execution, owner=self)
            self.view.start()
            self.widget.children = (self.view.widget,)
            self.widget.layout.border = ""
            self.widget.layout.padding = "0"
            self.refresh_snapshot()
            return execution
        finally:
            self._lock.release()

    # -- the snapshot saved with the notebook ---------------------------------------------------------
    def snapshot_html(self) -> str:
        """The live view's once run; before, the pipeline's graph and what the dialog was for."""
        if self.view is not None:
            return self.view.snapshot_html()
        return (pipeline_title(self.pipeline) + graph_svg(pipeline_graph(self.pipeline))
                + help_text("The execute dialog of this pipeline was here (not run). It needs its kernel: run its "
                            "cell again to use it."))

    def snapshot_text(self) -> str:
        if self.view is not None:
            return self.view.snapshot_text()
        return f"Execute dialog of {self.pipeline!r} (not run): run its cell again to use it."
