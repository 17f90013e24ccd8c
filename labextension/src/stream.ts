/**
 * Follow one execution's server-sent events (`executions/{name}/events`),
 * reconnecting with `Last-Event-ID` while the execution is still active.
 */
import type { IExecution, IJob } from './model';
import { SSEParser, eventJSON, readEvents } from './sse';

export interface ILogChunk {
  op: string;
  offset: number;
  text: string;
  /** Bytes the server skipped before this chunk (a flood was cut). */
  truncated?: number;
}

export interface IStreamHandlers {
  execution(data: Partial<IExecution>): void;
  job(data: Partial<IJob> & { op: string }): void;
  log(data: ILogChunk): void;
  /** A connection failed (it will be retried unless `fatal`). */
  error?(error: Error, fatal: boolean): void;
  /** A connection was (re-)established. */
  open?(reconnect: boolean): void;
}

/** Opens the stream; resolves with the response (or throws). */
export type StreamOpener = (
  lastEventId: string,
  signal: AbortSignal
) => Promise<Response>;

export interface IStreamOptions {
  /** Whether the execution has ended: no reconnect then. */
  isDone: () => boolean;
  /** First retry delay in ms (doubles up to maxDelay). */
  retryDelay?: number;
  maxDelay?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

export class ExecutionStream {
  constructor(
    private readonly _open: StreamOpener,
    private readonly _handlers: IStreamHandlers,
    private readonly _options: IStreamOptions
  ) {}

  /** Whether the stream is being followed. */
  get running(): boolean {
    return this._running;
  }

  /** Start following; resolves when it stops for good. */
  start(): Promise<void> {
    if (!this._running) {
      this._running = true;
      this._done = this._loop();
    }
    return this._done;
  }

  /** Stop following (closes the connection). */
  stop(): void {
    this._controller.abort();
  }

  private async _loop(): Promise<void> {
    const signal = this._controller.signal;
    const parser = new SSEParser();
    const base = this._options.retryDelay ?? 1000;
    const max = this._options.maxDelay ?? 30000;
    let delay = base;
    let connections = 0;
    try {
      while (!signal.aborted) {
        let received = false;
        try {
          const response = await this._open(parser.lastEventId, signal);
          if (!response.body) {
            throw new Error('The event stream has no body');
          }
          this._handlers.open?.(connections > 0);
          connections++;
          for await (const event of readEvents(response.body, parser, signal)) {
            received = true;
            this._dispatch(event.event, eventJSON(event));
          }
        } catch (error) {
          if (signal.aborted) {
            break;
          }
          const status = (error as { status?: number }).status;
          const fatal =
            typeof status === 'number' && status >= 400 && status < 500;
          this._handlers.error?.(error as Error, fatal);
          if (fatal) {
            break;
          }
        }
        if (signal.aborted || this._options.isDone()) {
          break;
        }
        if (received) {
          delay = base;
        }
        await sleep(parser.retry ?? delay, signal);
        if (!received) {
          delay = Math.min(max, delay * 2);
        }
      }
    } finally {
      this._running = false;
    }
  }

  private _dispatch(type: string, data: unknown): void {
    if (!data || typeof data !== 'object') {
      return;
    }
    const record = data as Record<string, unknown>;
    switch (type) {
      case 'execution':
        this._handlers.execution(record as Partial<IExecution>);
        break;
      case 'job':
        if (typeof record.op === 'string') {
          this._handlers.job(record as Partial<IJob> & { op: string });
        }
        break;
      case 'log':
        if (typeof record.op === 'string' && typeof record.text === 'string') {
          this._handlers.log({
            op: record.op,
            offset: typeof record.offset === 'number' ? record.offset : NaN,
            text: record.text,
            ...(typeof record.truncated === 'number' && record.truncated > 0
              ? { truncated: record.truncated }
              : {})
          });
        }
        break;
      default:
        break;
    }
  }

  private _controller = new AbortController();
  private _running = false;
  private _done: Promise<void> = Promise.resolve();
}
