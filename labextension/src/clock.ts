/**
 * The server's clock. Every JSON answer about executions may carry `now`
 * (the server's time); relative times and running durations are computed
 * against it, so a client whose clock is off never shows a new execution as
 * "in 16 seconds".
 */
import { parseTime } from './format';

/**
 * The offset to add to the client's clock to get the server's, in ms, from
 * the server's `now`; null when `now` is missing or not a time.
 */
export function clockOffset(
  serverNow: string | null | undefined,
  clientNow: number = Date.now()
): number | null {
  const server = parseTime(serverNow);
  if (isNaN(server)) {
    return null;
  }
  return server - clientNow;
}

/** The server's time now, given the last known offset. */
export function serverTime(offset: number, clientNow: number = Date.now()) {
  return clientNow + (isFinite(offset) ? offset : 0);
}
