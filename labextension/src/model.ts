/**
 * Data types of the jupyter_pipelines REST API and pure functions over them.
 *
 * Nothing here touches the network or the DOM, so it is unit-tested directly.
 */

/** Execution statuses. */
export type ExecutionStatus =
  'pending' | 'running' | 'success' | 'failed' | 'canceled';

/** Operation (job) statuses. */
export type JobStatus =
  | 'pending'
  | 'queued'
  | 'running'
  | 'success'
  | 'failed'
  | 'canceled'
  | 'skipped';

export interface IBackendSettings {
  backend: string;
  config: { [key: string]: unknown };
}

/** A short look at an output's value, made by the server. */
export type IPreview =
  | { kind: 'value'; text: string; truncated?: boolean }
  | { kind: 'text'; text: string; truncated?: boolean }
  | {
      kind: 'table';
      columns: string[];
      rows: unknown[][];
      shape?: number[];
      truncated?: boolean;
    }
  | {
      kind: 'array';
      shape: number[];
      dtype: string;
      text: string;
      truncated?: boolean;
    }
  | { kind: 'image'; mime: string; data: string; truncated?: boolean };

export interface IOutput {
  name: string;
  location: string | null;
  type: string | null;
  size: number | null;
  preview?: IPreview | null;
}

/** One attempt of a job (a re-run adds one; the oldest comes first). */
export interface IAttempt {
  attempt: number;
  status: JobStatus | string;
  started: string | null;
  ended: string | null;
  duration: number | null;
  exit_code: number | null;
  error: string | null;
}

/** A plot drawn by an operation, served at `url` (server-relative). */
export interface IFigure {
  index: number;
  mime: string;
  url: string;
}

export interface IJob {
  op: string;
  operation: string;
  status: JobStatus | string;
  started: string | null;
  ended: string | null;
  duration: number | null;
  exit_code: number | null;
  error: string | null;
  traceback: string | null;
  outputs: IOutput[];
  attempts?: IAttempt[];
  figures?: IFigure[];
}

export type GraphNodeKind = 'operation' | 'input' | 'output';

export interface IGraphNode {
  id: string;
  kind: GraphNodeKind | string;
  label: string;
  /** The key of the operation in `IExecution.operations` (operation nodes). */
  operation: string | null;
  /** The artifact's name (input and output nodes). */
  artifact: string | null;
  attributes: { [name: string]: unknown };
}

export interface IGraphEdge {
  source: string;
  target: string;
  /** The source node's output name. */
  output: string;
  /** The target node's input name. */
  input: string;
}

/** The graph of a pipeline as snapshotted for an execution. */
export interface IGraph {
  nodes: IGraphNode[];
  edges: IGraphEdge[];
}

/** One operation's definition in an execution's snapshot. */
export interface IOperationInfo {
  source: string;
  inputs: string[];
  outputs: string[];
  attributes: { [name: string]: { type: string | null; default: unknown } };
}

export interface IExecution {
  name: string;
  project: string;
  pipeline: string;
  status: ExecutionStatus | string;
  debug: boolean;
  tag: string | null;
  commit: string | null;
  created: string | null;
  started: string | null;
  ended: string | null;
  duration: number | null;
  error: string | null;
  compute: IBackendSettings | null;
  storage: IBackendSettings | null;
  jobs: IJob[];
  /** The graph, operations and parameters: in one execution's answer only. */
  graph?: IGraph | null;
  operations?: { [key: string]: IOperationInfo } | null;
  params?: { [key: string]: unknown } | null;
  /** The server's clock when it answered (ISO 8601), if it said. */
  now?: string | null;
}

/** One page of the executions list. */
export interface IExecutionPage {
  executions: IExecution[];
  /** The cursor of the next (older) page; null at the end. */
  next: string | null;
  /** The server's clock when it answered. */
  now: string | null;
}

export interface ITag {
  name: string;
  project: string;
  commit: string;
  execution: string | null;
  pipeline: string | null;
  created: string | null;
}

export interface IChangedOperation {
  node: string;
  source_changed: boolean;
  attributes: { [key: string]: [unknown, unknown] };
  old_source?: string | null;
  new_source?: string | null;
}

export interface ITagDiff {
  a: string;
  b: string;
  operations: {
    added: string[];
    removed: string[];
    changed: IChangedOperation[];
  };
}

/** The payload of our events on the Jupyter server event bus. */
export interface IPipelinesEvent {
  project: string;
  execution: string;
  pipeline: string;
  status: string;
  op?: string | null;
  job_status?: string | null;
}

export const EVENT_SCHEMA_ID =
  'https://events.jupyter.org/jupyter_pipelines/execution/v1';

export const EXECUTION_STATUSES: ExecutionStatus[] = [
  'pending',
  'running',
  'success',
  'failed',
  'canceled'
];

const ACTIVE = new Set(['pending', 'queued', 'running']);

/** Whether an execution or job status can still change. */
export function isActive(status: string | null | undefined): boolean {
  return !!status && ACTIVE.has(status);
}

function time(iso: string | null | undefined): number {
  if (!iso) {
    return NaN;
  }
  return Date.parse(iso);
}

/** Newest first (by created, then name for a stable order). */
export function compareExecutions(a: IExecution, b: IExecution): number {
  const ta = time(a.created);
  const tb = time(b.created);
  const va = isNaN(ta) ? -Infinity : ta;
  const vb = isNaN(tb) ? -Infinity : tb;
  if (va !== vb) {
    return vb - va;
  }
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

export function sortExecutions(list: readonly IExecution[]): IExecution[] {
  return [...list].sort(compareExecutions);
}

/** Key of an execution: names are unique within a project. */
export function executionKey(e: { project: string; name: string }): string {
  return `${e.project}\u0000${e.name}`;
}

/** Insert or replace an execution, keeping the list sorted newest first. */
export function upsertExecution(
  list: readonly IExecution[],
  execution: IExecution
): IExecution[] {
  const key = executionKey(execution);
  const rest = list.filter(e => executionKey(e) !== key);
  rest.push(execution);
  return sortExecutions(rest);
}

export function removeExecution(
  list: readonly IExecution[],
  project: string,
  name: string
): IExecution[] {
  const key = executionKey({ project, name });
  return list.filter(e => executionKey(e) !== key);
}

/** The projects to offer in the selector: sorted, always with "default". */
export function projectsOf(
  list: readonly IExecution[],
  extra: readonly string[] = []
): string[] {
  const set = new Set<string>(['default', ...extra]);
  for (const e of list) {
    if (e.project) {
      set.add(e.project);
    }
  }
  return [...set].sort((a, b) => a.localeCompare(b));
}

/**
 * The executions of a project matching a filter text. The filter matches,
 * case-insensitively, the name, the pipeline or the status; several words
 * must all match.
 */
export function filterExecutions(
  list: readonly IExecution[],
  project: string | null,
  filter: string
): IExecution[] {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  return list.filter(e => {
    if (project !== null && e.project !== project) {
      return false;
    }
    const hay = `${e.name} ${e.pipeline} ${e.status} ${e.tag ?? ''}`;
    const text = hay.toLowerCase();
    return words.every(w => text.includes(w));
  });
}

/** Jobs in execution order: by start time, not started ones last. */
export function jobsInOrder(jobs: readonly IJob[]): IJob[] {
  return jobs
    .map((job, index) => ({ job, index }))
    .sort((x, y) => {
      const tx = time(x.job.started);
      const ty = time(y.job.started);
      const sx = isNaN(tx) ? Infinity : tx;
      const sy = isNaN(ty) ? Infinity : ty;
      if (sx !== sy) {
        return sx - sy;
      }
      return x.index - y.index;
    })
    .map(x => x.job);
}

/**
 * Merge a partial execution status (an SSE `execution` event) into an
 * execution. Jobs are replaced only when the update carries them.
 */
export function mergeExecution(
  execution: IExecution,
  update: Partial<IExecution>
): IExecution {
  const merged: IExecution = { ...execution };
  for (const [k, v] of Object.entries(update)) {
    if (v !== undefined && k !== 'jobs') {
      (merged as unknown as Record<string, unknown>)[k] = v;
    }
  }
  if (Array.isArray(update.jobs) && update.jobs.length) {
    merged.jobs = update.jobs;
  }
  return merged;
}

/** A job that has not run yet. */
export function pendingJob(op: string): IJob {
  return {
    op,
    operation: op,
    status: 'pending',
    started: null,
    ended: null,
    duration: null,
    exit_code: null,
    error: null,
    traceback: null,
    outputs: []
  };
}

/** Merge a job update (an SSE `job` event: `{op, status, ...}`). */
export function mergeJob(
  execution: IExecution,
  update: Partial<IJob> & { op: string }
): IExecution {
  let found = false;
  const jobs = execution.jobs.map(job => {
    if (job.op !== update.op) {
      return job;
    }
    found = true;
    const merged: IJob = { ...job };
    for (const [k, v] of Object.entries(update)) {
      if (v !== undefined) {
        (merged as unknown as Record<string, unknown>)[k] = v;
      }
    }
    return merged;
  });
  if (!found) {
    jobs.push({ ...pendingJob(update.op), ...update } as IJob);
  }
  return { ...execution, jobs };
}

/**
 * Read one of our events from an event bus emission, or null when it is not
 * ours. The payload fields are top-level in an emission (jupyter_server
 * flattens them); a nested `data`/`payload` object is accepted too.
 */
export function parsePipelinesEvent(
  emission: { [key: string]: unknown } | null | undefined
): IPipelinesEvent | null {
  if (!emission || emission['schema_id'] !== EVENT_SCHEMA_ID) {
    return null;
  }
  let payload: { [key: string]: unknown } = emission;
  for (const key of ['payload', 'data']) {
    const nested = emission[key];
    if (nested && typeof nested === 'object' && !Array.isArray(nested)) {
      payload = nested as { [key: string]: unknown };
      break;
    }
  }
  const execution = payload['execution'];
  if (typeof execution !== 'string' || !execution) {
    return null;
  }
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    project: str(payload['project']) || 'default',
    execution,
    pipeline: str(payload['pipeline']) ?? '',
    status: str(payload['status']) ?? '',
    op: str(payload['op']),
    job_status: str(payload['job_status'])
  };
}

/** One line of a tag comparison, for display. */
export interface IDiffLine {
  kind: 'added' | 'removed' | 'changed';
  node: string;
  details: string[];
}

function show(value: unknown): string {
  if (value === undefined) {
    return '∅';
  }
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s;
  } catch {
    return String(value);
  }
}

/** Flatten a tag diff into display lines (sorted, stable). */
export function diffLines(diff: ITagDiff): IDiffLine[] {
  const ops = diff.operations ?? { added: [], removed: [], changed: [] };
  const lines: IDiffLine[] = [];
  for (const node of [...(ops.added ?? [])].sort()) {
    lines.push({ kind: 'added', node, details: [] });
  }
  for (const node of [...(ops.removed ?? [])].sort()) {
    lines.push({ kind: 'removed', node, details: [] });
  }
  const changed = [...(ops.changed ?? [])].sort((x, y) =>
    x.node.localeCompare(y.node)
  );
  for (const c of changed) {
    const details: string[] = [];
    if (c.source_changed) {
      details.push('source changed');
    }
    for (const key of Object.keys(c.attributes ?? {}).sort()) {
      const pair = c.attributes[key];
      const [before, after] = Array.isArray(pair) ? pair : [undefined, pair];
      details.push(`${key}: ${show(before)} → ${show(after)}`);
    }
    lines.push({ kind: 'changed', node: c.node, details });
  }
  return lines;
}

/** Whether an execution or one of its jobs is running (durations tick). */
export function anyRunning(list: readonly IExecution[]): boolean {
  return list.some(
    e => isActive(e.status) || (e.jobs ?? []).some(j => isActive(j.status))
  );
}

/** Normalize an execution from the server (missing arrays/objects). */
export function normalizeExecution(raw: IExecution): IExecution {
  return {
    ...raw,
    project: raw.project || 'default',
    jobs: Array.isArray(raw.jobs)
      ? raw.jobs.map(j => ({
          ...j,
          outputs: Array.isArray(j.outputs) ? j.outputs : []
        }))
      : []
  };
}
