import {
  EVENT_SCHEMA_ID,
  anyRunning,
  diffLines,
  filterExecutions,
  isActive,
  jobsInOrder,
  mergeExecution,
  mergeJob,
  normalizeExecution,
  parsePipelinesEvent,
  projectsOf,
  removeExecution,
  sortExecutions,
  upsertExecution
} from '../src/model';
import { execution, job } from './fixtures';

describe('executions list', () => {
  const a = execution('a', { created: '2024-05-01T10:00:00Z' });
  const b = execution('b', { created: '2024-05-01T11:00:00Z' });
  const c = execution('c', { created: null });

  it('sorts newest first, undated last', () => {
    expect(sortExecutions([c, a, b]).map(e => e.name)).toEqual(['b', 'a', 'c']);
  });

  it('upserts by project and name', () => {
    const list = sortExecutions([a, b]);
    const a2 = { ...a, status: 'failed' };
    const updated = upsertExecution(list, a2);
    expect(updated.map(e => [e.name, e.status])).toEqual([
      ['b', 'success'],
      ['a', 'failed']
    ]);
    const other = execution('a', {
      project: 'p2',
      created: '2024-05-02T00:00:00Z'
    });
    expect(
      upsertExecution(updated, other).map(e => `${e.project}/${e.name}`)
    ).toEqual(['p2/a', 'default/b', 'default/a']);
  });

  it('removes one execution of one project', () => {
    const list = [a, execution('a', { project: 'x' })];
    expect(removeExecution(list, 'x', 'a')).toEqual([a]);
  });

  it('derives projects, always with default', () => {
    expect(
      projectsOf([execution('x', { project: 'zeta' }), a], ['beta'])
    ).toEqual(['beta', 'default', 'zeta']);
  });

  it('filters by project and words', () => {
    const list = [
      execution('train_1', { pipeline: 'digits', status: 'failed' }),
      execution('train_2', { pipeline: 'digits', project: 'p' }),
      execution('other', { pipeline: 'etl' })
    ];
    expect(filterExecutions(list, null, 'DIGITS').map(e => e.name)).toEqual([
      'train_1',
      'train_2'
    ]);
    expect(
      filterExecutions(list, 'default', 'digits').map(e => e.name)
    ).toEqual(['train_1']);
    expect(
      filterExecutions(list, null, 'train failed').map(e => e.name)
    ).toEqual(['train_1']);
    expect(filterExecutions(list, 'default', '  ').map(e => e.name)).toEqual([
      'train_1',
      'other'
    ]);
  });

  it('knows active statuses', () => {
    expect(['pending', 'queued', 'running'].every(isActive)).toBe(true);
    expect(
      ['success', 'failed', 'canceled', 'skipped', null].some(isActive)
    ).toBe(false);
    expect(
      anyRunning([
        a,
        execution('r', { jobs: [job('x', { status: 'running' })] })
      ])
    ).toBe(true);
    expect(anyRunning([a])).toBe(false);
  });

  it('normalizes missing jobs and outputs', () => {
    const raw = { ...execution('n'), jobs: undefined, project: '' } as never;
    expect(normalizeExecution(raw).jobs).toEqual([]);
    expect(normalizeExecution(raw).project).toBe('default');
    const withJob = {
      ...execution('n'),
      jobs: [{ ...job('a'), outputs: undefined }]
    } as never;
    expect(normalizeExecution(withJob).jobs[0].outputs).toEqual([]);
  });
});

describe('jobs', () => {
  it('orders by start time, not started last, stable', () => {
    const jobs = [
      job('c'),
      job('b', { started: '2024-05-01T10:00:02Z' }),
      job('a', { started: '2024-05-01T10:00:01Z' }),
      job('d')
    ];
    expect(jobsInOrder(jobs).map(j => j.op)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('merges a job update, adding an unknown op', () => {
    const e = execution('e', { jobs: [job('a'), job('b')] });
    const merged = mergeJob(e, {
      op: 'b',
      status: 'running',
      started: '2024-05-01T10:00:00Z'
    });
    expect(merged.jobs[1]).toMatchObject({ op: 'b', status: 'running' });
    expect(e.jobs[1].status).toBe('pending');
    const added = mergeJob(e, { op: 'z', status: 'queued' });
    expect(added.jobs.map(j => j.op)).toEqual(['a', 'b', 'z']);
    expect(added.jobs[2]).toMatchObject({ operation: 'z', outputs: [] });
  });

  it('merges an execution status, keeping jobs unless given', () => {
    const e = execution('e', { status: 'running', jobs: [job('a')] });
    const m = mergeExecution(e, {
      status: 'success',
      ended: '2024-05-01T10:01:00Z'
    });
    expect(m.status).toBe('success');
    expect(m.jobs).toBe(e.jobs);
    const withJobs = mergeExecution(e, {
      jobs: [job('a', { status: 'success' })]
    });
    expect(withJobs.jobs[0].status).toBe('success');
    expect(mergeExecution(e, { jobs: [] }).jobs).toBe(e.jobs);
  });
});

describe('parsePipelinesEvent', () => {
  const payload = {
    project: 'p',
    execution: 'e_2',
    pipeline: 'demo',
    status: 'running',
    op: 'load',
    job_status: 'success'
  };

  it('reads a flattened emission', () => {
    expect(
      parsePipelinesEvent({
        schema_id: EVENT_SCHEMA_ID,
        version: '1',
        ...payload
      })
    ).toEqual(payload);
  });

  it('reads a nested payload and fills defaults', () => {
    expect(
      parsePipelinesEvent({
        schema_id: EVENT_SCHEMA_ID,
        data: { execution: 'x', status: 'pending' }
      })
    ).toEqual({
      project: 'default',
      execution: 'x',
      pipeline: '',
      status: 'pending',
      op: null,
      job_status: null
    });
  });

  it('ignores other schemas and malformed events', () => {
    expect(parsePipelinesEvent({ schema_id: 'other', ...payload })).toBeNull();
    expect(parsePipelinesEvent({ schema_id: EVENT_SCHEMA_ID })).toBeNull();
    expect(parsePipelinesEvent(null)).toBeNull();
  });
});

describe('diffLines', () => {
  it('flattens added, removed and changed operations', () => {
    const lines = diffLines({
      a: 't1',
      b: 't2',
      operations: {
        added: ['z', 'y'],
        removed: ['old'],
        changed: [
          {
            node: 'split',
            source_changed: true,
            attributes: { ratio: [0.8, 0.9], name: ['a', null] }
          },
          {
            node: 'load',
            source_changed: false,
            attributes: { n: [100, 1000] }
          }
        ]
      }
    });
    expect(lines).toEqual([
      { kind: 'added', node: 'y', details: [] },
      { kind: 'added', node: 'z', details: [] },
      { kind: 'removed', node: 'old', details: [] },
      { kind: 'changed', node: 'load', details: ['n: 100 → 1000'] },
      {
        kind: 'changed',
        node: 'split',
        details: ['source changed', 'name: "a" → null', 'ratio: 0.8 → 0.9']
      }
    ]);
  });

  it('copes with missing parts', () => {
    expect(diffLines({ a: 'x', b: 'y', operations: {} as never })).toEqual([]);
  });
});
