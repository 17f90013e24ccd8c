"""The notebook widgets without a frontend: the execute dialog (forms drawn from backend schemas,
validation, saved settings, credentials), the live status view (rows, progress, log tail,
errors, Cancel) and the export dialog — and secrets never in widget state, also in a saved .ipynb."""
from __future__ import annotations

import base64
import json
import os
import sys
import zipfile
from typing import Any

import ipywidgets as w
import pytest
from polling import WAIT, wait_until

from jupyter_pipelines import Input, Output, Pipeline, client, operation
from jupyter_pipelines.client import EmbeddedApi
from jupyter_pipelines.engine import ExecutionManager
from jupyter_pipelines.runner import serialize
from jupyter_pipelines.session import get
from jupyter_pipelines.store import ArtifactRecord
from jupyter_pipelines.store.models import now
from jupyter_pipelines.widgets import ExecuteDialog, ExportDialog, StatusView, display
from jupyter_pipelines.widgets.forms import FieldInput, Invalid
from jupyter_pipelines.widgets.graph import PipelineDisplay, PipelineGraph, graph_svg
from jupyter_pipelines.widgets.status import TRACEBACK_SHOWN

pytestmark = pytest.mark.timeout(180)

SECRET = "S3CRET-7f3a9c-never-saved"


# -- operations (top level: captured as source) ------------------------------------------------------------

@operation
def numbers(n: int = 4):
    print("hello from numbers")
    return list(range(n))


@operation
def double(data):
    return [2 * x for x in data]


@operation
def explode(data):
    def inner(value):
        raise ValueError(f"boom at {value}")
    return inner(len(data))


@operation
def after(data):
    return data


@operation
def hold(path: str = ""):
    import os
    import time
    print("holding until", path)
    deadline = time.time() + 120
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    return 1


@operation
def count(data):
    return len(data)


def chain(name: str = "chain") -> Pipeline:
    with Pipeline(name) as p:
        double(numbers(n=3))
    return p


def all_widget_state() -> str:
    """Everything the widget manager would save with the notebook, as text."""
    state = w.Widget.get_manager_state(drop_defaults=False)
    from ipywidgets.widgets.widget import _instances

    every = [widget.get_state() for widget in list(_instances.values())]
    return json.dumps(state, default=str) + json.dumps(every, default=str)


def register_file_artifact(engine: ExecutionManager, tmp_path, name: str = "raw-data", value: Any = None) -> str:
    """An artifact on the ``fsspec`` backend (a local folder): its credentials are ``secret_options``."""
    folder = tmp_path / "artifacts"
    folder.mkdir(exist_ok=True)
    path = str(folder / f"{name}.pkl")
    with open(path, "wb") as file:
        serialize.dump([1, 2, 3] if value is None else value, file)
    engine.store.save_artifact(ArtifactRecord(
        project="default", name=name, backend="fsspec", config={"url": f"file://{folder}", "options": {}},
        path=path, type="list", size=os.path.getsize(path), created=now()))
    return path


# -- the execute dialog: structure and forms -----------------------------------------------------------------

def test_dialog_has_tabs_name_debug_save_and_run(engine) -> None:
    dialog = ExecuteDialog(chain("demo"), client.connect())
    assert isinstance(dialog.tabs, w.Tab)
    assert list(dialog.tabs.titles) == ["Basic", "Compute", "Storage"]  # no input needs credentials
    assert dialog.name.value == "demo_execution"
    assert "available" in dialog.name_hint.value
    assert dialog.debug.value is False and "re-run" in dialog.debug_help.value
    assert dialog.save.description == "Save these settings for future executions"
    assert dialog.run_button.description == "Run" and dialog.run_button.button_style == "primary"
    assert dialog.compute.backend == "local" and dialog.storage.backend == "local"
    assert dialog.show() is dialog  # displays and returns the dialog


def test_an_unavailable_backend_says_why_and_how_to_install_it_and_is_not_run(engine, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask's package were not installed
    dialog = ExecuteDialog(chain(), client.connect())
    labels = dict((value, label) for label, value in dialog.compute.chooser.options)
    assert labels["dask"].endswith("— unavailable") and not labels["local"].endswith("unavailable")
    dialog.compute.chooser.value = "dask"
    assert "needs distributed, which is not installed" in dialog.compute.about.value
    assert "pip install &#x27;jupyter_pipelines[dask]&#x27;" in dialog.compute.about.value
    assert dialog.compute.fields_box.children == ()
    assert dialog.run() is None and "needs distributed" in dialog.message.value
    assert engine.executions() == []


def test_storage_form_is_drawn_from_the_s3_schema(engine) -> None:
    dialog = ExecuteDialog(chain(), client.connect())
    dialog.storage.chooser.value = "s3"
    form = dialog.storage.form
    schema = next(s for s in engine.backends()["storage"] if s["name"] == "s3")
    assert list(form.inputs) == [f["name"] for f in schema["fields"]]
    assert list(form.inputs)[:4] == ["bucket", "prefix", "endpoint_url", "region"]
    assert {"key", "secret"} <= set(form.inputs)
    for field in schema["fields"]:  # secret -> Password, the others -> Text
        assert isinstance(form[field["name"]].widget, w.Password) == bool(field["secret"]), field
        assert isinstance(form[field["name"]].widget, w.Text)
    assert isinstance(form["secret"].widget, w.Password)
    assert form["bucket"].widget.description == "bucket *" and form["bucket"].required
    assert form["prefix"].widget.value == "pipelines"  # the default
    assert form["prefix"].widget.tooltip == "Key prefix inside the bucket"
    assert "Key prefix inside the bucket" in form["prefix"].help.value
    assert dialog.storage.fields_box.children == (form.box,)
    # switching back and forth keeps what was typed
    form["bucket"].widget.value = "my-bucket"
    dialog.storage.chooser.value = "memory"
    assert list(dialog.storage.form.inputs) == ["root"]
    dialog.storage.chooser.value = "s3"
    assert dialog.storage["bucket"].widget.value == "my-bucket"
    # compute: the local backend's int and str fields
    assert isinstance(dialog.compute["workers"].widget, w.IntText)
    assert dialog.compute["workers"].widget.value == 0


def test_field_widgets_follow_types_choices_and_validation() -> None:
    choice = FieldInput({"name": "mode", "type": "str", "default": "fast", "choices": ["fast", "slow"]})
    assert isinstance(choice.widget, w.Dropdown) and choice.widget.value == "fast"
    flag = FieldInput({"name": "on", "type": "bool", "default": True})
    assert isinstance(flag.widget, w.Checkbox) and flag.parse() is True
    ratio = FieldInput({"name": "ratio", "type": "float", "default": 0.5})
    assert isinstance(ratio.widget, w.FloatText) and ratio.parse() == 0.5
    optional_int = FieldInput({"name": "port", "type": "int", "default": None})
    assert optional_int.parse() is None  # empty: left out, the backend's default applies
    optional_int.widget.value = "12x"
    with pytest.raises(Invalid, match="whole number"):
        optional_int.validate()
    assert "whole number" in optional_int.error.value
    optional_int.widget.value = "8080"
    assert optional_int.validate() == 8080 and optional_int.error.value == ""
    options = FieldInput({"name": "options", "type": "dict", "default": {}})
    options.widget.value = "{not json"
    with pytest.raises(Invalid, match="JSON"):
        options.validate()
    options.widget.value = '{"a": 1}'
    assert options.validate() == {"a": 1}


def test_required_field_empty_refuses_run_with_a_message_next_to_it(engine) -> None:
    dialog = ExecuteDialog(chain(), client.connect())
    dialog.storage.chooser.value = "s3"
    dialog.run_button.click()
    assert dialog.execution is None and engine.executions() == []
    bucket = dialog.storage["bucket"]
    assert "required" in bucket.error.value
    assert "Not run" in dialog.message.value and "bucket" in dialog.message.value
    assert dialog.tabs.selected_index == dialog.tabs.titles.index("Storage")
    assert dialog.tabs in dialog.widget.children  # still the dialog
    bucket.widget.value = "b"
    dialog.storage.chooser.value = "local"
    dialog.run_button.click()
    assert dialog.execution is not None
    assert dialog.view.wait(WAIT)


def test_bad_name_is_refused_and_taken_name_is_hinted(engine) -> None:
    pipeline = chain()
    first = ExecuteDialog(pipeline, client.connect())
    first.name.value = "test"
    assert "available" in first.name_hint.value
    assert first.run().name == "test"
    first.view.wait(WAIT)
    dialog = ExecuteDialog(pipeline, client.connect())
    dialog.name.value = "test"
    assert "test_2" in dialog.name_hint.value and "taken" in dialog.name_hint.value
    dialog.name.value = "my run!"
    assert "my_run_" in dialog.name_hint.value
    dialog.name.value = "../escape"
    assert "must not contain" in dialog.name_hint.value
    assert dialog.run() is None and "Not run" in dialog.message.value
    dialog.name.value = "test"
    execution = dialog.run()
    assert execution.name == "test_2"
    assert dialog.view.wait(WAIT)


def test_server_error_is_shown_in_the_widget(engine) -> None:
    with Pipeline("needs-input") as p:
        count(Input("not-registered"))
    dialog = ExecuteDialog(p, client.connect())
    assert "not-registered" in dialog.credentials_note.value or "Credentials" not in dialog.tabs.titles
    assert dialog.run() is None  # no exception
    assert "refused" in dialog.message.value and "not-registered" in dialog.message.value
    assert "jp-pipelines-error" in dialog.message.value and "Traceback" not in dialog.message.value
    assert not dialog.run_button.disabled and dialog.tabs in dialog.widget.children


# -- run and the live status view -------------------------------------------------------------------------------

def test_run_replaces_the_dialog_by_a_live_view_that_reaches_success(engine) -> None:
    dialog = ExecuteDialog(chain("live"), client.connect())
    dialog.name.value = "live-run"
    dialog.run_button.click()
    view = dialog.view
    assert isinstance(view, StatusView)
    assert dialog.widget.children == (view.widget,)  # the same output area now shows the execution
    assert view.wait(WAIT)
    assert {op: row.status for op, row in view.rows.items()} == {"numbers": "success", "double": "success"}
    assert list(view.rows) == ["numbers", "double"]  # execution order
    assert all("s" in row.duration.value for row in view.rows.values())
    assert view.progress.value == view.progress.max == 2 and view.progress.bar_style == "success"
    assert view.progress.description == "2 / 2"
    assert "live-run" in view.header.value and "success" in view.header.value
    assert view.cancel_button.disabled
    assert "took" in view.elapsed.value
    assert view.error.value == ""
    assert dialog.execution.status == "success"
    # the log tail shows the operation's output
    logged = [op for op in view.rows if op in view._logs and "hello from numbers" in view._logs[op][1]]
    assert logged == ["numbers"]


def test_failed_operation_shows_error_traceback_and_skips_the_rest(engine) -> None:
    with Pipeline("fails") as p:
        after(explode(numbers(n=2)))
    dialog = ExecuteDialog(p, client.connect())
    dialog.run()
    view = dialog.view
    assert view.wait(WAIT)
    statuses = {op: row.status for op, row in view.rows.items()}
    assert statuses == {"numbers": "success", "explode": "failed", "after": "skipped"}
    assert "explode failed" in view.error.value and "boom at 2" in view.error.value
    assert "Traceback" in view.error.value and "inner" in view.error.value
    assert view.progress.bar_style == "danger" and view.progress.value == 3
    assert "failed" in view.header.value and view.cancel_button.disabled
    assert "explode" in view.log_title.value  # the failed operation's log is the one shown


def test_cancel_button_cancels_a_long_operation(engine, tmp_path) -> None:
    release = str(tmp_path / "never")
    with Pipeline("long") as p:
        hold(path=release)
    dialog = ExecuteDialog(p, client.connect())
    dialog.run()
    view = dialog.view
    wait_until(lambda: view.rows["hold"].status == "running", what="the operation to run")
    assert not view.cancel_button.disabled
    wait_until(lambda: "holding until" in view.log.value, what="the live log tail")
    assert "running" in view.log_title.value
    view.cancel_button.click()
    assert view.wait(WAIT)
    assert view.rows["hold"].status == "canceled"
    assert "canceled" in view.header.value and view.cancel_button.disabled
    assert view.progress.bar_style == "warning"
    assert dialog.execution.status == "canceled"


def test_view_of_an_execution_started_elsewhere(engine) -> None:
    started = chain("elsewhere").run(name="from-cli")
    handle = get("from-cli", api=client.connect())  # a fresh handle, as after a restart of the kernel
    view = StatusView(handle).start()
    assert view.wait(WAIT)
    assert {row.status for row in view.rows.values()} == {"success"}
    assert "from-cli" in view.header.value
    finished = StatusView(handle).start()  # a finished execution: shown as it is, thread ends at once
    assert finished.wait(WAIT) and finished.progress.bar_style == "success"
    started.wait(WAIT)
    handle._ipython_display_()  # what `ex` as the last line of a cell does


def test_view_follows_server_events_with_log_tails() -> None:
    """The remote path: job, execution and ``log`` events (byte offsets; overlaps dropped)."""
    lines = "".join(f"line {i}\n" for i in range(1, 31))

    def job(op: str, status: str, **extra: Any) -> dict[str, Any]:
        return {"op": op, "operation": op, "kind": "operation", "status": status, "attempt": 1,
                "started": "2024-01-01T00:00:00.000Z" if status != "pending" else None,
                "ended": "2024-01-01T00:00:02.000Z" if status in ("success", "failed") else None,
                "error": None, "traceback": None, "exit_code": None, "outputs": [], **extra}

    final = {"name": "remote", "project": "default", "pipeline": "p", "status": "success", "tag": "remote",
             "debug": False, "created": "2024-01-01T00:00:00.000Z", "started": "2024-01-01T00:00:00.000Z",
             "ended": "2024-01-01T00:00:05.000Z", "error": None,
             "jobs": [job("a", "success"), job("b", "success")]}
    start = {**final, "status": "running", "ended": None, "jobs": [job("a", "pending"), job("b", "pending")]}
    script = [
        ("job", job("a", "queued")), ("job", job("a", "running")),
        ("log", {"op": "a", "offset": 0, "text": lines[:40]}),
        ("log", {"op": "a", "offset": 0, "text": lines}),  # overlaps what was seen: only the rest is new
        ("job", job("a", "pending")),  # a replayed, older event: ignored
        ("job", job("a", "success")), ("job", job("b", "running")),
        ("log", {"op": "b", "offset": 0, "text": "x\n"}), ("log", {"op": "b", "offset": 2, "text": "y\n"}),
        ("job", job("b", "success")), ("execution", {"status": "success", "pipeline": "p"}),
    ]

    class ScriptedServer:
        mode = "server"

        def __init__(self) -> None:
            self.state = start
            self.log_reads: list[str] = []

        def execution(self, project: str, name: str) -> dict[str, Any]:
            return json.loads(json.dumps(self.state))

        def events(self, project: str, name: str, after: int = 0):
            for seq, (kind, data) in enumerate(script, 1):
                yield {"seq": seq, "type": kind, "execution": name, "project": project, "data": data}
            self.state = final

        def log(self, project: str, name: str, op: str) -> str:
            self.log_reads.append(op)
            return ""

    from jupyter_pipelines.session import Execution

    api = ScriptedServer()
    view = StatusView(Execution(api, start), log_lines=20).start()
    assert view.wait(WAIT)
    assert {op: row.status for op, row in view.rows.items()} == {"a": "success", "b": "success"}
    assert view._logs["a"][1] == lines and view._logs["b"][1] == "x\ny\n"
    assert "x\ny" in view.log.value and "Log of b" in view.log_title.value
    view._log_op = "a"
    view._render_log()
    assert "line 11" in view.log.value and "line 30" in view.log.value and "line 10\n" not in view.log.value
    assert api.log_reads == []  # the stream carried the logs
    assert view.progress.bar_style == "success" and "took 5.0 s" in view.elapsed.value
    assert [row.duration.value for row in view.rows.values()] == [view.rows["a"].duration.value] * 2
    assert "2.0 s" in view.rows["a"].duration.value


# -- saved settings ------------------------------------------------------------------------------------------------

def test_saved_settings_prefill_the_next_dialog_also_after_a_kernel_restart(engine, pipelines_home, tmp_path) -> None:
    folder = tmp_path / "fsspec-storage"
    folder.mkdir()
    pipeline = chain("saved")
    dialog = ExecuteDialog(pipeline, client.connect())
    dialog.debug.value = True
    dialog.compute["workers"].widget.value = 2
    dialog.storage.chooser.value = "fsspec"
    dialog.storage["url"].widget.value = f"file://{folder}"
    dialog.storage["secret_options"].widget.value = json.dumps({"auto_mkdir": True, "note": SECRET})
    dialog.save.value = True
    dialog.run_button.click()
    assert dialog.view.wait(WAIT)
    assert {row.status for row in dialog.view.rows.values()} == {"success"}
    saved = engine.settings("default", "saved")
    assert saved["storage"]["backend"] == "fsspec" and SECRET not in json.dumps(saved)

    def check(again: ExecuteDialog) -> None:
        assert again.debug.value is True
        assert again.compute.backend == "local" and again.compute["workers"].widget.value == 2
        assert again.storage.backend == "fsspec"
        assert again.storage["url"].widget.value == f"file://{folder}"
        assert again.storage["secret_options"].raw() == ""  # secrets are never pre-filled

    check(ExecuteDialog(pipeline, client.connect()))
    restarted = ExecutionManager(pipelines_home)  # a new kernel: a fresh engine on the same home
    try:
        check(ExecuteDialog(pipeline, api=EmbeddedApi(restarted, resume=False)))
    finally:
        restarted.close()
    # without the checkbox nothing changes
    other = ExecuteDialog(pipeline, client.connect())
    other.debug.value = False
    other.storage.chooser.value = "local"
    other.run()
    other.view.wait(WAIT)
    assert engine.settings("default", "saved")["debug"] is True


# -- credentials and secrets ------------------------------------------------------------------------------------------

def test_credentials_tab_per_input_artifact_and_secrets_never_in_widget_state(engine, tmp_path) -> None:
    register_file_artifact(engine, tmp_path, "raw-data", [5, 6, 7])
    with Pipeline("with-input") as p:
        count(Input("raw-data"))
    dialog = ExecuteDialog(p, client.connect())
    assert list(dialog.tabs.titles) == ["Basic", "Credentials", "Compute", "Storage"]
    group = dialog.credentials["raw-data"]
    assert "raw-data" in group.title.value and "(fsspec)" in group.title.value
    secret_field = group["secret_options"]
    assert isinstance(secret_field.widget, w.Password)
    # typing (the page sends the value): it is moved out of the synced state at once
    secret_field.widget.value = json.dumps({"token": SECRET})
    assert secret_field.widget.value == "" and "memory" in secret_field.widget.placeholder
    assert SECRET not in all_widget_state()
    dialog.storage.chooser.value = "fsspec"
    dialog.storage["url"].widget.value = f"file://{tmp_path / 'out'}"
    dialog.storage["options"].widget.value = '{"auto_mkdir": true}'
    dialog.storage["secret_options"].widget.value = json.dumps({"password": SECRET})
    execution = dialog.run()
    assert execution is not None
    record = engine.get("default", execution.name)
    assert engine.secrets[record.id].credentials == {"raw-data": {"secret_options": {"token": SECRET}}}
    assert engine.secrets[record.id].storage["secret_options"] == {"password": SECRET}
    assert dialog.view.wait(WAIT)
    assert {op: row.status for op, row in dialog.view.rows.items()} == {"raw-data": "success", "count": "success"}
    assert execution.result("count") == 3
    assert secret_field.raw() == "" and dialog.storage["secret_options"].raw() == ""  # dropped after Run
    assert SECRET not in all_widget_state()
    assert SECRET not in json.dumps(engine.settings("default", "with-input"))


def test_a_secret_from_the_page_is_not_echoed_and_leaves_the_synced_state() -> None:
    field = FieldInput({"name": "secret", "type": "str", "default": None, "secret": True})
    sent: list[str] = []
    field.widget._send = lambda msg, buffers=None: sent.append(json.dumps(msg))  # what goes to the page
    field.widget.set_state({"value": SECRET})  # the frontend's update message, as the comm delivers it
    assert field.raw() == SECRET and field.widget.value == ""
    assert sent and SECRET not in "".join(sent)
    assert any('"value": ""' in msg for msg in sent)
    assert SECRET not in json.dumps(field.widget.get_state())


def test_refused_run_keeps_typed_secrets_in_memory_only(engine) -> None:
    dialog = ExecuteDialog(chain(), client.connect())
    dialog.storage.chooser.value = "s3"
    dialog.storage["secret"].widget.value = SECRET
    assert dialog.run() is None  # bucket missing
    assert dialog.storage["secret"].raw() == SECRET  # no need to type it again …
    assert SECRET not in all_widget_state()  # … and still not in any widget state
    dialog.storage["secret"].secret_input.forget_button.click()
    assert dialog.storage["secret"].raw() == ""


@pytest.mark.timeout(240)
def test_saved_notebook_has_widget_state_but_no_secret(engine, tmp_path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    storage = tmp_path / "nb-storage"
    storage.mkdir()
    monkeypatch.setenv("NB_STORAGE", str(storage))
    monkeypatch.setenv("NB_SECRET_JSON", json.dumps({"auto_mkdir": True, "password": SECRET}))
    cells = [
        "import os\nfrom jupyter_pipelines import Pipeline, operation",
        "@operation\ndef numbers(n: int = 3):\n    return list(range(n))\n\n"
        "@operation\ndef total(data):\n    return sum(data)\n\n"
        "with Pipeline('notebook-demo') as p:\n    total(numbers(n=5))",
        "dialog = p.execute()\ndialog",
        "dialog.name.value = 'typed-in-notebook'\n"
        "dialog.storage.chooser.value = 'fsspec'\n"
        "dialog.storage['url'].widget.value = 'file://' + os.environ['NB_STORAGE']\n"
        "dialog.storage['secret_options'].widget.value = os.environ['NB_SECRET_JSON']\n"
        "dialog.run_button.click()",
        "assert dialog.view.wait(120)\nprint(sorted(r.status for r in dialog.view.rows.values()))\n"
        "print(dialog.execution.result('total'))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    runner = nbclient.NotebookClient(nb, kernel_name="python3", timeout=180, store_widget_state=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    runner.execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, str(path))
    text = path.read_text()
    assert SECRET not in text
    outputs = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "['success', 'success']" in outputs and "10" in outputs
    widgets = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["state"].get("value") == "typed-in-notebook" for m in widgets.values())  # state was saved
    passwords = [m for m in widgets.values() if m["model_name"] == "PasswordModel"]
    assert passwords and all(not m["state"].get("value") for m in passwords)
    displays = [o for o in nb.cells[2].outputs if o.get("output_type") in ("display_data", "execute_result")]
    # `p.execute()` + the dialog as the cell's value: shown once — the live widget and its snapshot
    assert len(displays) == 2
    live, snapshot = displays
    assert "application/vnd.jupyter.widget-view+json" in live["data"] and "text/html" not in live["data"]
    assert set(snapshot["data"]) == {"text/html", "text/plain"}
    html = snapshot["data"]["text/html"]  # brought up to date by update_display: the execution's last state
    assert "typed-in-notebook" in html and 'data-status="success"' in html and "jp-pipelines-snapshot" in html
    assert "jupyter_pipelines.get(&#x27;typed-in-notebook&#x27;, project=&#x27;default&#x27;)" in html


# -- the export dialog -------------------------------------------------------------------------------------------------

def test_export_dialog_writes_the_zip_and_links_it_in_embedded_mode(engine, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    dialog = ExportDialog(chain("exported"), client.connect())
    assert dialog.show() is dialog
    assert dialog.export_button.description == "Run"
    result = dialog.export_button.click() or dialog.result
    assert result is not None, dialog.message.value
    path = tmp_path / "exported.zip"
    assert result["path"] == str(path) and path.is_file()
    assert 'href="exported.zip"' in dialog.link.value and str(path) in dialog.link.value
    with zipfile.ZipFile(path) as archive:
        assert "main.py" in archive.namelist() and "pipeline.json" in archive.namelist()


def test_export_dialog_input_choices_and_explicit_embedding(engine, tmp_path) -> None:
    register_file_artifact(engine, tmp_path, "raw-data")
    with Pipeline("export-input") as p:
        count(Input("raw-data"))
    dialog = ExportDialog(p, client.connect(), folder=str(tmp_path))
    choice = dialog.inputs["raw-data"]
    assert [value for _, value in choice.mode.options] == ["bundle", "fetch"]
    assert choice.mode.value == "fetch"
    assert choice.embed.description == "Embed these credentials in the zip (anyone with the file can read them)"
    assert choice.fields.layout.display == "none"  # nothing to type unless embedding is asked for
    choice.form["secret_options"].widget.value = json.dumps({"token": SECRET})
    body, problems = dialog.body()
    assert problems == [] and body["bundle"] == [] and body["embed_credentials"] == {}  # not embedded
    choice.embed.value = True
    assert choice.fields.layout.display == "" and "plain text" in choice.note.value
    body, _ = dialog.body()
    assert body["embed_credentials"] == {"raw-data": {"secret_options": {"token": SECRET}}}
    choice.mode.value = "bundle"
    assert choice.embed.layout.display == "none"
    body, _ = dialog.body()
    assert body["bundle"] == ["raw-data"] and body["embed_credentials"] == {}
    assert SECRET not in all_widget_state()
    result = dialog.export()
    assert result is not None, dialog.message.value
    with zipfile.ZipFile(result["path"]) as archive:
        names = archive.namelist()
        assert any(name.startswith("artifacts/") and name.endswith(".pkl") for name in names)
        assert all(SECRET.encode() not in archive.read(name) for name in names if not name.endswith("/"))
    assert choice.form["secret_options"].raw() == ""


def test_export_dialog_download_link_in_server_mode(engine) -> None:
    class FakeServer:
        mode = "server"
        base_url = "http://127.0.0.1:8888/user/ada/"

        def __init__(self) -> None:
            self.bodies: list[dict[str, Any]] = []

        def backends(self) -> dict[str, Any]:
            return engine.backends()

        def export(self, body: dict[str, Any]) -> dict[str, Any]:
            self.bodies.append(json.loads(json.dumps(body)))
            return {"id": "ab" * 16, "filename": "served.zip", "url": f"pipelines/api/exports/{'ab' * 16}"}

    api = FakeServer()
    dialog = ExportDialog(chain("served"), api=api)
    assert dialog.filename.layout.display == "none"
    dialog.export_button.click()
    assert api.bodies and api.bodies[0]["pipeline"]["name"] == "served" and "path" not in api.bodies[0]
    assert f'href="/user/ada/pipelines/api/exports/{"ab" * 16}"' in dialog.link.value
    assert "download=" in dialog.link.value and "served.zip" in dialog.link.value
    # the one click also started the download: a script went through the Output widget, and left it at once
    assert dialog.export_button.description == "Run"
    script = dialog.download_script
    assert f'"pipelines/api/exports/{"ab" * 16}"' in script and '"served.zip"' in script
    assert "jupyter-config-data" in script and "baseUrl" in script and ".click()" in script
    assert f'"/user/ada/pipelines/api/exports/{"ab" * 16}"' in script  # the kernel's guess, if the page has no config
    assert f"jp-pipelines-export-{'ab' * 16}" in script and "sessionStorage" in script  # once per page session
    assert dialog.downloader in dialog.widget.children and dialog.downloader.outputs == ()
    assert "sessionStorage" not in all_widget_state()  # nothing a saved notebook could replay


def test_export_errors_are_shown_in_the_widget(engine, tmp_path) -> None:
    with Pipeline("bad-export") as p:
        count(Input("missing-artifact"))
    dialog = ExportDialog(p, client.connect(), folder=str(tmp_path))
    assert dialog.export() is None
    assert "Export failed" in dialog.message.value and "missing-artifact" in dialog.message.value
    assert not dialog.export_button.disabled


# -- the graph widget -----------------------------------------------------------------------------------------------

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def published(monkeypatch) -> list[tuple[dict[str, Any], Any, bool]]:
    """What ``show()`` and the snapshots publish, as a kernel would send it: ``(bundle, display_id, update)``."""
    sent: list[tuple[dict[str, Any], Any, bool]] = []
    monkeypatch.setattr(display, "publish", lambda bundle, display_id=None, update=False:
                        sent.append((json.loads(json.dumps(bundle)), display_id, update)))
    return sent


def with_input_and_outputs() -> Pipeline:
    with Pipeline("shapes") as p:
        data = numbers(n=3)
        Output(double(data), name="doubled")
        Output(count(Input("raw-data")), name="counted")
    return p


def test_graph_widget_traits_module_and_static_fallback() -> None:
    p = with_input_and_outputs()
    graph = PipelineGraph.of(p)
    state = graph.get_state()
    assert (state["_model_module"], state["_model_module_version"], state["_model_name"], state["_view_name"]) == \
        ("jupyter-pipelines", "0.1.0", "PipelineGraphModel", "PipelineGraphView")
    assert {"graph", "states", "now", "selected", "height"} <= set(state)
    nodes = {n["id"]: n for n in graph.graph["nodes"]}
    assert {n: nodes[n]["kind"] for n in nodes} == {"numbers": "operation", "double": "operation", "doubled": "output",
                                                    "raw-data": "input", "count": "operation", "counted": "output"}
    assert nodes["numbers"]["attributes"] == {"n": 3} and nodes["raw-data"]["artifact"] == "raw-data"
    assert {(e["source"], e["target"], e["output"], e["input"]) for e in graph.graph["edges"]} == {
        ("numbers", "double", "output", "data"), ("double", "doubled", "output", "data"),
        ("raw-data", "count", "output", "data"), ("count", "counted", "output", "data")}
    assert graph.states == {} and graph.selected == ""
    jobs = [{"op": "numbers", "status": "success", "started": "2024-01-01T00:00:00.000Z",
             "ended": "2024-01-01T00:00:01.500Z", "error": None},
            {"op": "double", "status": "running", "started": "2024-01-01T00:00:01.500Z", "ended": None, "error": None}]
    assert graph.update_states(jobs, now="2024-01-01T00:00:03.000Z")
    assert graph.states["numbers"] == {"status": "success", "started": "2024-01-01T00:00:00.000Z",
                                       "ended": "2024-01-01T00:00:01.500Z", "error": None}
    assert graph.states["double"]["status"] == "running" and graph.now == "2024-01-01T00:00:03.000Z"
    assert not graph.update_states(jobs)  # nothing new: nothing sent
    bundle = graph._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == graph.model_id
    svg = bundle["text/html"]
    assert svg.count('class="jp-pipelines-snode"') == 6 and "<svg" in svg
    assert 'data-node="numbers" data-status="success"' in svg and 'data-node="double" data-status="running"' in svg
    assert 'data-node="doubled" data-status="pending"' in svg and "1.5 s" in svg
    assert "numbers: success" in bundle["text/plain"] and "raw-data (input)" in bundle["text/plain"]
    assert graph_svg({"nodes": [], "edges": []}).count("<svg") == 0  # an empty pipeline says so


def test_a_pipeline_in_a_cell_shows_its_graph_with_a_snapshot(published) -> None:
    p = with_input_and_outputs()
    p._ipython_display_()  # what `p` as the last line of a cell does
    (live, live_id, _), (snapshot, snapshot_id, update) = published
    assert WIDGET_MIME in live and "text/html" not in live and live_id is None
    assert set(snapshot) == {"text/html", "text/plain"} and snapshot_id and not update
    html = snapshot["text/html"]
    assert html.count('class="jp-pipelines-snode"') == 6 and "shapes" in html
    key = snapshot_id.rsplit("-", 1)[-1]
    assert f"jp-pipelines-snapshot-{key}" in html and f":has(.jp-pipelines-live-{key})" in html
    shown = PipelineDisplay(p)
    assert isinstance(shown.graph, PipelineGraph) and len(shown.graph.graph["nodes"]) == 6


def test_scripts_never_import_ipywidgets(tmp_path) -> None:
    import subprocess

    script = ("import sys\nfrom jupyter_pipelines import Pipeline, operation\n"
              "@operation\ndef one(n: int = 1):\n    return n\n"
              "with Pipeline('s') as p:\n    one()\n"
              "repr(p); p.to_dict()\nassert 'ipywidgets' not in sys.modules, 'ipywidgets imported'\nprint('ok')\n")
    path = tmp_path / "script.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


# -- the execute dialog: graph and attributes (params) --------------------------------------------------------------

def test_dialog_shows_the_graph_and_attributes_as_typed_fields(engine) -> None:
    with Pipeline("typed") as p:
        double(numbers(n=3))
    dialog = ExecuteDialog(p, client.connect())
    assert isinstance(dialog.graph, PipelineGraph) and dialog.graph_box.box in dialog.widget.children
    assert [n["id"] for n in dialog.graph.graph["nodes"]] == ["numbers", "double"]
    basic = dialog.tabs.children[0]
    assert dialog.attributes.box in basic.children
    field = dialog.attributes["numbers.n"].field
    assert isinstance(field.widget, w.IntText) and field.widget.value == 3  # the pipeline's value
    assert list(dialog.attributes.inputs) == ["numbers.n"]  # double() has no attribute
    options, problems = dialog.request()
    assert problems == [] and options["params"] == {}  # nothing changed: nothing sent
    dialog.graph.selected = "numbers"  # a click on the node in the page
    assert dialog.tabs.selected_index == 0
    assert dialog.attributes.groups["numbers"].layout.border_left


def test_attribute_fields_validate_like_backend_fields(engine) -> None:
    @operation
    def typed(data, ratio: float = 0.5, tags: list = ["a"], options: dict = {},  # noqa: B006 - attributes' defaults
              anything=None, on: bool = False, label: str = "x"):
        return data

    with Pipeline("kinds") as p:
        typed(numbers())
    dialog = ExecuteDialog(p, client.connect())
    form = dialog.attributes
    assert isinstance(form["typed.ratio"].field.widget, w.FloatText)
    assert isinstance(form["typed.on"].field.widget, w.Checkbox)
    assert form["typed.tags"].field.widget.value == '["a"]' and form["typed.label"].field.widget.value == "x"
    form["typed.tags"].field.widget.value = "[1, 2"
    form["typed.options"].field.widget.value = "[1]"  # JSON, but not an object
    form["typed.anything"].field.widget.value = '{"k": [1]}'
    form["typed.on"].field.widget.value = True
    assert dialog.run() is None and engine.executions() == []
    assert "JSON" in form["typed.tags"].field.error.value and "must be dict" in form["typed.options"].field.error.value
    assert dialog.tabs.selected_index == 0 and "typed.tags" in dialog.message.value
    form["typed.tags"].field.widget.value = '["b", "c"]'
    form["typed.options"].field.widget.value = '{"deep": true}'
    params, problems = form.params()
    assert problems == [] and params == {"typed.tags": ["b", "c"], "typed.options": {"deep": True},
                                         "typed.anything": {"k": [1]}, "typed.on": True}
    assert form["typed.tags"].field.error.value == ""


def test_params_from_the_basic_tab_change_the_result_and_the_commit(engine) -> None:
    pipeline = chain("params")
    plain = ExecuteDialog(pipeline, client.connect())
    plain.name.value = "as-defined"
    as_defined = plain.run()
    assert plain.view.wait(WAIT) and as_defined.result("double") == [0, 2, 4]

    dialog = ExecuteDialog(pipeline, client.connect())
    dialog.name.value = "overridden"
    dialog.attributes["numbers.n"].field.widget.value = 5
    dialog.save.value = True
    execution = dialog.run()
    assert dialog.view.wait(WAIT)
    assert execution.result("double") == [0, 2, 4, 6, 8]  # the parameter reached the operation
    record = engine.get("default", "overridden")
    assert record.params == {"numbers.n": 5}
    assert record.commit_id != engine.get("default", "as-defined").commit_id  # part of the commit
    snapshot = engine.store.commit(record.commit_id)["snapshot"]
    assert next(n for n in snapshot["nodes"] if n["id"] == "numbers")["attributes"] == {"n": 5}
    assert "numbers.n=5" in dialog.view.header.value  # the view says which params it ran with
    assert {n["id"]: n["attributes"] for n in execution.refresh().data["graph"]["nodes"]}["numbers"] == {"n": 5}
    # saved with the settings: the next dialog is pre-filled with it, and sends it
    assert engine.settings("default", "params")["params"] == {"numbers.n": 5}
    again = ExecuteDialog(pipeline, client.connect())
    assert again.attributes["numbers.n"].field.widget.value == 5
    assert again.request()[0]["params"] == {"numbers.n": 5}


# -- the status view: graph, selection, details ----------------------------------------------------------------------

def test_view_graph_follows_jobs_and_any_operation_can_be_selected(engine) -> None:
    dialog = ExecuteDialog(chain("select"), client.connect())
    dialog.run()
    view = dialog.view
    assert view.wait(WAIT)
    assert isinstance(view.graph, PipelineGraph) and view.graph_box.box in view.widget.children
    assert [n["id"] for n in view.graph.graph["nodes"]] == ["numbers", "double"]
    assert {op: s["status"] for op, s in view.graph.states.items()} == {"numbers": "success", "double": "success"}
    assert 'data-status="success"' in view.graph_box.fallback.value
    # a click on a node (the page sets `selected`): that operation's log, outputs, source and attributes
    view.graph.selected = "numbers"
    assert view.selected == "numbers" and view.shown_op() == "numbers"
    assert "Log of numbers" in view.log_title.value and "hello from numbers" in view.log.value
    assert 'data-op="numbers"' in view.details_title.value and "followed" not in view.details_title.value
    assert "jp-pipelines-output-output" in view.outputs.value and "list" in view.outputs.value
    assert "def numbers(n: int = 4)" in view.source.value and "<code>n</code>" in view.source.value
    assert "jp-pipelines-op-selected" in view.rows["numbers"]._dom_classes
    assert "jp-pipelines-op-selected" not in view.rows["double"]._dom_classes
    # a click on a row's name
    view.rows["double"].select_button.click()
    assert view.selected == "double" and view.graph.selected == "double"
    assert "Log of double" in view.log_title.value and "def double(data)" in view.source.value
    assert 'data-node="double"' in view.graph_box.fallback.value


def test_a_failed_operations_traceback_is_shown_once(engine) -> None:
    with Pipeline("fails-once") as p:
        after(explode(numbers(n=2)))
    dialog = ExecuteDialog(p, client.connect())
    dialog.run()
    view = dialog.view
    assert view.wait(WAIT)
    assert view.shown_op() == "explode"
    assert view.error.value.count("Traceback (most recent call last)") == 1 and "boom at 2" in view.error.value
    assert "Traceback" not in view.log.value and TRACEBACK_SHOWN in view.log.value
    whole = "".join(widget.value for widget in (view.error, view.details_title, view.log_title, view.log,
                                                view.outputs, view.source))
    assert whole.count("Traceback (most recent call last)") == 1
    assert view.snapshot_html().count("Traceback (most recent call last)") == 1
    view.select("numbers")  # another operation's log, whole
    assert "hello from numbers" in view.log.value and "explode failed" in view.error.value


def scripted_execution(jobs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "scripted", "project": "default", "pipeline": "p", "status": "success", "tag": "scripted",
            "debug": False, "created": "2024-01-01T00:00:00.000Z", "started": "2024-01-01T00:00:00.000Z",
            "ended": "2024-01-01T00:00:05.000Z", "error": None, "jobs": jobs, **extra}


class ScriptedApi:
    """A server that answers with a fixed, finished execution (previews, figures, attempts as others add them)."""

    mode = "server"

    def __init__(self, data: dict[str, Any], figures: dict[tuple[str, int], bytes] | None = None) -> None:
        self.data = data
        self.figures = figures or {}
        self.figure_reads: list[tuple[str, int]] = []

    def execution(self, project: str, name: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))

    def events(self, project: str, name: str, after: int = 0):
        return iter(())

    def log(self, project: str, name: str, op: str, offset: int = 0) -> str:
        return f"log of {op}\n"

    def figure(self, project: str, name: str, op: str, index: int) -> bytes:
        self.figure_reads.append((op, index))
        return self.figures[(op, index)]


def test_details_render_previews_figures_and_attempts_when_present() -> None:
    from jupyter_pipelines.session import Execution

    png = b"\x89PNG\r\n\x1a\n-not-really"
    outputs = [
        {"name": "metrics", "type": "dict", "size": 120, "location": "/x/metrics",
         "preview": {"kind": "value", "text": "{'accuracy': 0.9866}"}},
        {"name": "frame", "type": "DataFrame", "size": 4096, "location": "/x/frame",
         "preview": {"kind": "table", "columns": ["a", "b"], "rows": [[1, "<x>"], [2, "y"]], "shape": [100, 2],
                     "truncated": True}},
        {"name": "matrix", "type": "ndarray", "location": "/x/matrix",
         "preview": {"kind": "array", "shape": [3, 3], "dtype": "float64", "text": "[[1. 0. 0.] ...]"}},
        {"name": "picture", "type": "bytes", "location": "/x/picture",
         "preview": {"kind": "image", "mime": "image/png", "data": base64.b64encode(png).decode()}},
        {"name": "notes", "type": "str", "location": "/x/notes", "preview": {"kind": "text", "text": "hello"}},
        {"name": "plain", "type": "object", "location": "/x/plain"},
    ]
    attempts = [{"attempt": 1, "status": "failed", "started": "2024-01-01T00:00:00.000Z", "ended": None,
                 "duration": 1.25, "exit_code": 1, "error": "lost worker"},
                {"attempt": 2, "status": "success", "started": "2024-01-01T00:00:02.000Z", "ended": None,
                 "duration": 2.0, "exit_code": 0, "error": None}]
    job = {"op": "evaluate", "operation": "evaluate", "kind": "operation", "status": "success", "attempt": 2,
           "started": "2024-01-01T00:00:02.000Z", "ended": "2024-01-01T00:00:04.000Z", "error": None,
           "traceback": None, "exit_code": 0, "outputs": outputs, "attempts": attempts,
           "figures": [{"index": 0, "mime": "image/png", "url": "pipelines/api/executions/scripted/jobs/evaluate/figures/0"}]}
    other = {**job, "op": "other", "operation": "other", "outputs": [], "attempts": [], "figures": []}
    graph = {"nodes": [{"id": "evaluate", "kind": "operation", "label": "evaluate", "operation": "evaluate",
                        "artifact": None, "attributes": {"threshold": 0.5}},
                       {"id": "other", "kind": "operation", "label": "other", "operation": "other", "artifact": None,
                        "attributes": {}}], "edges": []}
    operations = {"evaluate": {"source": "def evaluate(model, threshold=0.5):\n    ...\n", "inputs": ["model"],
                               "outputs": ["metrics"], "attributes": {}}}
    api = ScriptedApi(scripted_execution([job, other], graph=graph, operations=operations),
                      figures={("evaluate", 0): png})
    view = StatusView(Execution(api, api.data)).start()
    assert view.wait(WAIT)
    view.select("evaluate")
    html = view.outputs.value
    assert "{&#x27;accuracy&#x27;: 0.9866}" in html  # a value
    assert "<th" in html and "&lt;x&gt;" in html and "100 × 2" in html and "(preview truncated)" in html  # a table
    assert "shape 3 × 3 · float64" in html and "[[1. 0. 0.] ...]" in html  # an array
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in html  # an image
    assert "hello" in html and "jp-pipelines-output-plain" in html  # a text; no preview: named only
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in view.figures.value
    assert api.figure_reads == [("evaluate", 0)]
    view.select("other")
    view.select("evaluate")
    assert api.figure_reads == [("evaluate", 0)]  # read once
    title = view.details_title.value
    assert "jp-pipelines-attempts" in title and "lost worker" in title and "1.2 s" in title and "attempt 2" in title
    assert "threshold" in view.source.value and "def evaluate(model" in view.source.value
    assert "log of evaluate" in view.log.value

    class WithoutFigures(ScriptedApi):
        figure = None  # an API without the method (it is being added): nothing to show, no error

    plain = StatusView(Execution(WithoutFigures(api.data), api.data)).start()
    assert plain.wait(WAIT)
    plain.select("evaluate")
    assert plain.figures.value == "" and "accuracy" in plain.outputs.value


# -- the snapshot saved with the notebook, and a restarted kernel ----------------------------------------------------

def test_the_view_publishes_a_snapshot_that_follows_it_to_the_end(engine, published, tmp_path) -> None:
    release = tmp_path / "release"
    with Pipeline("snapshots") as p:
        Output(hold(path=str(release)), name="held")
    dialog = ExecuteDialog(p, client.connect()).show()
    assert len(published) == 2 and "not run" in published[1][0]["text/html"]
    dialog.run()
    view = dialog.view
    wait_until(lambda: view.rows["hold"].status == "running", what="the operation to run")
    wait_until(lambda: any(update and 'data-node="hold" data-status="running"' in bundle["text/html"]
                           for bundle, _, update in published), what="a snapshot of the running operation")
    assert all(display_id == published[1][1] for _, display_id, _ in published[1:])  # one snapshot, updated
    release.write_text("go")
    assert view.wait(WAIT)
    last = published[-1][0]["text/html"]
    assert 'data-node="held" data-status="success"' in last and "took" in last
    assert "jupyter_pipelines.get(&#x27;snapshots_execution&#x27;, project=&#x27;default&#x27;)" in last
    assert "snapshots_execution: success" in published[-1][0]["text/plain"]


def test_a_restarted_kernel_leaves_a_note_and_no_button_that_does_nothing(engine) -> None:
    dialog = ExecuteDialog(chain("restart"), client.connect())
    for button in (dialog.run_button,):
        assert display.NEEDS_KERNEL in button._dom_classes
    assert "no longer live" in dialog.detached.value and ".jupyter-widgets-disconnected" in dialog.detached.value
    dialog.run()
    view = dialog.view
    assert display.NEEDS_KERNEL in view.cancel_button._dom_classes
    assert view.detached in view.widget.children
    assert "jupyter_pipelines.get(&#x27;restart_execution&#x27;, project=&#x27;default&#x27;)" in view.detached.value
    assert f".jupyter-widgets-disconnected.{display.NEEDS_KERNEL}{{display:none!important}}" in view.detached.value
    assert view.wait(WAIT)
    export = ExportDialog(chain("restart"), client.connect())
    assert display.NEEDS_KERNEL in export.export_button._dom_classes and export.detached in export.widget.children
