/**
 * A log kept in memory with a size cap: the oldest text is dropped once the
 * log grows past the limit, and how much was dropped is remembered (with
 * what the server itself skipped when it cut a flood) so the view can say so.
 *
 * Positions in the full log are in bytes of UTF-8, as the server counts them
 * (`offset` of `log` events, `?offset=` of the log route).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The length of `text` in bytes of UTF-8. */
export function byteLength(text: string): number {
  return encoder.encode(text).length;
}

export interface ILogBuffer {
  /** The text kept. */
  text: string;
  /** The offset of `text` in the full log (bytes before it). */
  start: number;
  /** Bytes dropped here, from the front, to respect the cap. */
  dropped: number;
  /** Bytes the server reported it skipped (`truncated` log events). */
  skipped: number;
}

export const EMPTY_LOG: ILogBuffer = {
  text: '',
  start: 0,
  dropped: 0,
  skipped: 0
};

/** The default cap, in KiB of text. */
export const DEFAULT_LOG_LIMIT_KB = 1024;

/** The cap in characters of a limit given in KiB (at least 1 KiB). */
export function limitChars(limitKB: number | null | undefined): number {
  const kb =
    typeof limitKB === 'number' && isFinite(limitKB) && limitKB > 0
      ? limitKB
      : DEFAULT_LOG_LIMIT_KB;
  return Math.max(1, Math.round(kb)) * 1024;
}

/** Where a log ends in the full log (bytes). */
export function logEnd(buffer: ILogBuffer): number {
  return buffer.start + byteLength(buffer.text);
}

/** Everything that is missing from the front, in bytes. */
export function logCut(buffer: ILogBuffer): number {
  return buffer.dropped + buffer.skipped;
}

/**
 * Keep at most `limit` characters: drop the oldest, cutting at a line start
 * when one is near, so the first line shown is whole.
 */
export function capLog(buffer: ILogBuffer, limit: number): ILogBuffer {
  const excess = buffer.text.length - limit;
  if (excess <= 0) {
    return buffer;
  }
  let cut = excess;
  const newline = buffer.text.indexOf('\n', cut - 1);
  if (newline !== -1 && newline + 1 - cut <= 256) {
    cut = newline + 1;
  }
  const bytes = byteLength(buffer.text.slice(0, cut));
  return {
    ...buffer,
    text: buffer.text.slice(cut),
    start: buffer.start + bytes,
    dropped: buffer.dropped + bytes
  };
}

/** A log fetched whole (or from `start`), capped. */
export function logFromText(
  text: string,
  limit: number,
  start = 0
): ILogBuffer {
  return capLog({ text, start, dropped: start, skipped: 0 }, limit);
}

/** The result of appending a chunk. */
export interface ILogChunkResult {
  buffer: ILogBuffer;
  /** True when the chunk starts past the end: part of the log is missing. */
  gap: boolean;
}

/**
 * Append a chunk that starts at `offset` in the full log: what the buffer
 * already has is skipped (a chunk seen again after a reconnect). A chunk
 * announcing `truncated` bytes cut by the server is taken where it starts,
 * without counting the jump as a gap.
 */
export function appendChunk(
  buffer: ILogBuffer,
  offset: number | null | undefined,
  chunk: string,
  limit: number,
  truncated?: number | null
): ILogChunkResult {
  const cutByServer =
    typeof truncated === 'number' && isFinite(truncated) && truncated > 0
      ? truncated
      : 0;
  let next: ILogBuffer;
  let gap = false;
  const end = logEnd(buffer);
  if (typeof offset !== 'number' || !isFinite(offset) || offset === end) {
    next = { ...buffer, text: buffer.text + chunk };
  } else if (offset < end) {
    const bytes = encoder.encode(chunk);
    const skip = end - offset;
    if (skip >= bytes.length) {
      return { buffer, gap: false };
    }
    next = { ...buffer, text: buffer.text + decoder.decode(bytes.slice(skip)) };
  } else {
    // What lies between is missing: skipped by the server (it said so) or
    // lost (a gap: the caller fetches the whole log again). Keep the end
    // where the chunk says it is.
    next = {
      ...buffer,
      text: buffer.text + chunk,
      start: offset - byteLength(buffer.text)
    };
    gap = !cutByServer;
  }
  if (cutByServer) {
    next = { ...next, skipped: next.skipped + cutByServer };
  }
  return { buffer: capLog(next, limit), gap };
}
