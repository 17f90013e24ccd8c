import {
  edgePathData,
  fitTransform,
  layoutGraph,
  layoutKey,
  zoomAt
} from '../../src/graph/layout';
import type { IGraph, IGraphNode } from '../../src/model';

function node(id: string, kind = 'operation', label = id): IGraphNode {
  return { id, kind, label, operation: id, artifact: null, attributes: {} };
}

/**
 * A graph of n nodes like a big pipeline: every node reads one or two
 * outputs of the ten nodes before it (a fixed pseudo-random choice); every
 * tenth node is an input artifact.
 */
function bigGraph(n: number): IGraph {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const nodes = Array.from({ length: n }, (_, i) =>
    node(`op${i}`, i % 10 === 0 ? 'input' : 'operation', `operation_${i}`)
  );
  const edges = [];
  for (let i = 1; i < n; i++) {
    if (i % 10 === 0) {
      continue;
    }
    const inputs = 1 + Math.floor(random() * 2);
    for (let j = 0; j < inputs; j++) {
      const source = Math.max(0, i - 1 - Math.floor(random() * 10));
      edges.push({
        source: `op${source}`,
        target: `op${i}`,
        output: `out${j}`,
        input: `in${j}`
      });
    }
  }
  return { nodes, edges };
}

function overlap(
  a: { x: number; y: number; width: number; height: number },
  b: { x: number; y: number; width: number; height: number }
): boolean {
  return (
    Math.abs(a.x - b.x) * 2 < a.width + b.width &&
    Math.abs(a.y - b.y) * 2 < a.height + b.height
  );
}

describe('layoutGraph', () => {
  const small: IGraph = {
    nodes: [
      node('raw', 'input', 'raw-data'),
      node('load'),
      node('split'),
      node('out', 'output', 'train-set')
    ],
    edges: [
      { source: 'raw', target: 'load', output: 'raw-data', input: 'path' },
      { source: 'load', target: 'split', output: 'output', input: 'data' },
      { source: 'split', target: 'out', output: 'train', input: 'data' }
    ]
  };

  it('lays a chain out left to right, with labelled edges', () => {
    const l = layoutGraph(small);
    const x = Object.fromEntries(l.nodes.map(n => [n.id, n.x]));
    expect(x.raw).toBeLessThan(x.load);
    expect(x.load).toBeLessThan(x.split);
    expect(x.split).toBeLessThan(x.out);
    expect(l.edges.map(e => e.label)).toEqual(['raw-data', 'output', 'train']);
    for (const e of l.edges) {
      expect(e.points.length).toBeGreaterThanOrEqual(2);
      expect(isFinite(e.labelX) && isFinite(e.labelY)).toBe(true);
    }
    expect(l.width).toBeGreaterThan(0);
    const op = l.nodes.find(n => n.id === 'load')!;
    const input = l.nodes.find(n => n.id === 'raw')!;
    expect(op.height).toBeGreaterThan(input.height);
  });

  it('keeps two edges between the same nodes (two outputs)', () => {
    const l = layoutGraph({
      nodes: [node('a'), node('b')],
      edges: [
        { source: 'a', target: 'b', output: 'train', input: 'x' },
        { source: 'a', target: 'b', output: 'test', input: 'y' }
      ]
    });
    expect(l.edges.map(e => e.label).sort()).toEqual(['test', 'train']);
  });

  it('leaves out edges to unknown nodes and repeated nodes', () => {
    const l = layoutGraph({
      nodes: [node('a'), node('a'), node('b')],
      edges: [
        { source: 'a', target: 'zz', output: 'o', input: 'i' },
        { source: 'a', target: 'b', output: 'o', input: 'i' }
      ]
    });
    expect(l.nodes.map(n => n.id)).toEqual(['a', 'b']);
    expect(l.edges).toHaveLength(1);
  });

  it('is empty without nodes', () => {
    expect(layoutGraph(null).nodes).toEqual([]);
    expect(layoutGraph({ nodes: [], edges: [] }).width).toBe(0);
  });

  it('places 200 nodes, each with a position and none overlapping', () => {
    const graph = bigGraph(200);
    const l = layoutGraph(graph);
    expect(l.nodes).toHaveLength(200);
    const distinct = new Set(
      graph.edges.map(e => `${e.source} ${e.output} ${e.target} ${e.input}`)
    );
    expect(l.edges).toHaveLength(distinct.size);
    const misplaced = l.nodes.filter(
      n =>
        !isFinite(n.x) ||
        !isFinite(n.y) ||
        n.x - n.width / 2 < 0 ||
        n.y - n.height / 2 < 0 ||
        n.x + n.width / 2 > l.width ||
        n.y + n.height / 2 > l.height
    );
    expect(misplaced).toEqual([]);
    const overlapping: string[] = [];
    for (let i = 0; i < l.nodes.length; i++) {
      for (let j = i + 1; j < l.nodes.length; j++) {
        if (overlap(l.nodes[i], l.nodes[j])) {
          overlapping.push(`${l.nodes[i].id} ${l.nodes[j].id}`);
        }
      }
    }
    expect(overlapping).toEqual([]);
  });

  it('keys a graph by what changes its layout', () => {
    const again = JSON.parse(JSON.stringify(small)) as IGraph;
    again.nodes[1].attributes = { n: 3 };
    expect(layoutKey(again)).toBe(layoutKey(small));
    again.nodes[1].label = 'load2';
    expect(layoutKey(again)).not.toBe(layoutKey(small));
  });
});

describe('view geometry', () => {
  it('rounds paths at the bends', () => {
    expect(edgePathData([])).toBe('');
    expect(
      edgePathData([
        { x: 0, y: 0 },
        { x: 10, y: 0 },
        { x: 20, y: 10 }
      ])
    ).toBe('M0,0 Q10,0 15,5 L20,10');
  });

  it('fits and centres, showing the start when clamped', () => {
    expect(
      fitTransform({ width: 100, height: 50 }, { width: 400, height: 100 })
    ).toEqual({ k: 1.5, x: 125, y: 12.5 });
    const t = fitTransform(
      { width: 4000, height: 100 },
      { width: 400, height: 100 },
      0.5
    );
    expect(t).toEqual({ k: 0.5, x: 0, y: 25 });
  });

  it('zooms around the pointer', () => {
    const t = zoomAt({ k: 1, x: 0, y: 0 }, 2, 50, 50);
    expect(t).toEqual({ k: 2, x: -50, y: -50 });
    expect(zoomAt(t, 100, 0, 0).k).toBe(4);
  });
});
