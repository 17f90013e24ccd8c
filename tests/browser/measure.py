"""In-page measurements of the side panel and the notebook status view, shared by the browser tests
and ``benchmarks/bench_browser.py``.

- **print → DOM latency**: an operation (:data:`STAMPED_SOURCE`, written into the server's root as
  ``browser_stamped.py`` so that a notebook can import it too) prints ``stamp <i> <time.time()>``
  lines; before printing line ``i`` it waits for the file ``<gate>.<i>``, and before returning for
  ``<gate>.<lines>``. A MutationObserver in the page (:data:`WATCH_STAMPS`) records ``Date.now()``
  when each stamped line first appears in the watched log elements. :func:`follow_stamps` opens the
  gates one at a time, each only once the previous line is in the DOM: every line therefore
  arrives while the job still runs (it is blocked on the next gate), and each latency is that of
  one line on an otherwise idle stream. The job and the browser run on the same machine, so the
  stamp and ``Date.now()`` read the same clock.
- **graph render time**: :func:`graph_render_time` clicks an execution's row in the page and takes
  ``performance.now()`` from the click to the moment a MutationObserver sees every node element of
  the graph (``dom_ms``), and to the frame after that (``painted_ms``).
"""
from __future__ import annotations

import importlib.util
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_pipelines import Pipeline, operation

STAMPED_MODULE = "browser_stamped"
STAMPED_SOURCE = '''"""Written by tests/browser/measure.py: a job that prints wall-clock stamps, one per gate."""
from jupyter_pipelines import Pipeline, operation


@operation
def stamped(lines: int = 5, gate: str = ""):
    """Print ``stamp <i> <time.time()>`` once ``<gate>.<i>`` exists; return once ``<gate>.<lines>`` does."""
    import os
    import time

    for i in range(lines + 1):
        deadline = time.time() + 600
        while not os.path.exists(f"{gate}.{i}") and time.time() < deadline:
            time.sleep(0.002)
        if i < lines:
            print(f"stamp {i} {time.time():.6f}", flush=True)
    return lines


def stamped_pipeline(lines: int, gate: str, project: str = "browser") -> Pipeline:
    with Pipeline("stamped", project=project) as pipeline:
        stamped(lines=lines, gate=gate)
    return pipeline
'''

# Records, in window[key], when each "stamp <i> <t>" line first shows in an element matching the
# selector: {i: {stamp: t in ms, shown: Date.now()}}. Observes the whole document: the log element
# may be created after the observer.
WATCH_STAMPS = r"""([selector, key]) => {
  const seen = (window[key] = {});
  const pattern = /stamp (\d+) ([0-9.]+)/g;
  const record = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll(selector)) {
      for (const m of (el.textContent || '').matchAll(pattern)) {
        if (!(m[1] in seen)) { seen[m[1]] = {stamp: parseFloat(m[2]) * 1000, shown: now}; }
      }
    }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
  record();
}"""

# Clicks the row and resolves with the time from the click to `count` elements matching `nodes`, and
# to the end of the response of the first request whose URL holds `request` (the execution's GET).
GRAPH_RENDER = r"""([row, nodes, count, request]) => new Promise((resolve, reject) => {
  const target = document.querySelector(row);
  if (!target) { reject(new Error('no row ' + row)); return; }
  let done = false;
  performance.clearResourceTimings();  // room in the buffer (250 entries) for this measurement's
  const observer = new MutationObserver(() => check());
  const timer = setTimeout(() => { observer.disconnect(); reject(new Error(
    'only ' + document.querySelectorAll(nodes).length + ' of ' + count + ' nodes after 60 s')); }, 60000);
  const started = performance.now();
  const check = () => {
    if (done || document.querySelectorAll(nodes).length < count) { return; }
    done = true;
    const dom = performance.now() - started;
    observer.disconnect();
    clearTimeout(timer);
    const fetched = performance.getEntriesByType('resource').find(
      e => e.startTime >= started && e.name.includes(request));
    requestAnimationFrame(() => setTimeout(() => resolve({
      dom_ms: dom, painted_ms: performance.now() - started, fetched_ms: fetched ? fetched.responseEnd - started : -1,
      requests: performance.getEntriesByType('resource').filter(e => e.startTime >= started).length}), 0));
  };
  observer.observe(document.body, {subtree: true, childList: true});
  target.click();
  check();
})"""


def write_stamped_module(root: Path) -> Any:
    """Write :data:`STAMPED_SOURCE` into the server's root and import it here (the same file)."""
    path = root / f"{STAMPED_MODULE}.py"
    if not path.exists():
        path.write_text(STAMPED_SOURCE)
    module = sys.modules.get(STAMPED_MODULE)
    if module is None or getattr(module, "__file__", None) != str(path):
        spec = importlib.util.spec_from_file_location(STAMPED_MODULE, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[STAMPED_MODULE] = module
        spec.loader.exec_module(module)
    return module


def watch_stamps(page: Any, selector: str, key: str) -> None:
    page.evaluate(WATCH_STAMPS, [selector, key])


def follow_stamps(page: Any, key: str, lines: int, gate: str, timeout_ms: float = 60_000,
                  while_running: Callable[[int], None] | None = None) -> list[float]:
    """Open the gates one by one, each once the line before is in the DOM; the latencies in ms.

    ``while_running(i)`` is called when line ``i`` has shown (the job is then waiting for the
    next gate): e.g. a check that the server still says ``running``.
    """
    for i in range(lines):
        Path(f"{gate}.{i}").touch()
        try:
            page.wait_for_function("([key, i]) => !!(window[key] && window[key][i])", arg=[key, str(i)],
                                   timeout=timeout_ms)
        except Exception as error:
            seen = page.evaluate("key => Object.keys(window[key] || {})", key)
            raise AssertionError(f"line {i} never reached the page in {timeout_ms / 1000:.0f} s "
                                 f"(lines seen: {seen})") from error
        if while_running is not None:
            while_running(i)
    Path(f"{gate}.{lines}").touch()  # the job may return
    seen = page.evaluate("key => window[key]", key)
    return [seen[str(i)]["shown"] - seen[str(i)]["stamp"] for i in range(lines)]


def graph_render_time(page: Any, row: str, nodes: str, count: int, request: str = "") -> dict[str, float]:
    """Click ``row``; ms until ``count`` elements match ``nodes`` (``dom_ms``), the frame after
    (``painted_ms``), the end of the first response whose URL holds ``request`` (``fetched_ms``, -1 if
    none) and the number of requests made meanwhile (``requests``)."""
    return page.evaluate(GRAPH_RENDER, [row, nodes, count, request or "\u0000"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def spread(values: list[float]) -> dict[str, float]:
    """Samples, p50, p95 and max of latencies in ms."""
    return {"samples": len(values), "p50_ms": statistics.median(values), "p95_ms": percentile(values, 95),
            "max_ms": max(values)}


# -- a 200-operation pipeline --------------------------------------------------------------------
@operation
def seed(i: int = 0):
    return i


@operation
def mix(a, b):
    return a + b


def wide_pipeline(operations: int = 200, width: int = 10, project: str = "browser") -> Pipeline:
    """``operations`` operations in layers of ``width``: a first layer of ``seed``s, then each ``mix``
    reads two neighbours of the layer above (``operations`` nodes, about 2 × ``operations`` edges)."""
    with Pipeline(f"wide{operations}", project=project) as pipeline:
        layer = [seed(i=i) for i in range(width)]
        made = width
        while made < operations:
            count = min(width, operations - made)
            layer = [mix(layer[j % len(layer)], layer[(j + 1) % len(layer)]) for j in range(count)]
            made += count
    return pipeline


# -- the two print → DOM flows (tests and benchmark) ----------------------------------------------
def panel_log_latencies(server: Any, page: Any, lines: int, gate_dir: Path, project: str = "browser",
                        timeout_ms: float = 60_000) -> tuple[str, list[float]]:
    """Run :data:`STAMPED_SOURCE` with the side panel (open in ``page``) showing it; its name and the
    latencies (ms) of its lines in the panel's log view of the running operation."""
    from .conftest import PANEL
    from .test_panel import select

    module = write_stamped_module(server.root)
    gate = str(gate_dir / "gate")
    name = server.submit(module.stamped_pipeline(lines, gate, project=project), f"stamped_{uuid.uuid4().hex[:6]}")[
        "name"]
    select(page, name)
    job = page.locator(f'{PANEL} .jp-pipelines-details[data-execution="{name}"] .jp-pipelines-job[data-op="stamped"]')
    job.locator('.jp-pipelines-job-header .jp-pipelines-status[data-status="running"]').wait_for(timeout=timeout_ms)
    job.locator(".jp-pipelines-log").wait_for(timeout=timeout_ms)
    key = f"__jpStamps_{name}"
    watch_stamps(page, f'{PANEL} .jp-pipelines-details[data-execution="{name}"] '
                       '.jp-pipelines-job[data-op="stamped"] .jp-pipelines-log', key)
    latencies = follow_stamps(page, key, lines, gate, timeout_ms, while_running=still_running(server, name, project))
    return name, latencies


def notebook_log_latencies(server: Any, open_lab: Callable[..., Any], lines: int, gate_dir: Path,
                           project: str = "browser-nb", timeout_ms: float = 180_000
                           ) -> tuple[Any, str, list[float]]:
    """The same in a notebook's live status view (``execution`` as a cell's value); the page, the
    execution's name and the latencies (ms)."""
    from .test_notebook_views import run_cell, write_notebook
    from .test_notebook_widgets import VIEW, wait_for_kernel

    write_stamped_module(server.root)
    gate = str(gate_dir / "gate")
    name = f"stamped-{uuid.uuid4().hex[:6]}"
    notebook = write_notebook(server, f"{name}.ipynb", [
        f"from {STAMPED_MODULE} import stamped_pipeline",
        f"execution = stamped_pipeline({lines}, {gate!r}, project={project!r}).run(name={name!r})\nexecution",
    ])
    page = open_lab(f"lab/tree/{notebook}?reset")
    wait_for_kernel(page)
    run_cell(page, 0)
    view = run_cell(page, 1).locator(VIEW)
    view.wait_for(state="visible", timeout=timeout_ms)
    view.locator('.jp-pipelines-gnode[data-node="stamped"][data-status="running"]').first.wait_for(
        timeout=timeout_ms)
    key = f"__jpStamps_{name}"
    watch_stamps(page, f"{VIEW} .jp-pipelines-log", key)
    latencies = follow_stamps(page, key, lines, gate, timeout_ms, while_running=still_running(server, name, project))
    return page, name, latencies


def still_running(server: Any, name: str, project: str) -> Callable[[int], None]:
    """A check for :func:`follow_stamps`: the server says the execution and its job still run."""
    def check(line: int) -> None:
        record = server.execution(name, project)
        statuses = {job["op"]: job["status"] for job in record["jobs"]}
        assert record["status"] == "running" and statuses.get("stamped") == "running", (line, record["status"],
                                                                                        statuses)
    return check
