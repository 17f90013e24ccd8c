/**
 * @jest-environment jsdom
 */
import * as React from 'react';
import { act } from 'react';

import { ExecutionView } from '../src/executionview';
import { PipelinesStore } from '../src/store';
import { execution, job } from './fixtures';
import { click, render, settle } from './render';

describe('ExecutionView (main area)', () => {
  it('shows graph, jobs table and the selected job side by side, live', async () => {
    let current = execution('wide', {
      status: 'running',
      graph: {
        nodes: ['load', 'total'].map(id => ({
          id,
          kind: 'operation',
          label: id,
          operation: id,
          artifact: null,
          attributes: {}
        })),
        edges: [
          { source: 'load', target: 'total', output: 'output', input: 'data' }
        ]
      },
      jobs: [
        job('load', {
          status: 'success',
          started: '2024-05-01T10:00:00Z',
          ended: '2024-05-01T10:00:02Z',
          duration: 2
        }),
        job('total', { status: 'running', started: '2024-05-01T10:00:02Z' })
      ]
    });
    const logs: { [op: string]: string } = {
      load: 'loaded\n',
      total: 'adding\n'
    };
    const store = new PipelinesStore({
      follow: false,
      api: {
        listExecutions: async () => ({
          executions: [current],
          next: null,
          now: null
        }),
        getExecution: async () => current,
        cancel: async () => null,
        rerun: async () => null,
        remove: async () => undefined,
        jobLog: async (project, name, op) => logs[op] ?? '',
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
    await store.select({ project: 'default', name: 'wide' });
    let deletes = 0;
    const view = render(
      <ExecutionView store={store} onDelete={() => deletes++} />
    );
    await settle();
    const c = view.container;
    expect(c.querySelectorAll('.jp-pipelines-gnode')).toHaveLength(2);
    const rows = c.querySelectorAll('.jp-pipelines-jobs-table tbody tr');
    expect([...rows].map(r => r.getAttribute('data-op'))).toEqual([
      'load',
      'total'
    ]);
    // the running job is shown first
    const selected = () => c.querySelector('.jp-pipelines-execution-selected')!;
    expect(selected().getAttribute('data-node')).toBe('total');
    expect(selected().querySelector('.jp-pipelines-log')!.textContent).toBe(
      'adding\n'
    );
    click(rows[0]);
    await settle();
    expect(selected().getAttribute('data-node')).toBe('load');
    expect(selected().querySelector('.jp-pipelines-log')!.textContent).toBe(
      'loaded\n'
    );
    // an event: the execution ended
    current = {
      ...current,
      status: 'success',
      jobs: current.jobs.map(j => ({ ...j, status: 'success' }))
    };
    await act(() =>
      store.handleEvent({
        project: 'default',
        execution: 'wide',
        pipeline: 'demo',
        status: 'success'
      })
    );
    await settle();
    expect(
      c.querySelector('.jp-pipelines-details-header .jp-pipelines-status')!
        .textContent
    ).toBe('success');
    click(c.querySelector('.jp-pipelines-delete'));
    expect(deletes).toBe(1);
    view.unmount();
  });
});
