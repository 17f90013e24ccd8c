/**
 * A parser of server-sent events (text/event-stream), per the HTML spec's
 * "event stream interpretation", for streams read with fetch: EventSource
 * cannot send the Jupyter auth headers.
 */

/** One dispatched event. */
export interface IServerSentEvent {
  /** The event type; "message" when the stream named none. */
  event: string;
  /** The data lines joined with "\n". */
  data: string;
  /** The last event id seen so far in the stream ("" if none). */
  id: string;
  /** A reconnection time the server asked for, in ms, if any. */
  retry?: number;
}

/**
 * Incremental parser: feed it decoded text chunks split anywhere, get the
 * complete events back.
 */
export class SSEParser {
  /** The last event id (for `Last-Event-ID` when reconnecting). */
  lastEventId = '';
  /** The reconnection time the server asked for, in ms. */
  retry: number | null = null;

  /** Parse a chunk; returns the events it completed. */
  feed(chunk: string): IServerSentEvent[] {
    const events: IServerSentEvent[] = [];
    let text = this._buffer + chunk;
    if (this._first) {
      if (text.length === 0) {
        return events;
      }
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
      this._first = false;
    }
    let start = 0;
    // A "\r" at the very end may be the first half of "\r\n": keep it.
    for (;;) {
      const cr = text.indexOf('\r', start);
      const lf = text.indexOf('\n', start);
      let end: number;
      let next: number;
      if (cr === -1 && lf === -1) {
        break;
      }
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        if (cr === text.length - 1) {
          break;
        }
        end = cr;
        next = text.charAt(cr + 1) === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      this._line(text.slice(start, end), events);
      start = next;
    }
    this._buffer = text.slice(start);
    return events;
  }

  /**
   * The stream ended: a line ended by a final "\r" is complete (it was kept
   * back as a possible "\r\n"); returns the event that line completes, if
   * any. An event without its terminating blank line is discarded (as the
   * spec says). The state is reset for a new stream.
   */
  finish(): IServerSentEvent[] {
    const events: IServerSentEvent[] = [];
    if (this._buffer.endsWith('\r')) {
      this._line(this._buffer.slice(0, -1), events);
    }
    this.end();
    return events;
  }

  /** Reset the state for a new stream, dropping any partial event. */
  end(): void {
    this._buffer = '';
    this._data = [];
    this._type = '';
    this._first = true;
  }

  private _line(line: string, events: IServerSentEvent[]): void {
    if (line === '') {
      this._dispatch(events);
      return;
    }
    if (line.charAt(0) === ':') {
      return;
    }
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charAt(0) === ' ') {
        value = value.slice(1);
      }
    }
    switch (field) {
      case 'event':
        this._type = value;
        break;
      case 'data':
        this._data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) {
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retry = parseInt(value, 10);
        }
        break;
      default:
        break;
    }
  }

  private _dispatch(events: IServerSentEvent[]): void {
    const data = this._data;
    const type = this._type;
    this._data = [];
    this._type = '';
    if (data.length === 0) {
      return;
    }
    const event: IServerSentEvent = {
      event: type || 'message',
      data: data.join('\n'),
      id: this.lastEventId
    };
    if (this.retry !== null) {
      event.retry = this.retry;
    }
    events.push(event);
  }

  private _buffer = '';
  private _data: string[] = [];
  private _type = '';
  private _first = true;
}

/**
 * Read the events of a byte stream (a fetch `response.body`) until it ends
 * or the signal aborts. The parser is exposed so that a caller can read
 * `lastEventId` after the stream ended.
 */
export async function* readEvents(
  body: ReadableStream<Uint8Array>,
  parser: SSEParser = new SSEParser(),
  signal?: AbortSignal
): AsyncGenerator<IServerSentEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const onAbort = () => {
    reader.cancel().catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      if (signal?.aborted) {
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        const rest = decoder.decode();
        for (const event of parser.feed(rest)) {
          yield event;
        }
        for (const event of parser.finish()) {
          yield event;
        }
        return;
      }
      for (const event of parser.feed(
        decoder.decode(value, { stream: true })
      )) {
        yield event;
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    parser.end();
    try {
      reader.releaseLock();
    } catch {
      // the reader may still have a pending read after a cancel
    }
  }
}

/** Parse the JSON data of an event; null when it is not JSON. */
export function eventJSON<T = unknown>(event: IServerSentEvent): T | null {
  try {
    return JSON.parse(event.data) as T;
  } catch {
    return null;
  }
}
