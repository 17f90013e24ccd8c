/**
 * Requests to the jupyter_pipelines REST API (`<base>/pipelines/api/...`),
 * all through ServerConnection.makeRequest (token and XSRF handled).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IExecution, IExecutionPage, ITag, ITagDiff } from './model';
import { normalizeExecution } from './model';
import { filenameOf } from './format';
import { ITrans, englishTrans } from './i18n';

export const API_PREFIX = 'pipelines/api';

/** An error answer of the server (or a network failure: status 0). */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'APIError';
  }
}

let defaultSettings: ServerConnection.ISettings | null = null;
let trans: ITrans = englishTrans;

/**
 * Use these server settings (the app's) for every request, and this
 * translation for the errors made here.
 */
export function setServerSettings(
  settings: ServerConnection.ISettings,
  translation?: ITrans
): void {
  defaultSettings = settings;
  trans = translation ?? trans;
}

function settings(): ServerConnection.ISettings {
  if (!defaultSettings) {
    defaultSettings = ServerConnection.makeSettings();
  }
  return defaultSettings;
}

/** The full URL of an API path (or of a server-relative `url`). */
export function apiURL(path: string, query?: Record<string, string>): string {
  const url = URLExt.join(settings().baseUrl, API_PREFIX, path);
  return withQuery(url, query);
}

function withQuery(url: string, query?: Record<string, string>): string {
  if (!query) {
    return url;
  }
  const q = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return q ? `${url}${url.includes('?') ? '&' : '?'}${q}` : url;
}

async function errorOf(response: Response): Promise<APIError> {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body.message === 'string' && body.message) {
        message = body.message;
      } else if (body && typeof body.reason === 'string' && body.reason) {
        message = body.reason;
      }
    } catch {
      if (text && text.length < 500 && !text.trimStart().startsWith('<')) {
        message = text;
      }
    }
  } catch {
    // keep the status line
  }
  return new APIError(message, response.status);
}

/** Make a request to a full URL; an error status throws an APIError. */
export async function fetchURL(
  url: string,
  init: RequestInit = {}
): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings());
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') {
      throw error;
    }
    throw new APIError(
      trans.__(
        'Cannot reach the server: %1',
        (error as Error)?.message ?? error
      ),
      0
    );
  }
  if (!response.ok) {
    throw await errorOf(response);
  }
  return response;
}

/** A raw response of an API path (for streams, text and downloads). */
export function requestRaw(
  path: string,
  init: RequestInit = {},
  query?: Record<string, string>
): Promise<Response> {
  return fetchURL(apiURL(path, query), init);
}

/**
 * A JSON request to the API: `requestAPI<T>('executions', {method: 'GET'})`.
 * An empty body (204) resolves to null.
 */
export async function requestAPI<T>(
  path: string,
  init: RequestInit = {},
  query?: Record<string, string>
): Promise<T> {
  const response = await requestRaw(path, init, query);
  const text = await response.text();
  if (!text) {
    return null as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new APIError(
      trans.__('Not a JSON answer from %1', path),
      response.status
    );
  }
}

const enc = encodeURIComponent;

/** A full URL of a server-relative one (as the API hands them out). */
function serverURL(url: string): string {
  return /^https?:\/\//.test(url) ? url : URLExt.join(settings().baseUrl, url);
}

function executionOrNull(body: IExecution | null): IExecution | null {
  return body && typeof body === 'object' && body.name
    ? normalizeExecution(body)
    : null;
}

function json(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

/** What to list: a project (all when empty), a page size and a cursor. */
export interface IListQuery {
  project?: string | null;
  limit?: number | null;
  /** The `next` cursor of the previous page. */
  before?: string | null;
}

/** Edited operation sources for a debug re-run, by operation key. */
export type SourceEdits = { [operation: string]: string };

/** The panel's view of the REST API (an interface, so tests can fake it). */
export interface IPipelinesAPI {
  listExecutions(query?: IListQuery): Promise<IExecutionPage>;
  getExecution(project: string, name: string): Promise<IExecution>;
  cancel(project: string, name: string): Promise<IExecution | null>;
  /** Re-run what did not succeed, or (debug) with edited operations. */
  rerun(
    project: string,
    name: string,
    operations?: SourceEdits
  ): Promise<IExecution | null>;
  remove(project: string, name: string): Promise<void>;
  /** An operation's log: of one attempt (latest when omitted). */
  jobLog(
    project: string,
    name: string,
    op: string,
    attempt?: number
  ): Promise<string>;
  /** A server-relative URL (e.g. a figure) as a blob, with the auth. */
  fetchBlob(url: string): Promise<Blob>;
  listTags(project?: string | null): Promise<ITag[]>;
  diffTags(project: string, a: string, b: string): Promise<ITagDiff>;
  exportExecution(
    project: string,
    name: string
  ): Promise<{ id: string; url: string }>;
  download(url: string, fallbackName: string): Promise<void>;
  openEvents(
    project: string,
    name: string,
    lastEventId: string,
    signal: AbortSignal
  ): Promise<Response>;
}

export const api: IPipelinesAPI = {
  async listExecutions(options = {}) {
    const query: Record<string, string> = {};
    if (options.project) {
      query.project = options.project;
    }
    if (options.limit) {
      query.limit = String(options.limit);
    }
    if (options.before) {
      query.before = options.before;
    }
    const body = await requestAPI<Partial<IExecutionPage> | null>(
      'executions',
      { method: 'GET' },
      query
    );
    return {
      executions: (body?.executions ?? []).map(normalizeExecution),
      next: typeof body?.next === 'string' && body.next ? body.next : null,
      now: typeof body?.now === 'string' ? body.now : null
    };
  },

  async getExecution(project, name) {
    const body = await requestAPI<IExecution>(
      `executions/${enc(name)}`,
      { method: 'GET' },
      { project }
    );
    return normalizeExecution(body);
  },

  async cancel(project, name) {
    const body = await requestAPI<IExecution | null>(
      `executions/${enc(name)}/cancel`,
      json('POST', {}),
      { project }
    );
    return executionOrNull(body);
  },

  async rerun(project, name, operations) {
    const body = await requestAPI<IExecution | null>(
      `executions/${enc(name)}/rerun`,
      json('POST', operations ? { operations } : {}),
      { project }
    );
    return executionOrNull(body);
  },

  async remove(project, name) {
    await requestAPI(
      `executions/${enc(name)}`,
      { method: 'DELETE' },
      { project }
    );
  },

  async jobLog(project, name, op, attempt) {
    const query: Record<string, string> = { project };
    if (typeof attempt === 'number') {
      query.attempt = String(attempt);
    }
    const response = await requestRaw(
      `executions/${enc(name)}/jobs/${enc(op)}/log`,
      { method: 'GET' },
      query
    );
    return response.text();
  },

  async fetchBlob(url) {
    const response = await fetchURL(serverURL(url), { method: 'GET' });
    return response.blob();
  },

  async listTags(project) {
    const query: Record<string, string> = {};
    if (project) {
      query.project = project;
    }
    const body = await requestAPI<{ tags: ITag[] }>(
      'tags',
      { method: 'GET' },
      query
    );
    return body?.tags ?? [];
  },

  diffTags(project, a, b) {
    return requestAPI<ITagDiff>(
      `tags/${enc(a)}/diff/${enc(b)}`,
      { method: 'GET' },
      { project }
    );
  },

  exportExecution(project, name) {
    return requestAPI<{ id: string; url: string }>(
      'exports',
      json('POST', { project, execution: name })
    );
  },

  async download(url, fallbackName) {
    const response = await fetchURL(serverURL(url), { method: 'GET' });
    const blob = await response.blob();
    const name =
      filenameOf(response.headers.get('Content-Disposition')) || fallbackName;
    const href = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = href;
    a.download = name;
    a.style.display = 'none';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
  },

  openEvents(project, name, lastEventId, signal) {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId) {
      headers['Last-Event-ID'] = lastEventId;
    }
    return requestRaw(
      `executions/${enc(name)}/events`,
      { method: 'GET', headers, signal, cache: 'no-store' },
      { project }
    );
  }
};
