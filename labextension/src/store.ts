/**
 * The panel's state and what changes it: the executions list, the selected
 * execution's details, its logs and the actions on it. Independent of React
 * and of JupyterLab (the API is injected), so it is unit-tested with a fake.
 */
import type { IPipelinesAPI, SourceEdits } from './api';
import { clockOffset } from './clock';
import { ITrans, englishTrans } from './i18n';
import {
  DEFAULT_LOG_LIMIT_KB,
  EMPTY_LOG,
  ILogBuffer,
  appendChunk,
  limitChars,
  logFromText
} from './logbuffer';
import {
  IExecution,
  IExecutionPage,
  IJob,
  IPipelinesEvent,
  ITag,
  ITagDiff,
  compareExecutions,
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

/** The key of an attempt's log in `IState.attemptLogs`. */
export function attemptKey(op: string, attempt: number): string {
  return `${op}#${attempt}`;
}

/** Options from the settings. */
export interface IStoreSettings {
  /** Executions per page of the list. */
  pageSize: number;
  /** The most log text kept per operation, in KiB. */
  logLimitKB: number;
  /** The height of the graph in the side panel, in px. */
  graphHeight: number;
}

export const DEFAULT_STORE_SETTINGS: IStoreSettings = {
  pageSize: 50,
  logLimitKB: DEFAULT_LOG_LIMIT_KB,
  graphHeight: 220
};

export interface IState {
  executions: IExecution[];
  loading: boolean;
  /** The cursor of the next page of the list; null when all are loaded. */
  next: string | null;
  loadingMore: boolean;
  /** Server clock minus client clock, in ms (from the latest answer). */
  clockOffset: number;
  /** Every project seen so far (for the selector). */
  knownProjects: string[];
  /** The error of the last list refresh. */
  error: string | null;
  /** The selected project; null shows every project. */
  project: string | null;
  filter: string;
  selected: ISelection | null;
  details: IExecution | null;
  detailsError: string | null;
  /** Logs of the selected execution's latest attempts, by op. */
  logs: { [op: string]: ILogBuffer };
  /** Logs of earlier attempts, by `attemptKey(op, n)`. */
  attemptLogs: { [key: string]: ILogBuffer };
  /** The selected node of the graph (an op for operations). */
  node: string | null;
  /** Edited operation sources (debug executions), by operation key. */
  edits: SourceEdits;
  /** The server's answer to the last re-run with edits, when refused. */
  editError: string | null;
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
  /** The strings of the messages the store makes. */
  trans?: ITrans;
  settings?: Partial<IStoreSettings>;
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
    this._trans = options.trans ?? englishTrans;
    this.configure(options.settings ?? {});
  }

  /** Apply (changed) settings; views re-render with them. */
  configure(settings: Partial<IStoreSettings>): void {
    const merged = { ...this._settings, ...settings };
    const d = DEFAULT_STORE_SETTINGS;
    this._settings = {
      pageSize: merged.pageSize > 0 ? Math.floor(merged.pageSize) : d.pageSize,
      logLimitKB: merged.logLimitKB > 0 ? merged.logLimitKB : d.logLimitKB,
      graphHeight: merged.graphHeight > 0 ? merged.graphHeight : d.graphHeight
    };
    this._set({});
  }

  get settings(): IStoreSettings {
    return this._settings;
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

  /**
   * (Re-)fetch the first page of the list, and the selected execution. Older
   * pages loaded before are kept (with their cursor).
   */
  async refresh(): Promise<void> {
    const project = this._state.project;
    this._set({ loading: true });
    try {
      const page = await this._api.listExecutions({
        project,
        limit: this._settings.pageSize
      });
      if (project === this._state.project) {
        this._takeFirstPage(page);
      }
    } catch (error) {
      this._set({ loading: false, error: messageOf(error) });
    }
    const sel = this._state.selected;
    if (sel) {
      await this._reloadDetails(sel);
    }
  }

  /** Fetch the next (older) page of the list. */
  async loadMore(): Promise<void> {
    const { next, project } = this._state;
    if (!next || this._state.loadingMore) {
      return;
    }
    this._set({ loadingMore: true });
    try {
      const page = await this._api.listExecutions({
        project,
        limit: this._settings.pageSize,
        before: next
      });
      if (project !== this._state.project) {
        return;
      }
      let executions = this._state.executions;
      for (const e of page.executions) {
        executions = upsertExecution(executions, e);
      }
      this._set({
        executions,
        next: page.next,
        error: null,
        knownProjects: this._withProjects(page.executions),
        ...this._clock(page.now)
      });
    } catch (error) {
      this._set({ error: messageOf(error) });
    } finally {
      this._set({ loadingMore: false });
    }
  }

  /** Show one project (null: all); the list is fetched for it. */
  setProject(project: string | null): Promise<void> {
    const value = project || null;
    if (value === this._state.project) {
      return Promise.resolve();
    }
    this._set({ project: value, executions: [], next: null }, true);
    return this.refresh();
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
        attemptLogs: {},
        node: null,
        edits: {},
        editError: null,
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
      const answer = await this._api.cancel(sel.project, sel.name);
      this._set(this._clock(answer?.now));
      await this.refreshExecution(sel.project, sel.name);
    });
  }

  /** Re-run what did not succeed. */
  async rerun(): Promise<void> {
    await this._action('rerun', sel => this._rerun(sel));
  }

  /** Select a node of the graph (null: none); fetch its log if needed. */
  selectNode(node: string | null): void {
    if (node === this._state.node) {
      return;
    }
    this._set({ node });
    if (node && this._state.details) {
      const job = this._state.details.jobs.find(j => j.op === node);
      if (job && !(node in this._state.logs) && job.started) {
        void this.loadLog(node);
      }
    }
  }

  /** Edit an operation's source (debug executions); null drops the edit. */
  setEdit(operation: string, source: string | null): void {
    const edits = { ...this._state.edits };
    if (source === null) {
      delete edits[operation];
    } else {
      edits[operation] = source;
    }
    this._set({ edits, editError: null });
  }

  /**
   * Re-run the selected debug execution with the edited sources. A refusal
   * (the source does not compile, changes inputs/outputs) keeps the edits
   * and shows the server's message in `editError`.
   */
  async rerunWithEdits(): Promise<void> {
    const edits = this._state.edits;
    if (!Object.keys(edits).length) {
      return;
    }
    this._set({ editError: null });
    await this._action('rerun', async sel => {
      try {
        await this._rerun(sel, edits);
      } catch (error) {
        const status = statusOf(error);
        if (status !== undefined && status >= 400 && status < 500) {
          if (this._isSelected(sel)) {
            this._set({ editError: messageOf(error) });
          }
          return;
        }
        throw error;
      }
      if (this._isSelected(sel)) {
        this._set({ edits: {} });
      }
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
        this._set({ message: this._trans.__('Exported %1', sel.name) });
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
      const current = this._state.logs[op] ?? EMPTY_LOG;
      if (text.length >= current.text.length) {
        const buffer = logFromText(text, this._limit());
        this._set({
          logs: {
            ...this._state.logs,
            [op]: { ...buffer, skipped: current.skipped }
          }
        });
      }
    } catch (error) {
      if (statusOf(error) !== 404 && this._isSelected(sel)) {
        this._set({ actionError: this._logError(op, error) });
      }
    }
  }

  /** Fetch the log of one attempt of an operation. */
  async loadAttemptLog(op: string, attempt: number): Promise<void> {
    const sel = this._state.selected;
    if (!sel) {
      return;
    }
    const key = attemptKey(op, attempt);
    try {
      const text = await this._api.jobLog(sel.project, sel.name, op, attempt);
      if (this._isSelected(sel)) {
        this._set({
          attemptLogs: {
            ...this._state.attemptLogs,
            [key]: logFromText(text, this._limit())
          }
        });
      }
    } catch (error) {
      if (this._isSelected(sel)) {
        this._set({
          attemptLogs: { ...this._state.attemptLogs, [key]: EMPTY_LOG },
          actionError:
            statusOf(error) === 404 ? null : this._logError(op, error)
        });
      }
    }
  }

  // -- internals ------------------------------------------------------------

  private async _rerun(sel: ISelection, edits?: SourceEdits): Promise<void> {
    const result = await this._api.rerun(sel.project, sel.name, edits);
    this._set(this._clock(result?.now));
    if (result && result.name !== sel.name) {
      // the server made a new execution: show it
      this._set({
        executions: upsertExecution(this._state.executions, result)
      });
      await this.select({ project: result.project, name: result.name });
      return;
    }
    this._logStatus.clear();
    this._set({ logs: {}, attemptLogs: {} });
    await this.refreshExecution(sel.project, sel.name);
  }

  /**
   * Take a fresh first page: it replaces the newest part of the list; what
   * is older than its last entry (pages loaded since) stays, with its cursor.
   */
  private _takeFirstPage(page: IExecutionPage): void {
    const fresh = sortExecutions(page.executions);
    let next = page.next;
    let executions = fresh;
    if (page.next && fresh.length) {
      const last = fresh[fresh.length - 1];
      const project = this._state.project;
      const older = this._state.executions.filter(
        e =>
          compareExecutions(last, e) < 0 &&
          (project === null || e.project === project)
      );
      if (older.length && this._state.next !== null) {
        executions = [...fresh, ...older];
        next = this._state.next;
      } else if (older.length) {
        // everything older was loaded already: keep it, nothing more to load
        executions = [...fresh, ...older];
        next = null;
      }
    }
    this._set({
      executions,
      next,
      loading: false,
      error: null,
      knownProjects: this._withProjects(page.executions),
      ...this._clock(page.now)
    });
  }

  /** Known projects with those of these executions. */
  private _withProjects(list: readonly IExecution[]): string[] {
    const known = this._state.knownProjects;
    const added = list
      .map(e => e.project)
      .filter((p, i, all) => p && !known.includes(p) && all.indexOf(p) === i);
    return added.length ? [...known, ...added].sort() : known;
  }

  /** The state patch of a server time, if any (see clock.ts). */
  private _clock(now: string | null | undefined): Partial<IState> {
    const offset = clockOffset(now);
    return offset === null ? {} : { clockOffset: offset };
  }

  private _limit(): number {
    return limitChars(this._settings.logLimitKB);
  }

  private _logError(op: string, error: unknown): string {
    return this._trans.__('Log of %1: %2', op, messageOf(error));
  }

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
      const isNew = !this._state.executions.some(
        e => e.project === project && e.name === name
      );
      this._set({
        executions: upsertExecution(this._state.executions, execution),
        knownProjects: this._withProjects([execution]),
        ...this._clock(execution.now)
      });
      const sel = this._state.selected;
      if (isNew && sel && sel.project === project && sel.name !== name) {
        // a new tag to compare with
        void this.loadTags();
      }
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
            detailsError: this._trans.__('%1 no longer exists', name)
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
        detailsError: null,
        ...this._clock(execution.now)
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

  /**
   * Fetch the full log of jobs that started or ended since last seen; a new
   * attempt (a re-run made elsewhere) starts its log afresh.
   */
  private _syncLogs(jobs: readonly IJob[]): void {
    for (const job of jobs) {
      const status = String(job.status);
      const attempts = job.attempts?.length ?? 0;
      const seen = this._logStatus.get(job.op);
      if (seen && seen.status === status && seen.attempts === attempts) {
        continue;
      }
      if (seen && attempts > seen.attempts && this._state.logs[job.op]) {
        const logs = { ...this._state.logs };
        delete logs[job.op];
        this._set({ logs });
      }
      const fetchNow = TERMINAL_JOB.has(status) || status === 'running';
      this._logStatus.set(job.op, { status, attempts });
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
    const current = this._state.logs[chunk.op] ?? EMPTY_LOG;
    const { buffer, gap } = appendChunk(
      current,
      chunk.offset,
      chunk.text,
      this._limit(),
      chunk.truncated
    );
    if (buffer !== current) {
      this._set({ logs: { ...this._state.logs, [chunk.op]: buffer } });
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
  private _trans: ITrans;
  private _settings: IStoreSettings = DEFAULT_STORE_SETTINGS;
  private _persist?: (state: IPersistedState) => void;
  private _follow: boolean;
  private _disposed = false;
  private _listeners = new Set<() => void>();
  private _inflight = new Map<string, Promise<void>>();
  private _again = new Set<string>();
  private _stream: ExecutionStream | null = null;
  /** The job status (and attempts) at which each op's log was synced. */
  private _logStatus = new Map<string, { status: string; attempts: number }>();
  private _state: IState = {
    executions: [],
    loading: false,
    next: null,
    loadingMore: false,
    clockOffset: 0,
    knownProjects: [],
    error: null,
    project: null,
    filter: '',
    selected: null,
    details: null,
    detailsError: null,
    logs: {},
    attemptLogs: {},
    node: null,
    edits: {},
    editError: null,
    busy: null,
    actionError: null,
    message: null,
    tags: [],
    compareWith: null,
    diff: null
  };
}
