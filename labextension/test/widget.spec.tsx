/**
 * @jest-environment jsdom
 */
import * as React from 'react';
import { act } from 'react';
import { createRoot } from 'react-dom/client';

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

  it('draws changes that arrive before React renders once, in their last state', () => {
    // Why a page may never draw a short job as running (tests/browser/conftest.py,
    // assert_drawn_forward): its running and success events reach the view together.
    const container = document.createElement('div');
    document.body.appendChild(container);
    const root = createRoot(container);
    const draw = (a: string) =>
      root.render(
        <GraphWidget
          traits={{
            graph,
            states: { a: { status: a }, b: { status: 'pending' } },
            now: '',
            selected: '',
            height: 200
          }}
          trans={englishTrans}
          onSelect={() => undefined}
        />
      );
    act(() => draw('pending'));
    // every value data-status took, from the mutation records (not read lazily)
    const drawn: string[] = [];
    const observer = new MutationObserver(records => {
      for (const record of records) {
        drawn.push(record.oldValue ?? '');
      }
    });
    const node = () => container.querySelector('[data-node="a"]')!;
    observer.observe(node(), {
      attributes: true,
      attributeOldValue: true,
      attributeFilter: ['data-status']
    });
    act(() => {
      draw('running');
      draw('success');
    });
    return Promise.resolve().then(() => {
      observer.disconnect();
      drawn.push(node().getAttribute('data-status')!);
      expect(drawn).toEqual(['pending', 'success']);
      act(() => root.unmount());
      container.remove();
    });
  });
});
