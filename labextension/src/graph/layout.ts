/**
 * Layout of a pipeline graph, left to right, with dagre. Pure: the result is
 * boxes for the nodes and polylines (with a label position) for the edges,
 * in one coordinate space starting at (0, 0). The view draws it as SVG.
 */
import { Graph, layout } from '@dagrejs/dagre';

import type { IGraph } from '../model';

export interface IPoint {
  x: number;
  y: number;
}

export interface INodeBox {
  id: string;
  kind: string;
  label: string;
  /** The centre of the box. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IEdgePath {
  /** Unique among the edges (source, output, target, input). */
  id: string;
  source: string;
  target: string;
  /** The output's name: the edge's label. */
  label: string;
  input: string;
  points: IPoint[];
  /** Where the label goes (its centre). */
  labelX: number;
  labelY: number;
}

export interface IGraphLayout {
  nodes: INodeBox[];
  edges: IEdgePath[];
  width: number;
  height: number;
}

/** Sizes used to lay out and to draw (px at zoom 1). */
export const SIZES = {
  charWidth: 7,
  labelCharWidth: 6,
  padding: 12,
  minWidth: 72,
  /** Operations also show "running 12m 34s" under their label. */
  minOperationWidth: 112,
  maxWidth: 200,
  operationHeight: 40,
  artifactHeight: 28,
  edgeLabelHeight: 14,
  margin: 16
};

/** The width of a node's box for its label (clamped). */
export function nodeWidth(label: string, kind = 'operation'): number {
  const natural = label.length * SIZES.charWidth + 2 * SIZES.padding;
  const min = kind === 'operation' ? SIZES.minOperationWidth : SIZES.minWidth;
  return Math.max(min, Math.min(SIZES.maxWidth, natural));
}

function edgeId(e: {
  source: string;
  output: string;
  target: string;
  input: string;
}): string {
  return `${e.source}\u0000${e.output}\u0000${e.target}\u0000${e.input}`;
}

/** The empty layout. */
export const EMPTY_LAYOUT: IGraphLayout = {
  nodes: [],
  edges: [],
  width: 0,
  height: 0
};

/**
 * Lay a graph out left to right. Edges naming an unknown node and repeated
 * node ids are left out.
 */
export function layoutGraph(graph: IGraph | null | undefined): IGraphLayout {
  const nodes = graph?.nodes ?? [];
  if (!nodes.length) {
    return EMPTY_LAYOUT;
  }
  const g = new Graph({ multigraph: true });
  g.setGraph({
    rankdir: 'LR',
    nodesep: 18,
    ranksep: 56,
    edgesep: 8,
    marginx: SIZES.margin,
    marginy: SIZES.margin
  });
  const seen = new Set<string>();
  const kept = nodes.filter(n => {
    if (!n || typeof n.id !== 'string' || seen.has(n.id)) {
      return false;
    }
    seen.add(n.id);
    return true;
  });
  for (const n of kept) {
    const label = n.label || n.id;
    g.setNode(n.id, {
      width: nodeWidth(label, String(n.kind)),
      height:
        n.kind === 'operation' ? SIZES.operationHeight : SIZES.artifactHeight
    });
  }
  const edges = (graph?.edges ?? []).filter(
    e => e && seen.has(e.source) && seen.has(e.target) && e.source !== e.target
  );
  const ids = new Set<string>();
  for (const e of edges) {
    const id = edgeId(e);
    if (ids.has(id)) {
      continue;
    }
    ids.add(id);
    const label = e.output ?? '';
    g.setEdge(
      e.source,
      e.target,
      {
        width: label ? label.length * SIZES.labelCharWidth + 6 : 0,
        height: label ? SIZES.edgeLabelHeight : 0,
        labelpos: 'c'
      },
      id
    );
  }
  layout(g);
  const boxes: INodeBox[] = kept.map(n => {
    const placed = g.node(n.id);
    return {
      id: n.id,
      kind: String(n.kind),
      label: n.label || n.id,
      x: placed.x ?? 0,
      y: placed.y ?? 0,
      width: placed.width,
      height: placed.height
    };
  });
  const paths: IEdgePath[] = [];
  const byId = new Map(edges.map(e => [edgeId(e), e]));
  for (const ref of g.edges()) {
    const placed = g.edge(ref);
    const e = byId.get(ref.name ?? '');
    if (!e) {
      continue;
    }
    const points = (placed.points ?? []).map((p: IPoint) => ({
      x: p.x,
      y: p.y
    }));
    const middle = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
    paths.push({
      id: ref.name ?? edgeId(e),
      source: e.source,
      target: e.target,
      label: e.output ?? '',
      input: e.input ?? '',
      points,
      labelX: placed.x ?? middle.x,
      labelY: placed.y ?? middle.y
    });
  }
  const size = g.graph();
  return {
    nodes: boxes,
    edges: paths,
    width: size.width ?? 0,
    height: size.height ?? 0
  };
}

/**
 * A key that changes only when the layout would: the nodes (ids, kinds,
 * labels) and the edges. Lets a view keep its layout across refreshes.
 */
export function layoutKey(graph: IGraph | null | undefined): string {
  if (!graph) {
    return '';
  }
  const nodes = (graph.nodes ?? []).map(n => [n.id, n.kind, n.label]);
  const edges = (graph.edges ?? []).map(e => [
    e.source,
    e.output,
    e.target,
    e.input
  ]);
  return JSON.stringify([nodes, edges]);
}

/** An SVG path through the points, rounded at the bends. */
export function edgePathData(points: readonly IPoint[]): string {
  if (!points.length) {
    return '';
  }
  const f = (n: number) => Math.round(n * 10) / 10;
  const [first, ...rest] = points;
  if (rest.length === 0) {
    return `M${f(first.x)},${f(first.y)}`;
  }
  let d = `M${f(first.x)},${f(first.y)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i];
    const q = rest[i + 1];
    const mx = (p.x + q.x) / 2;
    const my = (p.y + q.y) / 2;
    d += ` Q${f(p.x)},${f(p.y)} ${f(mx)},${f(my)}`;
  }
  const last = rest[rest.length - 1];
  d += ` L${f(last.x)},${f(last.y)}`;
  return d;
}

/** A pan/zoom transform: screen = graph * k + (x, y). */
export interface IViewTransform {
  k: number;
  x: number;
  y: number;
}

/**
 * The transform that fits a layout into a viewport (centred), with the
 * scale clamped to [minScale, maxScale]. When clamping makes the graph
 * larger than the viewport, its start (left, top) is shown.
 */
export function fitTransform(
  layout: { width: number; height: number },
  viewport: { width: number; height: number },
  minScale = 0.05,
  maxScale = 1.5
): IViewTransform {
  if (
    layout.width <= 0 ||
    layout.height <= 0 ||
    viewport.width <= 0 ||
    viewport.height <= 0
  ) {
    return { k: 1, x: 0, y: 0 };
  }
  const k = Math.max(
    minScale,
    Math.min(
      maxScale,
      viewport.width / layout.width,
      viewport.height / layout.height
    )
  );
  const w = layout.width * k;
  const h = layout.height * k;
  return {
    k,
    x: w <= viewport.width ? (viewport.width - w) / 2 : 0,
    y: h <= viewport.height ? (viewport.height - h) / 2 : 0
  };
}

/** Zoom by `factor` keeping the graph point under (px, py) in place. */
export function zoomAt(
  t: IViewTransform,
  factor: number,
  px: number,
  py: number,
  minScale = 0.05,
  maxScale = 4
): IViewTransform {
  const k = Math.max(minScale, Math.min(maxScale, t.k * factor));
  const ratio = k / t.k;
  return { k, x: px - (px - t.x) * ratio, y: py - (py - t.y) * ratio };
}

const cache = new Map<string, IGraphLayout>();
const CACHE_SIZE = 8;

/**
 * The layout of a graph, computed once per structure (see `layoutKey`):
 * status updates and the panel and main area showing the same graph do
 * not lay it out again.
 */
export function cachedLayout(graph: IGraph | null | undefined): IGraphLayout {
  const key = layoutKey(graph);
  const known = cache.get(key);
  if (known) {
    cache.delete(key);
    cache.set(key, known);
    return known;
  }
  const computed = layoutGraph(graph);
  cache.set(key, computed);
  if (cache.size > CACHE_SIZE) {
    cache.delete(cache.keys().next().value as string);
  }
  return computed;
}
