"""Browser figures, in a real JupyterLab driven by headless Chromium (the browser tests' plumbing).

    python benchmarks/bench_browser.py [--lines 60] [--repeat 5]

Needs what the browser tests need: Debian's Chromium (``/usr/bin/chromium`` or
``$JUPYTER_PIPELINES_CHROMIUM``), the ``playwright`` package (no browser download) and the lab
extension built in the checkout (``cd labextension && jlpm install && jlpm build:prod``). The server
and its kernels run this checkout's ``jupyter_pipelines``. Measures

- **print → DOM**: an operation prints lines stamped with ``time.time()``; a MutationObserver in the
  page records ``Date.now()`` when each line appears in the side panel's log view of that running
  operation, and in a notebook's live status view (target p95 ≤ 250 ms each). Each line is printed
  once the one before it is in the page, so each is one line on an idle stream
  (``tests/browser/measure.py``);
- **200-operation graph**: from the click on the execution's row in the side panel to its 200 node
  elements in the DOM, ``performance.now()`` in the page (target ≤ 1 s); also to the frame after, and
  when the execution's GET was answered (the rest is the page's: layout and React). Per freshly loaded
  page: the first graph it draws, then a second 200-operation graph of another shape.

Writes benchmarks/results/browser.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.browser, and this checkout's jupyter_pipelines
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])

from publish import publish  # noqa: E402

from tests.browser.conftest import (  # noqa: E402
    PANEL,
    LabServer,
    launch_chromium,
    open_panel,
    running_lab,
    wait_for_lab,
)
from tests.browser.measure import (  # noqa: E402
    graph_render_time,
    notebook_log_latencies,
    panel_log_latencies,
    spread,
    wide_pipeline,
)

TARGET_LATENCY_P95_MS = 250
TARGET_RENDER_MS = 1000


def render_times(lab: LabServer, context, repeat: int, operations: int = 200) -> dict[str, list[dict[str, float]]]:
    """Per fresh page load: the first graph the page draws (``cold``), then a second one of another
    shape (``warm``: the layout code has run once; each graph's layout is drawn for the first time)."""
    names = []
    for width in (10, 8):
        names.append(lab.submit(wide_pipeline(operations, width), f"wide{operations}x{width}")["name"])
    for name in names:
        lab.wait_status(name, "success", "browser", timeout=600)
    times: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(repeat):
        page = context.new_page()
        page.goto(lab.lab_url("lab?reset"), wait_until="domcontentloaded")  # nothing selected, nothing cached
        wait_for_lab(page)
        open_panel(page)
        for kind, name in zip(("cold", "warm"), names, strict=True):
            row = f'{PANEL} .jp-pipelines-row[data-execution="{name}"]'
            page.locator(row).wait_for(state="visible")
            nodes = f'{PANEL} .jp-pipelines-details[data-execution="{name}"] .jp-pipelines-gnode-operation'
            times[kind].append(graph_render_time(page, row, nodes, operations, request=f"/executions/{name}?"))
        page.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=60, help="stamped lines per view (samples)")
    parser.add_argument("--repeat", type=int, default=5, help="page loads for the 200-operation graph")
    options = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as base, running_lab(Path(base), Path(base) / "jupyterlab.log") as lab, \
            sync_playwright() as driver:
        browser = launch_chromium(driver)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="UTC")
        context.set_default_timeout(60_000)

        def open_lab(path: str = "lab", page=None):
            page = page or context.new_page()
            page.goto(lab.lab_url(path), wait_until="domcontentloaded")
            wait_for_lab(page)
            return page

        started = time.monotonic()
        renders = render_times(lab, context, options.repeat)
        page = open_lab("lab?reset")
        open_panel(page)
        gates = Path(base) / "gates"
        (gates / "panel").mkdir(parents=True)
        (gates / "notebook").mkdir()
        _, panel = panel_log_latencies(lab, page, options.lines, gates / "panel")
        page.close()
        notebook_page, _, notebook = notebook_log_latencies(lab, open_lab, options.lines, gates / "notebook")
        notebook_page.close()
        for kernel in lab.api("api/kernels").json():
            lab.api(f"api/kernels/{kernel['id']}", "DELETE", check=False)
        version = browser.version
        browser.close()

    def render(times: list[dict[str, float]]) -> dict[str, float]:
        dom, painted = [t["dom_ms"] for t in times], [t["painted_ms"] for t in times]
        return {"page_loads": len(times), "dom_median_ms": statistics.median(dom), "dom_max_ms": max(dom),
                "painted_median_ms": statistics.median(painted), "painted_max_ms": max(painted),
                "get_answered_median_ms": statistics.median(t["fetched_ms"] for t in times),
                "target_ms": TARGET_RENDER_MS}

    results = {
        "panel_print_to_dom": {**spread(panel), "target_p95_ms": TARGET_LATENCY_P95_MS},
        "notebook_status_view_print_to_dom": {**spread(notebook), "target_p95_ms": TARGET_LATENCY_P95_MS},
        "panel_graph_200_operations_first_in_page": render(renders["cold"]),
        "panel_graph_200_operations_second_in_page": render(renders["warm"]),
    }
    publish("browser", results, cores=os.cpu_count(), chromium=version, seconds=round(time.monotonic() - started))


if __name__ == "__main__":
    main()
