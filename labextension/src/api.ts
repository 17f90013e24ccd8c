/**
 * Requests to the jupyter_pipelines REST API (`<base>/pipelines/api/...`),
 * all through ServerConnection.makeRequest (token and XSRF handled).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IExecution, ITag, ITagDiff } from './model';
import { normalizeExecution } from './model';
import { filenameOf } from './format';

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

/** Use these server settings (the app's) for every request. */
export function setServerSettings(settings: ServerConnection.ISettings): void {
  defaultSettings = settings;
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
      `Cannot reach the server: ${(error as Error)?.message ?? error}`,
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
    throw new APIError(`Not a JSON answer from ${path}`, response.status);
  }
}

const enc = encodeURIComponent;

function json(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

/** The panel's view of the REST API (an interface, so tests can fake it). */
export interface IPipelinesAPI {
  listExecutions(project?: string | null): Promise<IExecution[]>;
  getExecution(project: string, name: string): Promise<IExecution>;
  cancel(project: string, name: string): Promise<void>;
  rerun(project: string, name: string): Promise<IExecution | null>;
  remove(project: string, name: string): Promise<void>;
  jobLog(project: string, name: string, op: string): Promise<string>;
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
  async listExecutions(project) {
    const query: Record<string, string> = {};
    if (project) {
      query.project = project;
    }
    const body = await requestAPI<{ executions: IExecution[] }>(
      'executions',
      { method: 'GET' },
      query
    );
    return (body?.executions ?? []).map(normalizeExecution);
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
    await requestAPI(`executions/${enc(name)}/cancel`, json('POST', {}), {
      project
    });
  },

  async rerun(project, name) {
    const body = await requestAPI<IExecution | null>(
      `executions/${enc(name)}/rerun`,
      json('POST', {}),
      { project }
    );
    return body && typeof body === 'object' && body.name
      ? normalizeExecution(body)
      : null;
  },

  async remove(project, name) {
    await requestAPI(
      `executions/${enc(name)}`,
      { method: 'DELETE' },
      { project }
    );
  },

  async jobLog(project, name, op) {
    const response = await requestRaw(
      `executions/${enc(name)}/jobs/${enc(op)}/log`,
      { method: 'GET' },
      { project }
    );
    return response.text();
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
    const full = /^https?:\/\//.test(url)
      ? url
      : URLExt.join(settings().baseUrl, url);
    const response = await fetchURL(full, { method: 'GET' });
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
