/**
 * @jest-environment jsdom
 */
import * as React from 'react';

import { SourceDiff } from '../src/comparison';
import { LogView } from '../src/components';
import { IPanelServices, PanelContext } from '../src/context';
import { Details } from '../src/details';
import type { IEditorFactory } from '../src/editor';
import { englishTrans } from '../src/i18n';
import { Attempts, JobBody } from '../src/job';
import type { IExecution } from '../src/model';
import { Figures, OutputPreview } from '../src/preview';
import { PipelinesStore } from '../src/store';
import { execution, job } from './fixtures';
import { click, render, settle } from './render';

function withServices(
  element: React.ReactElement,
  services: Partial<IPanelServices> = {}
): React.ReactElement {
  return (
    <PanelContext.Provider value={{ trans: englishTrans, ...services }}>
      {element}
    </PanelContext.Provider>
  );
}

describe('output previews', () => {
  it('shows each kind, and says when it was truncated', () => {
    const view = render(
      <div>
        <OutputPreview
          preview={{ kind: 'value', text: '[0, 1, 2, ...]', truncated: true }}
        />
        <OutputPreview
          preview={{
            kind: 'table',
            columns: ['a', 'b'],
            rows: [
              [1, 'x'],
              [2, null]
            ],
            shape: [100, 2]
          }}
        />
        <OutputPreview
          preview={{
            kind: 'array',
            shape: [3, 4],
            dtype: 'float64',
            text: '[[0. 0. 0. 0.]]'
          }}
        />
        <OutputPreview
          preview={{ kind: 'image', mime: 'image/png', data: 'iVBORw0KGgo=' }}
        />
        <OutputPreview preview={{ kind: 'text', text: 'hello' }} />
        <OutputPreview preview={null} />
      </div>
    );
    const c = view.container;
    const kinds = [...c.querySelectorAll('.jp-pipelines-preview')].map(e =>
      e.getAttribute('data-kind')
    );
    expect(kinds).toEqual(['value', 'table', 'array', 'image', 'text']);
    const value = c.querySelector('[data-kind="value"]')!;
    expect(value.querySelector('pre')!.textContent).toBe('[0, 1, 2, ...]');
    expect(value.textContent).toContain('truncated');
    const table = c.querySelector('[data-kind="table"]')!;
    expect([...table.querySelectorAll('th')].map(e => e.textContent)).toEqual([
      'a',
      'b'
    ]);
    expect([...table.querySelectorAll('td')].map(e => e.textContent)).toEqual([
      '1',
      'x',
      '2',
      ''
    ]);
    expect(table.textContent).toContain('100 rows × 2 columns');
    expect(c.querySelector('[data-kind="array"]')!.textContent).toContain(
      'shape (3, 4), dtype float64'
    );
    expect(c.querySelector('img')!.getAttribute('src')).toBe(
      'data:image/png;base64,iVBORw0KGgo='
    );
    view.unmount();
  });

  it('fetches figures with the auth into blob URLs', async () => {
    const fetched: string[] = [];
    const created: Blob[] = [];
    URL.createObjectURL = (blob: Blob) => {
      created.push(blob);
      return `blob:figure-${created.length}`;
    };
    URL.revokeObjectURL = () => undefined;
    const view = render(
      withServices(
        <Figures
          figures={[
            {
              index: 0,
              mime: 'image/png',
              url: 'pipelines/api/executions/e/jobs/plot/figures/0?project=p'
            }
          ]}
        />,
        {
          fetchBlob: async url => {
            fetched.push(url);
            return new Blob(['png']);
          }
        }
      )
    );
    await settle();
    expect(fetched).toEqual([
      'pipelines/api/executions/e/jobs/plot/figures/0?project=p'
    ]);
    expect(view.container.querySelector('img')!.getAttribute('src')).toBe(
      'blob:figure-1'
    );
    view.unmount();
  });
});

describe('logs and diffs', () => {
  it('says how much of a log was cut', () => {
    const view = render(
      <LogView
        log={{ text: 'tail\n', start: 2048, dropped: 2048, skipped: 0 }}
      />
    );
    expect(
      view.container.querySelector('.jp-pipelines-log-cut')!.textContent
    ).toBe('2.0 KiB of older output not shown');
    expect(view.container.querySelector('.jp-pipelines-log')!.textContent).toBe(
      'tail\n'
    );
    view.unmount();
  });

  it('draws a unified source diff', () => {
    const view = render(
      <SourceDiff before={'a = 1\nb = 2\n'} after={'a = 1\nb = 3\n'} />
    );
    const lines = [
      ...view.container.querySelectorAll('.jp-pipelines-diff-line')
    ].map(e => e.textContent);
    expect(lines).toEqual([' a = 1', '-b = 2', '+b = 3']);
    view.unmount();
  });
});

function storeWith(e: IExecution, logs: { [key: string]: string } = {}) {
  const calls: string[] = [];
  const store = new PipelinesStore({
    follow: false,
    api: {
      listExecutions: async () => ({ executions: [e], next: null, now: null }),
      getExecution: async () => e,
      cancel: async () => null,
      rerun: async (project, name, operations) => {
        calls.push(`rerun ${JSON.stringify(operations)}`);
        throw Object.assign(new Error('line 2: invalid syntax'), {
          status: 400
        });
      },
      remove: async () => undefined,
      jobLog: async (project, name, op, attempt) => {
        calls.push(`log ${op} ${attempt ?? ''}`.trim());
        return logs[`${op}${attempt ? `#${attempt}` : ''}`] ?? '';
      },
      fetchBlob: async () => new Blob([]),
      listTags: async () => [],
      diffTags: async () => {
        throw new Error('unused');
      },
      exportExecution: async () => ({ id: '', url: '' }),
      download: async () => undefined,
      openEvents: async () => {
        throw new Error('unused');
      }
    }
  });
  return { store, calls };
}

const attempt = (n: number, status: string) => ({
  attempt: n,
  status,
  started: '2024-05-01T10:00:00Z',
  ended: '2024-05-01T10:00:02Z',
  duration: 2,
  exit_code: status === 'failed' ? 1 : 0,
  error: status === 'failed' ? 'first attempt fails' : null
});

const graphOf = (ops: string[]) => ({
  nodes: ops.map(op => ({
    id: op,
    kind: 'operation',
    label: op,
    operation: op,
    artifact: null,
    attributes: {}
  })),
  edges: ops.slice(1).map((op, i) => ({
    source: ops[i],
    target: op,
    output: 'output',
    input: 'data'
  }))
});

describe('job details', () => {
  it('lists attempts and fetches the log of one', async () => {
    const flaky = job('flaky', {
      status: 'success',
      attempts: [attempt(1, 'failed'), attempt(2, 'success')]
    });
    const e = execution('x', { jobs: [flaky] });
    const { store, calls } = storeWith(e, { 'flaky#1': 'first try\n' });
    await store.select({ project: 'default', name: 'x' });
    const view = render(
      <Attempts job={flaky} store={store} logs={{}} now={Date.now()} />
    );
    const rows = view.container.querySelectorAll('tbody tr');
    expect(rows).toHaveLength(2);
    expect(rows[0].getAttribute('title')).toBe('first attempt fails');
    click(rows[0].querySelector('.jp-pipelines-attempt-log'));
    await settle();
    expect(calls).toContain('log flaky 1');
    view.rerender(
      <Attempts
        job={flaky}
        store={store}
        logs={store.state.attemptLogs}
        now={Date.now()}
      />
    );
    expect(
      view.container.querySelector(
        '.jp-pipelines-attempt-body .jp-pipelines-log'
      )!.textContent
    ).toBe('first try\n');
    view.unmount();
  });

  it('shows the live log for the running attempt, without a fetch', async () => {
    const running = job('flaky', {
      status: 'running',
      attempts: [
        attempt(1, 'failed'),
        { ...attempt(2, 'running'), ended: null }
      ]
    });
    const { store, calls } = storeWith(execution('x', { jobs: [running] }));
    await store.select({ project: 'default', name: 'x' });
    const before = calls.length;
    const view = render(
      <Attempts
        job={running}
        store={store}
        logs={{}}
        latestLog={{ text: 'now running\n', start: 0, dropped: 0, skipped: 0 }}
        now={Date.now()}
      />
    );
    click(view.container.querySelectorAll('.jp-pipelines-attempt-log')[1]);
    await settle();
    expect(calls.slice(before)).toEqual([]);
    expect(
      view.container.querySelector(
        '.jp-pipelines-attempt-body .jp-pipelines-log'
      )!.textContent
    ).toBe('now running\n');
    view.unmount();
  });

  it('edits the source of a debug execution and shows the refusal', async () => {
    const e = execution('dbg', {
      debug: true,
      jobs: [job('load', { status: 'success' })],
      operations: {
        load: {
          source: 'def load():\n    return 1\n',
          inputs: [],
          outputs: ['output'],
          attributes: {}
        }
      }
    });
    const { store, calls } = storeWith(e);
    await store.select({ project: 'default', name: 'dbg' });
    const draw = () =>
      withServices(
        <JobBody
          job={e.jobs[0]}
          execution={e}
          log={undefined}
          state={store.state}
          store={store}
          now={Date.now()}
        />
      );
    const view = render(draw());
    click(view.container.querySelector('.jp-pipelines-edit'));
    const textarea = view.container.querySelector('textarea')!;
    expect(textarea.value).toBe('def load():\n    return 1\n');
    store.setEdit('load', 'def load(:\n');
    await store.rerunWithEdits();
    view.rerender(draw());
    expect(calls).toContain('rerun {"load":"def load(:\\n"}');
    expect(
      view.container.querySelector(
        '.jp-pipelines-source .jp-pipelines-alert-error'
      )!.textContent
    ).toBe('line 2: invalid syntax');
    view.unmount();
  });

  it('uses the editor factory when there is one', () => {
    const e = execution('dbg', {
      debug: true,
      jobs: [job('load', { status: 'success' })],
      operations: {
        load: { source: 'pass\n', inputs: [], outputs: [], attributes: {} }
      }
    });
    const { store } = storeWith(e);
    const mounted: string[] = [];
    const factory: IEditorFactory = {
      create(host, options) {
        mounted.push(`${options.mimeType}:${options.value}`);
        options.onChange('pass  # edited\n');
        return { dispose: () => mounted.push('disposed') };
      }
    };
    const view = render(
      withServices(
        <JobBody
          job={e.jobs[0]}
          execution={e}
          log={undefined}
          state={store.state}
          store={store}
          now={Date.now()}
        />,
        { editorFactory: factory }
      )
    );
    click(view.container.querySelector('.jp-pipelines-edit'));
    expect(mounted).toEqual(['text/x-python:pass\n']);
    expect(store.state.edits).toEqual({ load: 'pass  # edited\n' });
    view.unmount();
    expect(mounted).toContain('disposed');
  });

  it('shows no editor for a non-debug execution', () => {
    const e = execution('plain', {
      jobs: [job('load', { status: 'success' })],
      operations: {
        load: { source: 'pass\n', inputs: [], outputs: [], attributes: {} }
      }
    });
    const { store } = storeWith(e);
    const view = render(
      <JobBody
        job={e.jobs[0]}
        execution={e}
        log={undefined}
        state={store.state}
        store={store}
        now={Date.now()}
      />
    );
    expect(
      view.container.querySelector('.jp-pipelines-source-text')!.textContent
    ).toBe('pass\n');
    expect(view.container.querySelector('.jp-pipelines-edit')).toBeNull();
    expect(view.container.querySelector('textarea')).toBeNull();
    view.unmount();
  });
});

describe('Details with the graph', () => {
  it('selects a node by clicking it: its job opens and is marked', async () => {
    const e = execution('g', {
      status: 'failed',
      graph: graphOf(['load', 'split', 'train']),
      jobs: [
        job('load', { status: 'success', started: '2024-05-01T10:00:00Z' }),
        job('split', { status: 'failed', error: 'kaboom' }),
        job('train', { status: 'skipped' })
      ]
    });
    const { store } = storeWith(e);
    await store.select({ project: 'default', name: 'g' });
    const draw = () =>
      withServices(
        <Details
          store={store}
          state={store.state}
          now={Date.now()}
          onDelete={() => undefined}
        />
      );
    const view = render(draw());
    const c = view.container;
    // the failed node is shown first
    expect(
      c
        .querySelector('.jp-pipelines-gnode.jp-mod-selected')!
        .getAttribute('data-node')
    ).toBe('split');
    expect(
      c
        .querySelector('.jp-pipelines-gnode[data-node="train"]')!
        .getAttribute('data-status')
    ).toBe('skipped');
    click(c.querySelector('.jp-pipelines-gnode[data-node="train"]'));
    expect(store.state.node).toBe('train');
    view.rerender(draw());
    await settle();
    const train = c.querySelector('.jp-pipelines-job[data-op="train"]')!;
    expect(train.classList.contains('jp-mod-selected')).toBe(true);
    expect(train.classList.contains('jp-mod-expanded')).toBe(true);
    expect(train.textContent).toContain('Skipped: not run.');
    view.unmount();
  });
});
