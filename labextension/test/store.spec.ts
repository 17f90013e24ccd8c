import type { IPipelinesAPI } from '../src/api';
import type { IExecution } from '../src/model';
import { sortExecutions } from '../src/model';
import { IPersistedState, PipelinesStore } from '../src/store';
import { execution, job } from './fixtures';

class NotFound extends Error {
  status = 404;
}

/** An in-memory API: a dict of executions and logs, with call counts. */
function fakeAPI(initial: IExecution[], serverNow: string | null = null) {
  const db = new Map(initial.map(e => [`${e.project}/${e.name}`, e]));
  const logs = new Map<string, string>();
  const calls: string[] = [];
  const get = (project: string, name: string) => {
    const e = db.get(`${project}/${name}`);
    if (!e) {
      throw new NotFound(`execution ${name} not found`);
    }
    return e;
  };
  const api: IPipelinesAPI = {
    listExecutions: async (query = {}) => {
      calls.push(
        `list ${query.project ?? ''} ${query.limit ?? ''} ${query.before ?? ''}`.trim()
      );
      const all = sortExecutions(
        [...db.values()].filter(
          e => !query.project || e.project === query.project
        )
      );
      const start = query.before ? Number(query.before) : 0;
      const limit = query.limit ?? 50;
      const end = start + limit;
      return {
        executions: all.slice(start, end),
        next: end < all.length ? String(end) : null,
        now: serverNow
      };
    },
    getExecution: async (project, name) => {
      calls.push(`get ${project}/${name}`);
      return get(project, name);
    },
    cancel: async (project, name) => {
      calls.push(`cancel ${name}`);
      const canceled = { ...get(project, name), status: 'canceled' };
      db.set(`${project}/${name}`, canceled);
      return canceled;
    },
    rerun: async (project, name, operations) => {
      calls.push(
        `rerun ${name}${operations ? ` ${JSON.stringify(operations)}` : ''}`
      );
      const e = get(project, name);
      if (!e.debug) {
        throw Object.assign(new Error('re-run needs debug mode'), {
          status: 409
        });
      }
      if (operations && Object.values(operations).some(s => s.includes('('))) {
        throw Object.assign(
          new Error('operation load: line 1: invalid syntax'),
          { status: 400 }
        );
      }
      return e;
    },
    remove: async (project, name) => {
      calls.push(`delete ${name}`);
      get(project, name);
      db.delete(`${project}/${name}`);
    },
    jobLog: async (project, name, op, attempt) => {
      const key =
        attempt === undefined ? `${name}/${op}` : `${name}/${op}#${attempt}`;
      calls.push(`log ${key}`);
      return logs.get(key) ?? '';
    },
    fetchBlob: async url => {
      calls.push(`blob ${url}`);
      return new Blob(['png']);
    },
    listTags: async project => [
      {
        name: 'a',
        project: project ?? 'default',
        commit: 'c1',
        execution: 'a',
        pipeline: 'demo',
        created: null
      },
      {
        name: 'b',
        project: project ?? 'default',
        commit: 'c2',
        execution: 'b',
        pipeline: 'demo',
        created: null
      }
    ],
    diffTags: async (project, a, b) => {
      calls.push(`diff ${a} ${b}`);
      return { a, b, operations: { added: ['x'], removed: [], changed: [] } };
    },
    exportExecution: async (project, name) => {
      calls.push(`export ${name}`);
      return { id: 'z1', url: 'pipelines/api/exports/z1' };
    },
    download: async (url, name) => {
      calls.push(`download ${url} ${name}`);
    },
    openEvents: async () => {
      throw new Error('not used');
    }
  };
  return { api, db, logs, calls };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('PipelinesStore', () => {
  const done = execution('a', {
    created: '2024-05-01T10:00:00Z',
    jobs: [
      job('load', { status: 'success', started: '2024-05-01T10:00:01Z' }),
      job('split', { status: 'skipped' })
    ]
  });
  const newer = execution('b', {
    created: '2024-05-01T11:00:00Z',
    status: 'failed'
  });

  it('lists executions newest first and reports list errors', async () => {
    const { api } = fakeAPI([done, newer]);
    const store = new PipelinesStore({ api, follow: false });
    await store.refresh();
    expect(store.state.executions.map(e => e.name)).toEqual(['b', 'a']);
    expect(store.state.error).toBeNull();
    api.listExecutions = async () => {
      throw new Error('Server error: boom');
    };
    await store.refresh();
    expect(store.state.error).toBe('Server error: boom');
    expect(store.state.executions).toHaveLength(2);
  });

  it('refreshes one execution per event, coalescing bursts', async () => {
    const { api, db, calls } = fakeAPI([done]);
    const store = new PipelinesStore({ api, follow: false });
    await store.refresh();
    db.set(
      'default/c',
      execution('c', { created: '2024-05-02T00:00:00Z', status: 'running' })
    );
    const event = {
      project: 'default',
      execution: 'c',
      pipeline: 'demo',
      status: 'running'
    };
    await Promise.all([
      store.handleEvent(event),
      store.handleEvent(event),
      store.handleEvent(event)
    ]);
    expect(calls.filter(c => c === 'get default/c')).toHaveLength(2);
    expect(store.state.executions.map(e => [e.name, e.status])).toEqual([
      ['c', 'running'],
      ['a', 'success']
    ]);
    db.delete('default/c');
    await store.handleEvent(event);
    expect(store.state.executions.map(e => e.name)).toEqual(['a']);
  });

  it('selects an execution: details and logs of started jobs', async () => {
    const { api, logs, calls } = fakeAPI([done, newer]);
    logs.set('a/load', 'loaded 1000 rows\n');
    const saved: IPersistedState[] = [];
    const store = new PipelinesStore({
      api,
      follow: false,
      persist: s => saved.push(s)
    });
    await store.refresh();
    await store.select({ project: 'default', name: 'a' });
    await flush();
    expect(store.state.details?.name).toBe('a');
    expect(Object.keys(store.state.logs)).toEqual(['load']);
    expect(store.state.logs.load.text).toBe('loaded 1000 rows\n');
    expect(calls).not.toContain('log a/split');
    expect(store.state.tags.map(t => t.name)).toEqual(['a', 'b']);
    expect(saved[saved.length - 1]).toEqual({
      project: null,
      filter: '',
      selected: { project: 'default', name: 'a' }
    });
  });

  it('runs the actions and shows server errors', async () => {
    const { api, db, calls } = fakeAPI([
      done,
      execution('r', { status: 'running' })
    ]);
    const store = new PipelinesStore({ api, follow: false });
    await store.refresh();

    await store.select({ project: 'default', name: 'r' });
    await store.cancel();
    expect(store.state.details?.status).toBe('canceled');
    expect(store.state.busy).toBeNull();

    await store.rerun();
    expect(store.state.actionError).toBe('re-run needs debug mode');

    await store.exportSelected();
    expect(calls).toContain('download pipelines/api/exports/z1 r.zip');
    expect(store.state.message).toBe('Exported r');

    await store.compare('a');
    expect(calls).toContain('diff r a');
    expect(store.state.diff?.operations.added).toEqual(['x']);

    await store.remove();
    expect(db.has('default/r')).toBe(false);
    expect(store.state.selected).toBeNull();
    expect(store.state.executions.map(e => e.name)).toEqual(['a']);
  });

  it('restores the remembered selection and filter', async () => {
    const { api } = fakeAPI([done]);
    const store = new PipelinesStore({ api, follow: false });
    store.restore({
      project: 'default',
      filter: 'dem',
      selected: { project: 'default', name: 'a' }
    });
    await flush();
    expect(store.state.project).toBe('default');
    expect(store.state.filter).toBe('dem');
    expect(store.state.details?.name).toBe('a');
  });

  it('says so when the selected execution is gone', async () => {
    const { api, db } = fakeAPI([done]);
    const store = new PipelinesStore({ api, follow: false });
    await store.select({ project: 'default', name: 'a' });
    db.delete('default/a');
    await store.refreshExecution('default', 'a');
    expect(store.state.details).toBeNull();
    expect(store.state.detailsError).toBe('a no longer exists');
  });
});

describe('PipelinesStore following a running execution', () => {
  it('streams job statuses and logs, then takes the final state', async () => {
    const running = execution('r', {
      status: 'running',
      jobs: [
        job('load', { status: 'running', started: '2024-05-01T10:00:00Z' })
      ]
    });
    const { api, db, logs } = fakeAPI([running]);
    logs.set('r/load', 'line 1\n');
    const sse =
      'id: 1\nevent: log\ndata: {"op":"load","offset":0,"text":"line 1\\n"}\n\n' +
      'event: log\ndata: {"op":"load","offset":7,"text":"line 2\\n"}\n\n' +
      'id: 2\nevent: job\ndata: {"op":"load","status":"success"}\n\n' +
      'id: 3\nevent: execution\ndata: {"status":"success"}\n\n';
    let opened = 0;
    api.openEvents = async () => {
      opened++;
      db.set('default/r', {
        ...running,
        status: 'success',
        jobs: [job('load', { status: 'success' })]
      });
      logs.set('r/load', 'line 1\nline 2\n');
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(sse));
          controller.close();
        }
      });
      return { body, ok: true, status: 200 } as unknown as Response;
    };
    const store = new PipelinesStore({ api });
    await store.select({ project: 'default', name: 'r' });
    for (let i = 0; i < 20 && store.state.details?.status !== 'success'; i++) {
      await flush();
    }
    await flush();
    expect(opened).toBe(1);
    expect(store.state.details?.status).toBe('success');
    expect(store.state.details?.jobs[0].status).toBe('success');
    expect(store.state.logs.load.text).toBe('line 1\nline 2\n');
    store.dispose();
  });
});

describe('PipelinesStore paging and the server clock', () => {
  const many = Array.from({ length: 7 }, (_, i) =>
    execution(`e${i}`, {
      created: `2024-05-01T10:0${i}:00Z`
    })
  );

  it('pages through next until it is null', async () => {
    const { api, calls } = fakeAPI(many, '2024-05-01T10:10:00Z');
    const store = new PipelinesStore({
      api,
      follow: false,
      settings: { pageSize: 3 }
    });
    await store.refresh();
    expect(store.state.executions.map(e => e.name)).toEqual(['e6', 'e5', 'e4']);
    expect(store.state.next).toBe('3');
    await store.loadMore();
    await store.loadMore();
    expect(store.state.executions.map(e => e.name)).toEqual([
      'e6',
      'e5',
      'e4',
      'e3',
      'e2',
      'e1',
      'e0'
    ]);
    expect(store.state.next).toBeNull();
    expect(calls.filter(c => c.startsWith('list'))).toEqual([
      'list  3',
      'list  3 3',
      'list  3 6'
    ]);
    // a refresh takes the first page again and keeps what was loaded
    await store.refresh();
    expect(store.state.executions).toHaveLength(7);
    expect(store.state.next).toBeNull();
  });

  it('keeps the offset of the server clock from the latest answer', async () => {
    const { api } = fakeAPI(many, new Date(Date.now() + 16000).toISOString());
    const store = new PipelinesStore({ api, follow: false });
    await store.refresh();
    expect(store.state.clockOffset).toBeGreaterThan(15000);
    expect(store.state.clockOffset).toBeLessThan(17000);
    api.getExecution = async (project, name) => ({
      ...many[0],
      now: new Date(Date.now() - 5000).toISOString()
    });
    await store.refreshExecution('default', 'e0');
    expect(store.state.clockOffset).toBeLessThan(-4000);
  });

  it('lists one project from the server, remembering the others', async () => {
    const { api, calls } = fakeAPI([
      ...many.slice(0, 2),
      execution('p', { project: 'other' })
    ]);
    const store = new PipelinesStore({ api, follow: false });
    await store.refresh();
    expect(store.state.knownProjects).toEqual(['default', 'other']);
    await store.setProject('other');
    expect(calls[calls.length - 1]).toBe('list other 50');
    expect(store.state.executions.map(e => e.name)).toEqual(['p']);
    expect(store.state.knownProjects).toEqual(['default', 'other']);
  });
});

describe('PipelinesStore attempts, logs and debug edits', () => {
  const debug = execution('d', {
    debug: true,
    jobs: [
      job('load', {
        status: 'failed',
        started: '2024-05-01T10:00:01Z',
        attempts: [
          {
            attempt: 1,
            status: 'failed',
            started: null,
            ended: null,
            duration: 1,
            exit_code: 1,
            error: 'boom'
          },
          {
            attempt: 2,
            status: 'failed',
            started: null,
            ended: null,
            duration: 1,
            exit_code: 1,
            error: 'boom again'
          }
        ]
      })
    ],
    operations: {
      load: {
        source: 'def load(): pass\n',
        inputs: [],
        outputs: ['output'],
        attributes: {}
      }
    }
  });

  it('fetches the log of one attempt', async () => {
    const { api, logs, calls } = fakeAPI([debug]);
    logs.set('d/load#1', 'first try\n');
    const store = new PipelinesStore({ api, follow: false });
    await store.select({ project: 'default', name: 'd' });
    await store.loadAttemptLog('load', 1);
    expect(calls).toContain('log d/load#1');
    expect(store.state.attemptLogs['load#1'].text).toBe('first try\n');
  });

  it('caps logs to logLimitKB and says how much was cut', async () => {
    const { api, logs } = fakeAPI([debug]);
    logs.set('d/load', 'x'.repeat(3000));
    const store = new PipelinesStore({
      api,
      follow: false,
      settings: { logLimitKB: 1 }
    });
    await store.select({ project: 'default', name: 'd' });
    await flush();
    expect(store.state.logs.load.text).toHaveLength(1024);
    expect(store.state.logs.load.dropped).toBe(3000 - 1024);
  });

  it('selects nodes', async () => {
    const { api } = fakeAPI([debug]);
    const store = new PipelinesStore({ api, follow: false });
    await store.select({ project: 'default', name: 'd' });
    store.selectNode('load');
    expect(store.state.node).toBe('load');
    await store.select(null);
    expect(store.state.node).toBeNull();
  });

  it('re-runs with edited sources; shows the refusal next to the editor', async () => {
    const { api, calls } = fakeAPI([debug]);
    const store = new PipelinesStore({ api, follow: false });
    await store.select({ project: 'default', name: 'd' });
    store.setEdit('load', 'def load(:\n');
    await store.rerunWithEdits();
    expect(store.state.editError).toBe(
      'operation load: line 1: invalid syntax'
    );
    expect(store.state.actionError).toBeNull();
    expect(store.state.edits).toEqual({ load: 'def load(:\n' });
    expect(store.state.busy).toBeNull();

    store.setEdit('load', 'def load: return 1\n');
    expect(store.state.editError).toBeNull();
    await store.rerunWithEdits();
    expect(calls).toContain('rerun d {"load":"def load: return 1\\n"}');
    expect(store.state.edits).toEqual({});
    expect(store.state.editError).toBeNull();
    store.setEdit('load', 'x');
    store.setEdit('load', null);
    expect(store.state.edits).toEqual({});
  });

  it('reloads the tags when a new execution of the project appears', async () => {
    const { api, db } = fakeAPI([debug]);
    let tagLoads = 0;
    const listTags = api.listTags;
    api.listTags = async project => {
      tagLoads++;
      return listTags(project);
    };
    const store = new PipelinesStore({ api, follow: false });
    await store.refresh();
    await store.select({ project: 'default', name: 'd' });
    await flush();
    const before = tagLoads;
    db.set('default/n', execution('n', { created: '2024-06-01T00:00:00Z' }));
    await store.handleEvent({
      project: 'default',
      execution: 'n',
      pipeline: 'demo',
      status: 'running'
    });
    await flush();
    expect(tagLoads).toBe(before + 1);
  });
});

describe('PipelinesStore log events with a server cut', () => {
  it('keeps the cut, with no refetch for the jump', async () => {
    const running = execution('r', {
      status: 'running',
      jobs: [
        job('load', { status: 'running', started: '2024-05-01T10:00:00Z' })
      ]
    });
    const { api, db, calls } = fakeAPI([running]);
    const sse =
      'event: log\ndata: {"op":"load","offset":0,"text":"start\\n"}\n\n' +
      'event: log\ndata: {"op":"load","offset":5006,"text":"end\\n","truncated":5000}\n\n' +
      'event: execution\ndata: {"status":"success"}\n\n';
    api.openEvents = async () => {
      db.set('default/r', { ...running, status: 'success' });
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(sse));
          controller.close();
        }
      });
      return { body, ok: true, status: 200 } as unknown as Response;
    };
    api.jobLog = async (project, name, op) => {
      calls.push(`log ${name}/${op}`);
      return '';
    };
    const store = new PipelinesStore({ api });
    await store.select({ project: 'default', name: 'r' });
    for (let i = 0; i < 20 && store.state.details?.status !== 'success'; i++) {
      await flush();
    }
    await flush();
    expect(store.state.logs.load.text).toBe('start\nend\n');
    expect(store.state.logs.load.skipped).toBe(5000);
    store.dispose();
  });
});
