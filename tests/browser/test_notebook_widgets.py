"""The notebook widgets in a real JupyterLab, in headless Chromium: user path 1 of DESIGN.md.

``examples/digits.ipynb`` is opened in JupyterLab, its cells are run up to ``digits.execute()``,
the execute dialog is checked (its tabs) and its Run button clicked; the live status view in the
same output area must then bring every operation row to ``success``. The kernel started by that
JupyterLab finds the server on its own, so the execution is the server's (checked through the REST
API and the side panel). Screenshots: ``test-artifacts/notebook-widgets-*.png``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import LabServer, open_panel, run_command, screenshot

pytestmark = pytest.mark.browser

NOTEBOOK = "digits.ipynb"
PROJECT = "examples"  # Pipeline("digits", project="examples")
EXECUTE_CELL = "digits.execute()"
# one row per node of the digits pipeline: its four operations and its two Output artifacts
ROWS = ("load_digits", "split", "train", "evaluate", "digits-model", "digits-metrics")
KERNEL_TIMEOUT = 120_000  # ms
DIALOG_TIMEOUT = 180_000  # the cells import numpy, ipywidgets, the package… on a loaded 2-core machine
RUN_TIMEOUT = 180_000  # scikit-learn imports in every worker process are slow there

SUCCESS_CLASS = re.compile(r"(^|\s)jp-pipelines-op-status-success(\s|$)")
DIALOG = ".jp-pipelines-execute-dialog"
VIEW = ".jp-pipelines-status-view"


def notebook_js(body: str) -> str:
    """A JS function of the current notebook panel (``panel``), for ``page.evaluate``."""
    return f"() => {{ const panel = window.jupyterapp.shell.currentWidget; {body} }}"


def wait_for_kernel(page: Any) -> None:
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=KERNEL_TIMEOUT)
    page.wait_for_function(notebook_js(
        "const kernel = panel && panel.sessionContext && panel.sessionContext.session"
        " && panel.sessionContext.session.kernel;"
        "return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';"),
        timeout=KERNEL_TIMEOUT)


def cell_sources(page: Any) -> list[str]:
    return page.evaluate(notebook_js(
        "return panel.content.widgets.map(cell => cell.model.sharedModel.getSource());"))


def outputs_text(page: Any) -> str:
    """What the code cells printed (for an assertion message when the dialog never comes)."""
    return str(page.locator(".jp-Notebook .jp-OutputArea").all_inner_texts())[-3000:]


def run_up_to_execute(page: Any) -> int:
    """Run the notebook's cells from the first one to ``digits.execute()`` (included), in order."""
    sources = cell_sources(page)
    index = next(i for i, source in enumerate(sources) if source.strip() == EXECUTE_CELL)
    page.evaluate(notebook_js("panel.content.activeCellIndex = 0; panel.content.deselectAll();"))
    for _ in range(index + 1):  # markdown cells are "run" (rendered) too; the kernel queues the code cells
        run_command(page, "notebook:run-cell-and-select-next")
    return index


@pytest.fixture
def shutdown_kernels(jupyterlab: LabServer) -> Any:
    """Shut the notebook's kernel down afterwards (the server is shared with the other browser tests)."""
    before = {kernel["id"] for kernel in jupyterlab.api("api/kernels").json()}
    yield
    for kernel in jupyterlab.api("api/kernels").json():
        if kernel["id"] not in before:
            jupyterlab.api(f"api/kernels/{kernel['id']}", "DELETE", check=False)


def test_execute_dialog_runs_digits_live(jupyterlab: LabServer, open_lab: Callable[..., Any],
                                         shutdown_kernels: None) -> None:
    from playwright.sync_api import expect

    page = open_lab(f"lab/tree/{NOTEBOOK}?reset")  # ?reset: no tab left open by an earlier test
    wait_for_kernel(page)
    index = run_up_to_execute(page)
    execute_cell = page.locator(".jp-Notebook .jp-Cell").nth(index)

    # -- the dialog: rendered in the execute cell's output, with its tabs ------------------------
    dialog = execute_cell.locator(DIALOG)
    try:
        dialog.wait_for(state="visible", timeout=DIALOG_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - say what the cells printed instead
        raise AssertionError(f"no execute dialog in cell {index}; outputs: {outputs_text(page)}") from error
    expect(dialog).to_have_count(1)  # shown once, although execute() is the cell's last expression
    expect(dialog).to_contain_text("digits")
    tabs = dialog.locator(".jp-pipelines-tabs .lm-TabBar-tab")
    # digits reads no Input artifact, so no input needs credentials: the Credentials tab is absent
    expect(tabs).to_have_text(["Basic", "Compute", "Storage"])
    for title in ("Basic", "Compute", "Storage"):
        expect(tabs.filter(has_text=title)).to_be_visible()
    expect(tabs.filter(has_text="Credentials")).to_have_count(0)
    expect(dialog.get_by_text("Save these settings for future executions")).to_be_visible()
    name_field = dialog.locator(".widget-text input").first
    expect(name_field).to_have_value("digits_execution")
    # the other tabs hold the backend choosers drawn from GET backends
    tabs.filter(has_text="Compute").click()
    expect(dialog.locator(".widget-tab-contents .widget-dropdown select:visible")).not_to_have_count(0)
    tabs.filter(has_text="Basic").click()
    screenshot(page, "notebook-widgets-dialog", locator=execute_cell)

    # -- Run: the same output area turns into the live status view -------------------------------
    run = dialog.locator("button.jp-pipelines-run")
    expect(run).to_be_enabled()
    run.click()
    view = execute_cell.locator(VIEW)
    view.wait_for(state="visible", timeout=60_000)
    expect(execute_cell.locator(f"{DIALOG} .jp-pipelines-tabs")).to_have_count(0)
    rows = view.locator(".jp-pipelines-op-row")
    expect(rows).to_have_count(len(ROWS))
    name = view.locator(".jp-pipelines-execution-name").inner_text().strip()
    assert name, "the view shows no execution name"
    page.mouse.move(1400, 880)
    screenshot(page, "notebook-widgets-running", locator=execute_cell)

    for op in ROWS:
        row = view.locator(f".jp-pipelines-op-row.jp-pipelines-op-{op}")
        expect(row).to_have_count(1)
        try:
            expect(row.locator(".jp-pipelines-status")).to_have_text("success", timeout=RUN_TIMEOUT)
        except AssertionError:
            shown = {r.get_attribute("class"): r.inner_text() for r in rows.all()}
            raise AssertionError(f"row {op!r} never reached success; rows: {shown}; "
                                 f"view: {view.inner_text()[-2000:]}") from None
        expect(row).to_have_class(SUCCESS_CLASS)  # the row's status class follows its badge
    page.mouse.move(1400, 880)  # off the rows (Run was clicked where a row now is): no hover in the shot
    header = view.locator(".jp-pipelines-execution-name + .jp-pipelines-status")
    expect(header).to_have_text("success", timeout=30_000)
    expect(view.locator(".jp-pipelines-error")).to_have_count(0)
    expect(view.locator(".jp-pipelines-tag")).not_to_be_empty()
    expect(view.locator(".widget-hprogress")).to_contain_text(f"{len(ROWS)} / {len(ROWS)}")
    expect(view.locator("button", has_text="Cancel")).to_be_hidden()
    screenshot(page, "notebook-widgets-success", locator=execute_cell)

    # -- the execution is the server's: the kernel found the JupyterLab it runs under -------------
    listed = jupyterlab.api("pipelines/api/executions", params={"project": PROJECT}).json()["executions"]
    record = next((e for e in listed if e["name"] == name), None)
    assert record is not None, f"{name!r} is not among the server's executions: {[e['name'] for e in listed]}"
    assert record["status"] == "success", record
    assert record.get("pipeline", "").endswith("digits"), record

    # -- and the side panel lists it ---------------------------------------------------------------
    panel = open_panel(page)
    panel_row = panel.locator(f'.jp-pipelines-row[data-execution="{name}"]')
    expect(panel_row.locator(".jp-pipelines-status")).to_have_text("success", timeout=60_000)
    screenshot(page, "notebook-widgets-with-panel")
