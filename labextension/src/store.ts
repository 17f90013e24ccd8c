/**
 * The panel's state and what changes it: the executions list, the selected
 * execution's details, its logs and the actions on it. Independent of React
 * and of JupyterLab (the API is injected), so it is unit-tested with a fake.
 */
import type { IPipelinesAPI } from './api';
import {
  IExecution,
  IJob,
  IPipelinesEvent,
  ITag,
  ITagDiff,
  appendLog,
  isActive,
  mergeExecution,
  mergeJob,
  normalizeExecution,
  removeExecution,
  sortExecutions,
  upsertExecution
} from './model';
import { ExecutionStream, ILogChunk } from './stream';

export interface ISelection {
  project: string;
  name: string;
}

/** What is remembered across page reloads. */
export interface IPersistedState {
  project: string | null;
  filter: string;
  selected: ISelection | null;
}

export type Action = 'cancel' | 'rerun' | 'delete' | 'export' | 'compare';

export interface IState {
  executions: IExecution[];
  loading: boolean;
  /** The error of the last list refresh. */
  error: string | null;
  /** The selected project; null shows every project. */
  project: string | null;
  filter: string;
  selected: ISelection | null;
  details: IExecution | null;
  detailsError: string | null;
  /** Logs of the selected execution, by op. */
  logs: { [op: string]: string };
  /** The action running on the selected execution, if any. */
  busy: Action | null;
  /** The error of the last action. */
  actionError: string | null;
  /** An information message of the last action (e.g. an export). */
  message: string | null;
  tags: ITag[];
  compareWith: string | null;
  diff: ITagDiff | null;
}

const TERMINAL_JOB = new Set(['success', 'failed', 'canceled']);

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown })?.status;
  return typeof status === 'number' ? status : undefined;
}

export interface IStoreOptions {
  api: IPipelinesAPI;
  /** Called with what to remember whenever it changes. */
  persist?: (state: IPersistedState) => void;
  /** Follow the selected execution's event stream (off in tests). */
  follow?: boolean;
}

export class PipelinesStore {
  constructor(options: IStoreOptions) {
    this._api = options.api;
    this._persist = options.persist;
    this._follow = options.follow ?? true;
  }

  get state(): IState {
    return this._state;
  }

  /** Listen to state changes; returns the function that stops listening. */
  subscribe(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  dispose(): void {
    this._disposed = true;
    this._stopStream();
    this._listeners.clear();
  }

  /** Re-apply remembered state (after a page reload). */
  restore(saved: Partial<IPersistedState> | null | undefined): void {
    if (!saved) {
      return;
    }
    this._set({
      project: typeof saved.project === 'string' ? saved.project : null,
      filter: typeof saved.filter === 'string' ? saved.filter : ''
    });
    const sel = saved.selected;
    if (
      sel &&
      typeof sel.name === 'string' &&
      typeof sel.project === 'string'
    ) {
      void this.select(sel);
    }
  }

  /** (Re-)fetch the executions list, and the selected execution. */
  async refresh(): Promise<void> {
    this._set({ loading: true });
    try {
      const executions = sortExecutions(await this._api.listExecutions());
      this._set({ executions, loading: false, error: null });
    } catch (error) {
      this._set({ loading: false, error: messageOf(error) });
    }
    const sel = this._state.selected;
    if (sel) {
      await this._reloadDetails(sel);
    }
  }

  setProject(project: string | null): void {
    this._set({ project: project || null }, true);
  }

  setFilter(filter: string): void {
    this._set({ filter }, true);
  }

  /** An event of the server's event bus: refresh the affected execution. */
  handleEvent(event: IPipelinesEvent): Promise<void> {
    return this.refreshExecution(event.project, event.execution);
  }

  /**
   * GET one execution and put it in the list (and the details). Requests for
   * the same execution are coalesced: one at a time, and one more after it
   * when asked again meanwhile.
   */
  async refreshExecution(project: string, name: string): Promise<void> {
    const key = `${project}\u0000${name}`;
    const running = this._inflight.get(key);
    if (running) {
      this._again.add(key);
      return running;
    }
    const task = (async () => {
      do {
        this._again.delete(key);
        await this._fetchOne(project, name);
      } while (this._again.has(key) && !this._disposed);
    })();
    this._inflight.set(key, task);
    try {
      await task;
    } finally {
      this._inflight.delete(key);
    }
  }

  /** Select an execution (null clears the selection). */
  async select(selection: ISelection | null): Promise<void> {
    const current = this._state.selected;
    if (
      selection &&
      current &&
      selection.project === current.project &&
      selection.name === current.name
    ) {
      return;
    }
    this._stopStream();
    this._logStatus.clear();
    const placeholder = selection
      ? (this._state.executions.find(
          e => e.project === selection.project && e.name === selection.name
        ) ?? null)
      : null;
    this._set(
      {
        selected: selection,
        details: placeholder,
        detailsError: null,
        logs: {},
        busy: null,
        actionError: null,
        message: null,
        compareWith: null,
        diff: null,
        tags: []
      },
      true
    );
    if (selection) {
      await this._reloadDetails(selection);
      void this.loadTags();
    }
  }

  /** Tags of the selected execution's project (for "compare with…"). */
  async loadTags(): Promise<void> {
    const sel = this._state.selected;
    if (!sel) {
      return;
    }
    try {
      const tags = await this._api.listTags(sel.project);
      if (this._isSelected(sel)) {
        this._set({
          tags: tags.filter(t => !t.project || t.project === sel.project)
        });
      }
    } catch {
      // the compare selector stays empty; not worth an error line
    }
  }

  async cancel(): Promise<void> {
    await this._action('cancel', async sel => {
      await this._api.cancel(sel.project, sel.name);
      await this.refreshExecution(sel.project, sel.name);
    });
  }

  async rerun(): Promise<void> {
    await this._action('rerun', async sel => {
      const result = await this._api.rerun(sel.project, sel.name);
      if (result && result.name !== sel.name) {
        // the server made a new execution: show it
        this._set({
          executions: upsertExecution(this._state.executions, result)
        });
        await this.select({ project: result.project, name: result.name });
        return;
      }
      this._logStatus.clear();
      this._set({ logs: {} });
      await this.refreshExecution(sel.project, sel.name);
    });
  }

  /** Delete the selected execution (the caller asked for confirmation). */
  async remove(): Promise<void> {
    await this._action('delete', async sel => {
      await this._api.remove(sel.project, sel.name);
      this._set({
        executions: removeExecution(
          this._state.executions,
          sel.project,
          sel.name
        )
      });
      await this.select(null);
    });
  }

  /** Build the export zip and download it. */
  async exportSelected(): Promise<void> {
    await this._action('export', async sel => {
      const { url } = await this._api.exportExecution(sel.project, sel.name);
      await this._api.download(url, `${sel.name}.zip`);
      if (this._isSelected(sel)) {
        this._set({ message: `Exported ${sel.name}` });
      }
    });
  }

  /** Compare the selected execution's tag with another tag. */
  async compare(other: string): Promise<void> {
    this._set({ compareWith: other || null, diff: null });
    if (!other) {
      return;
    }
    await this._action('compare', async sel => {
      const details = this._state.details;
      const mine = details?.tag || sel.name;
      const diff = await this._api.diffTags(sel.project, mine, other);
      if (this._isSelected(sel)) {
        this._set({ diff });
      }
    });
  }

  /** Fetch (again) the full log of an operation of the selected execution. */
  async loadLog(op: string): Promise<void> {
    const sel = this._state.selected;
    if (!sel) {
      return;
    }
    try {
      const text = await this._api.jobLog(sel.project, sel.name, op);
      if (!this._isSelected(sel)) {
        return;
      }
      const current = this._state.logs[op] ?? '';
      if (text.length >= current.length) {
        this._set({ logs: { ...this._state.logs, [op]: text } });
      }
    } catch (error) {
      if (statusOf(error) !== 404 && this._isSelected(sel)) {
        this._set({ actionError: `Log of ${op}: ${messageOf(error)}` });
      }
    }
  }

  // -- internals ------------------------------------------------------------

  private async _action(
    action: Action,
    run: (sel: ISelection) => Promise<void>
  ): Promise<void> {
    const sel = this._state.selected;
    if (!sel) {
      return;
    }
    this._set({ busy: action, actionError: null, message: null });
    try {
      await run(sel);
    } catch (error) {
      if (this._isSelected(sel)) {
        this._set({ actionError: messageOf(error) });
      }
    } finally {
      if (this._isSelected(sel) || this._state.selected === null) {
        this._set({ busy: null });
      }
    }
  }

  private async _fetchOne(project: string, name: string): Promise<void> {
    try {
      const execution = await this._api.getExecution(project, name);
      this._set({
        executions: upsertExecution(this._state.executions, execution)
      });
      if (this._isSelected({ project, name })) {
        this._setDetails(execution);
      }
    } catch (error) {
      if (statusOf(error) === 404) {
        this._set({
          executions: removeExecution(this._state.executions, project, name)
        });
        if (this._isSelected({ project, name })) {
          this._stopStream();
          this._set({
            details: null,
            detailsError: `${name} no longer exists`
          });
        }
      } else if (this._isSelected({ project, name })) {
        this._set({ detailsError: messageOf(error) });
      }
    }
  }

  private async _reloadDetails(sel: ISelection): Promise<void> {
    try {
      const execution = await this._api.getExecution(sel.project, sel.name);
      if (!this._isSelected(sel)) {
        return;
      }
      this._set({
        executions: upsertExecution(this._state.executions, execution),
        detailsError: null
      });
      this._setDetails(execution);
    } catch (error) {
      if (this._isSelected(sel)) {
        this._set({ detailsError: messageOf(error) });
      }
    }
  }

  /** New details: fetch the logs that changed, follow the stream if live. */
  private _setDetails(execution: IExecution): void {
    this._set({ details: execution, detailsError: null });
    this._syncLogs(execution.jobs);
    if (isActive(execution.status)) {
      this._startStream();
    }
  }

  /** Fetch the full log of jobs that started or ended since last seen. */
  private _syncLogs(jobs: readonly IJob[]): void {
    for (const job of jobs) {
      const status = String(job.status);
      const seen = this._logStatus.get(job.op);
      if (seen === status) {
        continue;
      }
      const fetchNow = TERMINAL_JOB.has(status) || status === 'running';
      this._logStatus.set(job.op, status);
      if (fetchNow) {
        void this.loadLog(job.op);
      }
    }
  }

  private _startStream(): void {
    const sel = this._state.selected;
    if (!this._follow || !sel || this._stream?.running) {
      return;
    }
    const stream = new ExecutionStream(
      (lastEventId, signal) =>
        this._api.openEvents(sel.project, sel.name, lastEventId, signal),
      {
        open: reconnect => {
          if (reconnect) {
            void this.refreshExecution(sel.project, sel.name);
          }
        },
        execution: data => this._onStreamExecution(sel, data),
        job: data => this._onStreamJob(sel, data),
        log: chunk => this._onStreamLog(sel, chunk)
      },
      {
        isDone: () =>
          !this._isSelected(sel) || !isActive(this._state.details?.status)
      }
    );
    this._stream = stream;
    void stream.start().then(() => {
      if (this._stream === stream) {
        this._stream = null;
        // the stream ended with the execution: take its final state
        if (this._isSelected(sel) && !this._disposed) {
          void this.refreshExecution(sel.project, sel.name);
        }
      }
    });
  }

  private _stopStream(): void {
    const stream = this._stream;
    this._stream = null;
    stream?.stop();
  }

  private _onStreamExecution(sel: ISelection, data: Partial<IExecution>): void {
    const details = this._state.details;
    if (!this._isSelected(sel) || !details) {
      return;
    }
    if (data.name && data.name !== sel.name) {
      return;
    }
    const merged = mergeExecution(details, data);
    const normalized =
      Array.isArray(data.jobs) && data.jobs.length
        ? normalizeExecution(merged)
        : merged;
    this._set({
      details: normalized,
      executions: this._patchListEntry(sel, normalized)
    });
    this._syncLogs(normalized.jobs);
  }

  private _onStreamJob(
    sel: ISelection,
    data: Partial<IJob> & { op: string }
  ): void {
    const details = this._state.details;
    if (!this._isSelected(sel) || !details) {
      return;
    }
    const merged = mergeJob(details, data);
    this._set({ details: merged });
    this._syncLogs(merged.jobs);
  }

  private _onStreamLog(sel: ISelection, chunk: ILogChunk): void {
    if (!this._isSelected(sel)) {
      return;
    }
    const current = this._state.logs[chunk.op] ?? '';
    const { text, gap } = appendLog(current, chunk.offset, chunk.text);
    if (text !== current) {
      this._set({ logs: { ...this._state.logs, [chunk.op]: text } });
    }
    if (gap) {
      void this.loadLog(chunk.op);
    }
  }

  /** The list with the selected entry's status fields updated. */
  private _patchListEntry(sel: ISelection, details: IExecution): IExecution[] {
    return this._state.executions.map(e =>
      e.project === sel.project && e.name === sel.name
        ? {
            ...e,
            status: details.status,
            started: details.started,
            ended: details.ended,
            duration: details.duration
          }
        : e
    );
  }

  private _isSelected(sel: ISelection): boolean {
    const current = this._state.selected;
    return (
      !this._disposed &&
      !!current &&
      current.project === sel.project &&
      current.name === sel.name
    );
  }

  private _set(patch: Partial<IState>, persist = false): void {
    if (this._disposed) {
      return;
    }
    this._state = { ...this._state, ...patch };
    if (persist && this._persist) {
      const { project, filter, selected } = this._state;
      this._persist({ project, filter, selected });
    }
    for (const listener of [...this._listeners]) {
      listener();
    }
  }

  private _api: IPipelinesAPI;
  private _persist?: (state: IPersistedState) => void;
  private _follow: boolean;
  private _disposed = false;
  private _listeners = new Set<() => void>();
  private _inflight = new Map<string, Promise<void>>();
  private _again = new Set<string>();
  private _stream: ExecutionStream | null = null;
  /** The job status at which each op's log was last synchronised. */
  private _logStatus = new Map<string, string>();
  private _state: IState = {
    executions: [],
    loading: false,
    error: null,
    project: null,
    filter: '',
    selected: null,
    details: null,
    detailsError: null,
    logs: {},
    busy: null,
    actionError: null,
    message: null,
    tags: [],
    compareWith: null,
    diff: null
  };
}
