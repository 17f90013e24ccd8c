/**
 * Formatting of times, durations and sizes for the panel.
 */

/** Parse an ISO 8601 string; a missing zone is taken as UTC. NaN if invalid. */
export function parseTime(iso: string | null | undefined): number {
  if (!iso) {
    return NaN;
  }
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(iso);
  const withZone = !hasZone && /T\d\d:\d\d/.test(iso) ? `${iso}Z` : iso;
  return Date.parse(withZone);
}

/**
 * A duration in seconds as text: "0.4s", "12s", "3m 05s", "2h 03m", "3d 4h".
 * Empty for a missing or negative value.
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '';
  }
  if (seconds < 0) {
    return '';
  }
  if (seconds < 10) {
    const rounded = Math.floor(seconds * 10) / 10;
    return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)}s`;
  }
  const total = Math.floor(seconds);
  if (total < 60) {
    return `${total}s`;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  const m = Math.floor(total / 60);
  const s = total % 60;
  if (m < 60) {
    return `${m}m ${pad(s)}s`;
  }
  const h = Math.floor(m / 60);
  if (h < 24) {
    return `${h}h ${pad(m % 60)}m`;
  }
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

/**
 * The duration of something that started and maybe ended. While it runs
 * (started, not ended) it is measured up to `now`, so the display ticks.
 * A server-given duration wins once it has ended.
 */
export function liveDuration(
  item: {
    started: string | null;
    ended: string | null;
    duration: number | null;
  },
  now: number
): number | null {
  const started = parseTime(item.started);
  const ended = parseTime(item.ended);
  if (!isNaN(ended)) {
    if (typeof item.duration === 'number') {
      return item.duration;
    }
    return isNaN(started) ? null : Math.max(0, (ended - started) / 1000);
  }
  if (!isNaN(started)) {
    return Math.max(0, (now - started) / 1000);
  }
  return typeof item.duration === 'number' ? item.duration : null;
}

const UNITS: [number, string][] = [
  [60, 'second'],
  [60, 'minute'],
  [24, 'hour'],
  [7, 'day'],
  [4.35, 'week'],
  [12, 'month'],
  [Infinity, 'year']
];

/**
 * Relative time: "just now", "5 seconds ago", "3 minutes ago", "in 2 hours".
 * Empty for a missing or invalid time. `now` is the server's time (clock.ts);
 * less than a minute ahead of it still reads "just now".
 */
export function relativeTime(iso: string | null | undefined, now: number) {
  const t = parseTime(iso);
  if (isNaN(t)) {
    return '';
  }
  const diff = (now - t) / 1000;
  const future = diff < 0;
  let value = Math.abs(diff);
  // a moment ahead is clock skew or latency, never the future
  if (value < 5 || (future && value < 60)) {
    return 'just now';
  }
  for (const [size, unit] of UNITS) {
    if (value < size) {
      const n = Math.floor(value);
      const text = `${n} ${unit}${n === 1 ? '' : 's'}`;
      return future ? `in ${text}` : `${text} ago`;
    }
    value /= size;
  }
  return '';
}

/** Absolute local time for a tooltip. */
export function absoluteTime(iso: string | null | undefined): string {
  const t = parseTime(iso);
  return isNaN(t) ? '' : new Date(t).toLocaleString();
}

/** Local time of day (a short column); the date is in `absoluteTime`. */
export function clockTime(iso: string | null | undefined): string {
  const t = parseTime(iso);
  return isNaN(t) ? '' : new Date(t).toLocaleTimeString();
}

/** A byte size: "512 B", "1.5 KiB", "12.0 MiB". Empty when unknown. */
export function formatBytes(size: number | null | undefined): string {
  if (size === null || size === undefined || !isFinite(size) || size < 0) {
    return '';
  }
  if (size < 1024) {
    return `${Math.round(size)} B`;
  }
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = size;
  let unit = 'B';
  for (const u of units) {
    if (value < 1024) {
      break;
    }
    value /= 1024;
    unit = u;
  }
  return `${value.toFixed(1)} ${unit}`;
}

/** First characters of a commit id. */
export function shortCommit(commit: string | null | undefined): string {
  return commit ? commit.slice(0, 12) : '';
}

/** The file name of a Content-Disposition header, if any. */
export function filenameOf(header: string | null): string | null {
  if (!header) {
    return null;
  }
  const star = /filename\*\s*=\s*(?:UTF-8'[^']*')?([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''));
    } catch {
      // fall back to the plain parameter
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  if (plain) {
    return (plain[2] ?? plain[1]).trim();
  }
  return null;
}
