/**
 * @jest-environment jsdom
 */
import * as React from 'react';

import { englishTrans } from '../src/i18n';
import {
  DEFAULT_HEIGHT,
  GraphWidget,
  readTraits
} from '../src/widget/GraphWidget';
import { click, render } from './render';

const graph = {
  nodes: [
    {
      id: 'a',
      kind: 'operation',
      label: 'a',
      operation: 'a',
      artifact: null,
      attributes: {}
    },
    {
      id: 'b',
      kind: 'operation',
      label: 'b',
      operation: 'b',
      artifact: null,
      attributes: {}
    }
  ],
  edges: [{ source: 'a', target: 'b', output: 'output', input: 'data' }]
};

describe('notebook graph widget', () => {
  it('reads the synced traits, checking them', () => {
    const values: { [k: string]: unknown } = {
      graph,
      states: { a: { status: 'running' }, b: 'bad', c: { nope: 1 } },
      now: '2024-05-01T10:00:00Z',
      selected: 'a',
      height: 0
    };
    const traits = readTraits(name => values[name]);
    expect(traits.graph.nodes).toHaveLength(2);
    expect(Object.keys(traits.states)).toEqual(['a']);
    expect(traits.height).toBe(DEFAULT_HEIGHT);
    expect(readTraits(() => undefined)).toEqual({
      graph: { nodes: [], edges: [] },
      states: {},
      now: '',
      selected: '',
      height: DEFAULT_HEIGHT
    });
  });

  it('draws the graph with the server time and reports clicks', () => {
    const selected: string[] = [];
    const started = new Date(Date.now() - 60000).toISOString();
    const view = render(
      <GraphWidget
        traits={{
          graph,
          states: {
            a: { status: 'running', started },
            b: { status: 'pending' }
          },
          // the server's clock is 30 s ahead of this one
          now: new Date(Date.now() + 30000).toISOString(),
          selected: 'b',
          height: 200
        }}
        trans={englishTrans}
        onSelect={id => selected.push(id)}
      />
    );
    const a = view.container.querySelector('[data-node="a"]')!;
    expect(a.textContent).toMatch(/running 1m 3\ds/);
    expect(
      view.container
        .querySelector('[data-node="b"]')!
        .classList.contains('jp-mod-selected')
    ).toBe(true);
    expect(
      (view.container.querySelector('.jp-pipelines-graph') as HTMLElement).style
        .height
    ).toBe('200px');
    click(a);
    expect(selected).toEqual(['a']);
    view.unmount();
  });
});
