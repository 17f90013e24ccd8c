"""The pipeline graph as a notebook widget, and the same graph drawn as static SVG.

:class:`PipelineGraph` is the Python side of the lab extension's ipywidgets view (module
``jupyter-pipelines``, ``PipelineGraphModel``/``PipelineGraphView``): the dagre/SVG graph of the
side panel, fed by the traits ``graph`` (``engine.history.graph_of``'s shape), ``states`` (per node:
status, started, ended, error), ``now`` (the time the states were read), ``height`` and
``selected`` (set by a click in the page).

:func:`graph_svg` draws the same graph in Python (a simple layered layout, left to right, nodes
coloured by status, inline styles only): what shows where the frontend module is missing
(``_repr_mimebundle_``'s ``text/html``, the live views' fallback) and in the snapshots saved with
a notebook.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as w
from traitlets import Dict, Int, Unicode

from ..engine.history import graph_of
from ..pipeline import Pipeline
from ..store.models import now as time_now
from ..store.models import seconds_between
from .display import Shown
from .style import STATUS_COLORS, esc, format_seconds, help_text

MODULE_NAME = "jupyter-pipelines"
MODULE_VERSION = "0.1.0"
DEFAULT_HEIGHT = 260

# the sizes of the lab extension's layout (labextension/src/graph/layout.ts)
CHAR_WIDTH = 7
PADDING = 12
MIN_WIDTH = 72
MIN_OPERATION_WIDTH = 112
MAX_WIDTH = 200
OPERATION_HEIGHT = 40
ARTIFACT_HEIGHT = 28
NODE_SEP = 18
RANK_SEP = 56
MARGIN = 16
PENDING = ("#f5f5f5", "#212121")


def pipeline_graph(pipeline: Pipeline) -> dict[str, Any]:
    """The graph of a pipeline, as an execution's graph reads (``GET executions/{name}``)."""
    return graph_of(pipeline.to_dict())


def node_states(jobs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``states`` from an execution's jobs (``{node id: {"status", "started", "ended", "error"}}``)."""
    states = {}
    for job in jobs:
        state = {"status": job.get("status") or "pending", "started": job.get("started"),
                 "ended": job.get("ended"), "error": job.get("error")}
        if job.get("duration") is not None:
            state["duration"] = job["duration"]
        states[job["op"]] = state
    return states


class PipelineGraph(w.DOMWidget):
    """The graph of a pipeline or execution; a click on a node sets ``selected`` (its id)."""

    _model_name = Unicode("PipelineGraphModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("PipelineGraphView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    graph: Dict[str, Any] = Dict(default_value={"nodes": [], "edges": []},
                                 help="nodes and edges (graph_of's shape)").tag(sync=True)
    states = Dict(help="node id -> {status, started, ended, error}").tag(sync=True)
    now = Unicode("", help="when the states were read (ISO 8601)").tag(sync=True)
    selected = Unicode("", help="the selected node's id (a click in the view sets it)").tag(sync=True)
    height = Int(DEFAULT_HEIGHT, help="height of the view in px").tag(sync=True)

    @classmethod
    def of(cls, pipeline: Pipeline, **traits: Any) -> PipelineGraph:
        """The graph of ``pipeline`` (before any run: every node pending)."""
        return cls(graph=pipeline_graph(pipeline), **traits)

    def update_states(self, jobs: Iterable[Mapping[str, Any]], now: str | None = None) -> bool:
        """Colour the nodes after ``jobs`` (an execution's); True when something changed."""
        states = node_states(jobs)
        if states == self.states:
            return False
        with self.hold_sync():
            self.states = states
            self.now = now or time_now()
        return True

    def svg(self) -> str:
        return graph_svg(self.graph, self.states, self.selected)

    def text(self) -> str:
        return graph_text(self.graph, self.states)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, plus a static SVG and a text listing for frontends without its module."""
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.svg()
        bundle["text/plain"] = self.text()
        return bundle


#: The static SVG shows where the widget's view does not render (its module is missing: an error widget).
GRAPH_STYLE = ("<style>"
               ".jp-pipelines-graph-box:has(.jp-pipelines-graph-widget) .jp-pipelines-graph-fallback{display:none}"
               ".jp-pipelines-graph-box .jupyter-widgets-error-widget{display:none}"
               ".jp-pipelines-graph-box .jp-pipelines-graph-widget{border:1px solid var(--jp-border-color2,#e0e0e0)}"
               "</style>")


class GraphBox:
    """A :class:`PipelineGraph` with its static SVG underneath, shown only where the widget's view does not."""

    def __init__(self, graph: PipelineGraph) -> None:
        self.graph = graph
        self.fallback = w.HTML()
        self.fallback.add_class("jp-pipelines-graph-fallback")
        self.box = w.VBox([w.HTML(GRAPH_STYLE), graph, self.fallback], layout=w.Layout(margin="4px 0"))
        self.box.add_class("jp-pipelines-graph-box")
        self.refresh()

    def refresh(self) -> None:
        value = self.graph.svg()
        if self.fallback.value != value:
            self.fallback.value = value


def pipeline_title(pipeline: Pipeline) -> str:
    kinds: list[str] = [node.kind for node in pipeline.nodes.values()]

    def count(kind: str, word: str) -> str:
        n = kinds.count(kind)
        return f"{n} {word}{'' if n == 1 else 's'}"

    return (f'<div style="font-size:14px"><b>Pipeline</b> <code>{esc(pipeline.name)}</code> '
            f'<span style="color:#757575;font-size:12px">· project {esc(pipeline.project)} · '
            f'{count("operation", "operation")}, {count("input", "input")}, {count("output", "output")}</span></div>')


class PipelineDisplay(Shown):
    """What a pipeline displays in a cell before any run: its graph (``p`` as a cell's value)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.graph = PipelineGraph.of(pipeline, height=DEFAULT_HEIGHT)
        self.graph_box = GraphBox(self.graph)
        hint = help_text(f"{pipeline.name}.execute() shows the execute dialog; .run() submits it; "
                         ".export() makes a zip that runs with python main.py.")
        self.widget = w.VBox([w.HTML(pipeline_title(pipeline)), self.graph_box.box, w.HTML(hint)])
        self.widget.add_class("jp-pipelines-pipeline-view")

    def snapshot_html(self) -> str:
        return pipeline_title(self.pipeline) + self.graph.svg()

    def snapshot_text(self) -> str:
        return f"{self.pipeline!r}\n{self.graph.text()}"


# -- the static drawing --------------------------------------------------------------------------------
def graph_text(graph: Mapping[str, Any], states: Mapping[str, Any] | None = None) -> str:
    states = states or {}
    lines = []
    for node in graph.get("nodes") or []:
        status = (states.get(node["id"]) or {}).get("status")
        kind = "" if node.get("kind") == "operation" else f" ({node.get('kind')})"
        lines.append(f"  {node['id']}{kind}" + (f": {status}" if status else ""))
    return "\n".join(["Pipeline graph:", *lines]) if lines else "Pipeline graph: (empty)"


def _width(label: str, kind: str) -> int:
    natural = len(label) * CHAR_WIDTH + 2 * PADDING
    return max(MIN_OPERATION_WIDTH if kind == "operation" else MIN_WIDTH, min(MAX_WIDTH, natural))


def _fit(label: str, width: int) -> str:
    most = max(3, (width - 2 * PADDING + 4) // CHAR_WIDTH)
    return label if len(label) <= most else label[:most - 1] + "…"


def layered_layout(graph: Mapping[str, Any]) -> dict[str, Any]:
    """Boxes (centre, size) in layers left to right: each node one layer after its furthest input;
    within a layer, nodes ordered by where their inputs are (two barycentre sweeps)."""
    nodes: dict[str, Mapping[str, Any]] = {}
    for node in graph.get("nodes") or []:
        if isinstance(node, Mapping) and isinstance(node.get("id"), str) and node["id"] not in nodes:
            nodes[node["id"]] = node
    edges = [e for e in graph.get("edges") or []
             if e.get("source") in nodes and e.get("target") in nodes and e["source"] != e["target"]]
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        parents[edge["target"]].append(edge["source"])
    layer: dict[str, int] = {}

    def depth(node_id: str, seen: frozenset[str] = frozenset()) -> int:
        if node_id not in layer:
            if node_id in seen:  # a cycle: the model refuses them; never loop here anyway
                return 0
            layer[node_id] = 1 + max((depth(p, seen | {node_id}) for p in parents[node_id]), default=-1)
        return layer[node_id]

    for node_id in nodes:
        depth(node_id)
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node_id in nodes:
        columns[layer[node_id]].append(node_id)
    for _ in range(2):
        for index in range(1, len(columns)):
            place = {n: i for i, n in enumerate(columns[index - 1])}
            position = {n: i for i, n in enumerate(columns[index])}

            def centre(node_id: str, place: dict[str, int] = place, position: dict[str, int] = position) -> float:
                near = [place[p] for p in parents[node_id] if p in place]
                return sum(near) / len(near) if near else float(position[node_id])

            columns[index].sort(key=centre)
    sizes = {}
    for node_id, node in nodes.items():
        kind = str(node.get("kind") or "operation")
        label = str(node.get("label") or node_id)
        sizes[node_id] = (_width(label, kind), OPERATION_HEIGHT if kind == "operation" else ARTIFACT_HEIGHT)
    heights = [sum(sizes[n][1] for n in column) + NODE_SEP * (len(column) - 1) for column in columns]
    total_height = max(heights, default=0)
    boxes: dict[str, dict[str, Any]] = {}
    x = MARGIN
    for column, height in zip(columns, heights, strict=True):
        width = max(sizes[n][0] for n in column)
        y = MARGIN + (total_height - height) / 2
        for node_id in column:
            box_width, box_height = sizes[node_id]
            boxes[node_id] = {"id": node_id, "kind": str(nodes[node_id].get("kind") or "operation"),
                              "label": str(nodes[node_id].get("label") or node_id), "x": x + width / 2,
                              "y": y + box_height / 2, "width": box_width, "height": box_height}
            y += box_height + NODE_SEP
        x += width + RANK_SEP
    return {"nodes": boxes, "edges": edges, "width": (x - RANK_SEP + MARGIN) if columns else 0,
            "height": total_height + 2 * MARGIN if columns else 0}


def _caption(state: Mapping[str, Any] | None) -> str:
    state = state or {}
    status = state.get("status") or "pending"
    if status in ("running", "success") and state.get("started"):
        seconds = seconds_between(state["started"], state.get("ended") if status == "success" else None)
        text = format_seconds(seconds)
        return f"running {text}" if status == "running" else text
    return status


def graph_svg(graph: Mapping[str, Any], states: Mapping[str, Any] | None = None, selected: str = "",
              max_width: int = 900) -> str:
    """The graph as an inline SVG (self-contained: inline styles only, scales down to ``max_width``)."""
    states = states or {}
    layout = layered_layout(graph)
    if not layout["nodes"]:
        return '<div class="jp-pipelines-graph-static" style="color:#757575;font-size:12px">(an empty pipeline)</div>'
    parts = []
    pairs: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for edge in layout["edges"]:
        pairs.setdefault((edge["source"], edge["target"]), []).append(edge)
    for edge in layout["edges"]:
        source, target = layout["nodes"][edge["source"]], layout["nodes"][edge["target"]]
        siblings = pairs[(edge["source"], edge["target"])]  # several outputs into one node: spread them
        shift = (siblings.index(edge) - (len(siblings) - 1) / 2) * min(10.0, source["height"] / (len(siblings) + 1))
        x1, y1 = source["x"] + source["width"] / 2, source["y"] + shift
        x2, y2 = target["x"] - target["width"] / 2 - 2, target["y"] + shift
        bend = max(20.0, (x2 - x1) / 2)
        label = str(edge.get("output") or "")
        parts.append(
            f'<g class="jp-pipelines-sedge"><title>{esc(label)} → {esc(edge.get("input"))}</title>'
            f'<path d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            f'fill="none" stroke="#9e9e9e" stroke-width="1.3" marker-end="url(#jp-pipelines-sarrow)"/>'
            + (f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 3:.1f}" font-size="10" text-anchor="middle" '
               f'fill="#616161" stroke="#ffffff" stroke-width="3" paint-order="stroke">{esc(label)}</text>'
               if label else "")
            + "</g>")
    for node_id, box in layout["nodes"].items():
        state = states.get(node_id)
        status = (state or {}).get("status") or "pending"
        fill, color = STATUS_COLORS.get(status, PENDING) if status != "pending" else PENDING
        operation = box["kind"] == "operation"
        left, top = box["x"] - box["width"] / 2, box["y"] - box["height"] / 2
        chosen = node_id == selected
        stroke = "#0d47a1" if chosen else "#9e9e9e"
        title = f"{box['label']}" + (f" ({node_id})" if box["label"] != node_id else "") + f"\n{status}"
        if state and state.get("error"):
            title += f"\n{state['error']}"
        label_y = 16 if operation else box["height"] / 2 + 4
        parts.append(
            f'<g class="jp-pipelines-snode" data-node="{esc(node_id)}" data-status="{esc(status)}" '
            f'transform="translate({left:.1f},{top:.1f})"><title>{esc(title)}</title>'
            f'<rect width="{box["width"]}" height="{box["height"]}" rx="{4 if operation else box["height"] / 2}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{3 if chosen else 1}"'
            f'{"" if status not in ("skipped", "canceled") else " stroke-dasharray=" + chr(34) + "4 3" + chr(34)}/>'
            f'<text x="{box["width"] / 2}" y="{label_y}" font-size="12" text-anchor="middle" fill="{color}" '
            f'font-weight="{600 if operation else 400}"{"" if operation else " font-style=" + chr(34) + "italic" + chr(34)}>'
            f'{esc(_fit(box["label"], box["width"]))}</text>'
            + (f'<text x="{box["width"] / 2}" y="31" font-size="10" text-anchor="middle" fill="{color}">'
               f'{esc(_caption(state))}</text>' if operation else "")
            + "</g>")
    width, height = layout["width"], layout["height"]
    return (f'<div class="jp-pipelines-graph-static" style="overflow-x:auto;max-width:100%">'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{min(width, max_width):.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="pipeline graph" '
            f'style="font-family:var(--jp-ui-font-family,sans-serif);max-width:100%;height:auto">'
            f'<defs><marker id="jp-pipelines-sarrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9e9e9e"/></marker></defs>'
            + "".join(parts) + "</svg></div>")
