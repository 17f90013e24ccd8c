"""The "Pipeline executions" side panel in a real JupyterLab, in headless Chromium.

Executions are started through the REST API; everything checked here is what the panel shows.
"""
from __future__ import annotations

import json
import time
import uuid
import zipfile
from typing import Any

import pytest

from jupyter_pipelines import Pipeline, operation

from .conftest import ARTIFACTS, PANEL, LabServer, open_panel, screenshot, wait_for_lab

pytestmark = pytest.mark.browser

PROJECT = "browser"
LIVE_TIMEOUT = 60_000  # ms


# -- the operations the pipelines run (captured from this module) ----------------------------------
@operation
def numbers(n: int = 5, pause: float = 0.0):
    import time

    print(f"making {n} numbers")
    time.sleep(pause)
    return list(range(n))


@operation
def total(data):
    value = sum(data)
    print(f"the total is {value}")
    return value


@operation
def explode(data, message: str = "boom"):
    print("about to fail")
    raise ValueError(f"{message}: {len(data)} items are too many")


@operation
def sleeper(seconds: float = 60.0):
    import time

    print("going to sleep", flush=True)
    time.sleep(seconds)
    return seconds


@operation
def flaky(data, marker: str = ""):
    import os

    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    print("second attempt works")
    return data


def summing(name: str, n: int = 5, pause: float = 0.0) -> Pipeline:
    with Pipeline(name, project=PROJECT) as pipeline:
        total(numbers(n=n, pause=pause))
    return pipeline


def failing(name: str) -> Pipeline:
    with Pipeline(name, project=PROJECT) as pipeline:
        data = numbers(n=3)
        explode(data, message="kaboom")
        total(data)
    return pipeline


def sleeping(name: str) -> Pipeline:
    with Pipeline(name, project=PROJECT) as pipeline:
        sleeper(seconds=60.0)
    return pipeline


def flaky_pipeline(name: str, marker: str) -> Pipeline:
    with Pipeline(name, project=PROJECT) as pipeline:
        total(flaky(numbers(n=4), marker=marker))
    return pipeline


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


# -- panel helpers ----------------------------------------------------------------------------------
def row(page: Any, name: str) -> Any:
    return page.locator(f'{PANEL} .jp-pipelines-row[data-execution="{name}"]')


def row_status(page: Any, name: str) -> Any:
    return row(page, name).locator(".jp-pipelines-status")


def details(page: Any, name: str) -> Any:
    return page.locator(f'{PANEL} .jp-pipelines-details[data-execution="{name}"]')


def job(page: Any, name: str, op: str) -> Any:
    return details(page, name).locator(f'.jp-pipelines-job[data-op="{op}"]')


def expect_text(locator: Any, text: str, timeout: float = LIVE_TIMEOUT) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=timeout)


def select(page: Any, name: str) -> Any:
    row(page, name).click()
    panel_details = details(page, name)
    panel_details.wait_for(state="visible")
    return panel_details


def node_ids(pipeline: Pipeline) -> dict[str, str]:
    """Operation name -> node id (the ``data-op`` of its row) in the pipeline's JSON."""
    nodes = pipeline.to_dict()["nodes"]
    items = nodes.items() if isinstance(nodes, dict) else ((n["id"], n) for n in nodes)
    return {node["operation"]: node_id for node_id, node in items if node.get("operation")}


def mark_page(page: Any) -> None:
    page.evaluate("() => { window.__pipelinesNoReload = true; }")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("() => window.__pipelinesNoReload === true"), "the page was reloaded"


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(jupyterlab: LabServer) -> dict[str, Any]:
    """A successful execution made before the page opens (for export, compare, reload)."""
    record = jupyterlab.submit(summing("summing", n=4), unique("done"))
    return jupyterlab.wait_status(record["name"], "success", PROJECT, timeout=120)


# -- tests ---------------------------------------------------------------------------------------
def test_execution_appears_and_succeeds_live(jupyterlab: LabServer, page: Any) -> None:
    panel = open_panel(page)
    mark_page(page)
    pipeline = summing("summing", n=7, pause=3.0)
    record = jupyterlab.submit(pipeline, unique("live"))
    name = record["name"]

    # the tag shows up while it is still going, then turns to success — pushed, no reload
    status = row_status(page, name)
    status.wait_for(state="visible", timeout=LIVE_TIMEOUT)
    first = status.inner_text()
    assert first in ("pending", "running"), first
    screenshot(page, "panel-live-running", locator=panel)
    expect_text(status, "success")
    assert_not_reloaded(page)
    assert row(page, name).locator(".jp-pipelines-pipeline").inner_text().endswith("summing")

    # the details: every operation, its status, and what it printed
    select(page, name)
    ops = node_ids(pipeline)
    for op_name in ("numbers", "total"):
        op = job(page, name, ops[op_name])
        expect_text(op.locator(".jp-pipelines-job-header .jp-pipelines-status"), "success")
    from playwright.sync_api import expect

    expect(job(page, name, ops["numbers"]).locator(".jp-pipelines-log")).to_contain_text("making 7 numbers")
    expect(job(page, name, ops["total"]).locator(".jp-pipelines-log")).to_contain_text("the total is 21")
    assert details(page, name).locator(".jp-pipelines-job").count() == 2
    assert_not_reloaded(page)
    screenshot(page, "panel-success-details", locator=panel)


def test_failed_execution_shows_its_error(jupyterlab: LabServer, page: Any) -> None:
    from playwright.sync_api import expect

    panel = open_panel(page)
    pipeline = failing("failing")
    name = jupyterlab.submit(pipeline, unique("broken"))["name"]
    expect_text(row_status(page, name), "failed")

    select(page, name)
    ops = node_ids(pipeline)
    failed = job(page, name, ops["explode"])
    expect_text(failed.locator(".jp-pipelines-job-header .jp-pipelines-status"), "failed")
    expect(failed.locator(".jp-pipelines-error")).to_contain_text("kaboom: 3 items are too many")
    expect(failed.locator(".jp-pipelines-error")).to_contain_text("ValueError")
    expect(failed.locator(".jp-pipelines-log")).to_contain_text("about to fail")
    expect_text(job(page, name, ops["numbers"]).locator(".jp-pipelines-job-header .jp-pipelines-status"),
                "success")
    screenshot(page, "panel-failed-details", locator=panel)


def test_cancel_a_running_execution(jupyterlab: LabServer, page: Any) -> None:
    from playwright.sync_api import expect

    panel = open_panel(page)
    pipeline = sleeping("sleeping")
    name = jupyterlab.submit(pipeline, unique("long"))["name"]
    expect_text(row_status(page, name), "running")
    select(page, name)
    op = job(page, name, node_ids(pipeline)["sleeper"])
    expect(op.locator(".jp-pipelines-log")).to_contain_text("going to sleep")  # streamed while it runs
    screenshot(page, "panel-running-details", locator=panel)

    started = time.monotonic()
    details(page, name).locator(".jp-pipelines-cancel").click()
    expect_text(row_status(page, name), "canceled", timeout=30_000)
    expect_text(details(page, name).locator(".jp-pipelines-details-header .jp-pipelines-status"), "canceled")
    assert time.monotonic() - started < 30  # not the 60 s sleep
    assert jupyterlab.execution(name, PROJECT)["status"] == "canceled"
    expect(details(page, name).locator(".jp-pipelines-cancel")).to_have_count(0)
    screenshot(page, "panel-canceled", locator=panel)


def test_rerun_and_delete(jupyterlab: LabServer, page: Any, tmp_path: Any) -> None:
    from playwright.sync_api import expect

    panel = open_panel(page)
    pipeline = flaky_pipeline("flaky", str(tmp_path / "attempted"))
    name = jupyterlab.submit(pipeline, unique("flaky"))["name"]
    expect_text(row_status(page, name), "failed")
    select(page, name)
    ops = node_ids(pipeline)
    expect(job(page, name, ops["flaky"]).locator(".jp-pipelines-error")).to_contain_text("first attempt fails")

    # Re-run runs what did not succeed, in the same execution: it ends in success this time
    details(page, name).locator(".jp-pipelines-rerun").click()
    expect_text(row_status(page, name), "success")
    expect_text(job(page, name, ops["total"]).locator(".jp-pipelines-job-header .jp-pipelines-status"), "success")
    expect(job(page, name, ops["flaky"]).locator(".jp-pipelines-log")).to_contain_text("second attempt works")
    expect(job(page, name, ops["total"]).locator(".jp-pipelines-log")).to_contain_text("the total is 6")
    screenshot(page, "panel-rerun-success", locator=panel)

    # Delete asks first; Cancel keeps it, Delete removes it from the panel and the server
    details(page, name).locator(".jp-pipelines-delete").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(name)
    screenshot(page, "panel-delete-confirmation")
    dialog.locator("button.jp-mod-reject").click()
    expect(dialog).to_have_count(0)
    expect(row(page, name)).to_have_count(1)
    details(page, name).locator(".jp-pipelines-delete").click()
    page.locator(".jp-Dialog button.jp-mod-warn").click()
    expect(row(page, name)).to_have_count(0)
    assert jupyterlab.api(f"pipelines/api/executions/{name}", params={"project": PROJECT},
                          check=False).status_code == 404


def test_export_downloads_a_zip_with_main_py(jupyterlab: LabServer, page: Any,
                                             finished: dict[str, Any]) -> None:
    open_panel(page)
    name = finished["name"]
    expect_text(row_status(page, name), "success")
    select(page, name)
    with page.expect_download(timeout=LIVE_TIMEOUT) as download_info:
        details(page, name).locator(".jp-pipelines-export").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip"), download.suggested_filename
    target = ARTIFACTS / f"panel-export-{download.suggested_filename}"
    download.save_as(str(target))
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert any(n == "main.py" or n.endswith("/main.py") for n in names), names
    assert not details(page, name).locator(".jp-pipelines-alert-error").count()


def test_compare_two_tags_shows_the_diff(jupyterlab: LabServer, page: Any, browser_context: Any,
                                        finished: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    panel = open_panel(page)
    other = jupyterlab.submit(summing("summing", n=9), unique("changed"))["name"]
    jupyterlab.wait_status(other, "success", PROJECT)
    expect_text(row_status(page, other), "success")
    select(page, other)
    chooser = details(page, other).locator(".jp-pipelines-compare-select")
    chooser.focus()  # loads the project's tags
    expect(chooser.locator(f'option[value="{finished["tag"] or finished["name"]}"]')).to_have_count(1)
    chooser.select_option(finished["tag"] or finished["name"])
    details(page, other).locator(".jp-pipelines-compare").click()
    diff = details(page, other).locator(".jp-pipelines-diff")
    try:
        expect(diff).to_be_visible()
    except AssertionError:
        crashed = page.locator(f"{PANEL} .jp-pipelines-body").count() == 0
        errors = [line.splitlines()[0] for line in browser_context.browser_console if "error" in line]
        served = jupyterlab.api(f"pipelines/api/tags/{other}/diff/{finished['name']}", params={"project": PROJECT})
        raise AssertionError(f"no diff shown{' (the panel stopped rendering)' if crashed else ''}; "
                             f"served: {served.text[:300]}; browser errors: {errors[:3]}") from None
    changed = diff.locator(".jp-pipelines-diff-changed")
    expect(changed).to_have_count(1)
    expect(changed).to_contain_text("n: 9 → 4")
    screenshot(page, "panel-compare", locator=panel)


def test_panel_restores_after_reload(jupyterlab: LabServer, page: Any, open_lab: Any,
                                     finished: dict[str, Any]) -> None:
    open_panel(page)
    name = finished["name"]
    select(page, name)
    # the selection reaches the workspace (saved by the state database) before the reload
    deadline = time.monotonic() + 30
    while True:
        data = jupyterlab.api("lab/api/workspaces/default").json().get("data", {})
        left = (data.get("layout-restorer:data") or {}).get("left") or {}
        if name in json.dumps(data.get("jupyter-pipelines:panel")) and "jupyter-pipelines" in str(left.get("current")):
            break
        assert time.monotonic() < deadline, f"the panel's state was never saved: {data}"
        time.sleep(0.2)
    page.reload(wait_until="domcontentloaded")
    wait_for_lab(page)
    page.locator(PANEL).wait_for(state="visible")  # the panel is open again, without clicking its tab
    details(page, name).wait_for(state="visible")  # and shows the same execution
    expect_text(details(page, name).locator(".jp-pipelines-details-header .jp-pipelines-status"), "success")
    expect_text(row_status(page, name), "success")
    screenshot(page, "panel-after-reload")
