/**
 * @jest-environment jsdom
 */
import * as React from 'react';

import { GraphView, fitLabel, nodeCaption } from '../../src/graph/GraphView';
import { nodeStates, defaultNode } from '../../src/graph/states';
import type { IGraph } from '../../src/model';
import { job } from '../fixtures';
import { click, render } from '../render';

const graph: IGraph = {
  nodes: [
    {
      id: 'raw',
      kind: 'input',
      label: 'raw-data',
      operation: null,
      artifact: 'raw-data',
      attributes: {}
    },
    {
      id: 'load',
      kind: 'operation',
      label: 'load',
      operation: 'load',
      artifact: null,
      attributes: { n: 3 }
    },
    {
      id: 'split',
      kind: 'operation',
      label: 'split',
      operation: 'split',
      artifact: null,
      attributes: {}
    },
    {
      id: 'out',
      kind: 'output',
      label: 'train-set',
      operation: null,
      artifact: 'train-set',
      attributes: {}
    }
  ],
  edges: [
    { source: 'raw', target: 'load', output: 'raw-data', input: 'path' },
    { source: 'load', target: 'split', output: 'output', input: 'data' },
    { source: 'split', target: 'out', output: 'train', input: 'data' }
  ]
};

const NOW = Date.parse('2024-05-01T10:00:30Z');

describe('node states', () => {
  it('derives inputs and outputs from the jobs', () => {
    const states = nodeStates(graph, [
      job('load', { status: 'success' }),
      job('split', { status: 'failed', error: 'boom' })
    ]);
    expect(states.raw.status).toBe('success');
    expect(states.split).toMatchObject({ status: 'failed', error: 'boom' });
    expect(states.out.status).toBe('skipped');
    const before = nodeStates(graph, [job('load'), job('split')]);
    expect(before.raw.status).toBe('pending');
    expect(before.out.status).toBe('pending');
  });

  it('picks the failed node, else the running one', () => {
    expect(
      defaultNode([
        job('a', { status: 'running' }),
        job('b', { status: 'failed' })
      ])
    ).toBe('b');
    expect(defaultNode([job('a', { status: 'running' })])).toBe('a');
    expect(defaultNode([job('a', { status: 'success' })])).toBeNull();
  });

  it('captions running nodes with their elapsed time on the server clock', () => {
    expect(
      nodeCaption({ status: 'running', started: '2024-05-01T10:00:00Z' }, NOW)
    ).toBe('running 30s');
    expect(nodeCaption({ status: 'success', duration: 2.5 }, NOW)).toBe('2.5s');
    expect(nodeCaption({ status: 'skipped' }, NOW)).toBe('skipped');
    expect(nodeCaption(undefined, NOW)).toBe('pending');
  });

  it('cuts long labels', () => {
    expect(fitLabel('short', 200)).toBe('short');
    expect(fitLabel('a_very_long_operation_name', 100)).toMatch(/…$/);
  });
});

describe('GraphView', () => {
  it('draws nodes by status, labelled edges, errors on hover; selects on click', () => {
    const selected: string[] = [];
    const states = nodeStates(graph, [
      job('load', { status: 'running', started: '2024-05-01T10:00:00Z' }),
      job('split', { status: 'failed', error: 'ValueError: kaboom' })
    ]);
    const view = render(
      <GraphView
        graph={graph}
        states={states}
        now={NOW}
        selected="load"
        onSelect={id => selected.push(id)}
        height={300}
      />
    );
    const c = view.container;
    const nodes = c.querySelectorAll('.jp-pipelines-gnode');
    expect(nodes).toHaveLength(4);
    const load = c.querySelector('[data-node="load"]')!;
    expect(load.getAttribute('data-status')).toBe('running');
    expect(load.classList.contains('jp-mod-selected')).toBe(true);
    expect(load.textContent).toContain('running 30s');
    const split = c.querySelector('[data-node="split"]')!;
    expect(split.classList.contains('jp-pipelines-gnode-failed')).toBe(true);
    expect(split.querySelector('title')!.textContent).toContain(
      'ValueError: kaboom'
    );
    expect(
      c.querySelector('[data-node="out"]')!.getAttribute('data-status')
    ).toBe('skipped');
    const labels = [...c.querySelectorAll('.jp-pipelines-gedge-label')].map(
      e => e.textContent
    );
    expect(labels).toEqual(['raw-data', 'output', 'train']);
    click(split);
    expect(selected).toEqual(['split']);
    click(c.querySelector('.jp-pipelines-graph-zoom-in'));
    const content = c.querySelector('.jp-pipelines-graph-content')!;
    const zoomed = content.getAttribute('transform');
    click(c.querySelector('.jp-pipelines-graph-fit'));
    expect(content.getAttribute('transform')).not.toBe(zoomed);
    view.unmount();
  });

  it('says when there is no graph', () => {
    const view = render(
      <GraphView graph={null} states={{}} now={NOW} selected={null} />
    );
    expect(view.container.textContent).toContain('No graph.');
    view.unmount();
  });
});
