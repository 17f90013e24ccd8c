import { pendingJob } from '../src/model';
import type { IExecution, IJob } from '../src/model';

export function job(op: string, patch: Partial<IJob> = {}): IJob {
  return { ...pendingJob(op), ...patch };
}

export function execution(
  name: string,
  patch: Partial<IExecution> = {}
): IExecution {
  return {
    name,
    project: 'default',
    pipeline: 'demo',
    status: 'success',
    debug: false,
    tag: name,
    commit: 'c0ffee',
    created: '2024-05-01T10:00:00Z',
    started: null,
    ended: null,
    duration: null,
    error: null,
    compute: { backend: 'local', config: {} },
    storage: { backend: 'local', config: {} },
    jobs: [],
    ...patch
  };
}
