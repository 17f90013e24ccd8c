/**
 * The extension's settings (schema/plugin.json), read into typed values.
 */
import { DEFAULT_LOG_LIMIT_KB } from './logbuffer';

export interface IPanelSettings {
  defaultProject: string;
  pageSize: number;
  logLimitKB: number;
  graphHeight: number;
}

export const DEFAULT_SETTINGS: IPanelSettings = {
  defaultProject: '',
  pageSize: 50,
  logLimitKB: DEFAULT_LOG_LIMIT_KB,
  graphHeight: 220
};

function integer(value: unknown, fallback: number, min: number, max: number) {
  return typeof value === 'number' && Number.isFinite(value)
    ? Math.min(max, Math.max(min, Math.round(value)))
    : fallback;
}

/** Typed settings from the registry's composite (invalid → default). */
export function readSettings(
  composite: { [key: string]: unknown } | null | undefined
): IPanelSettings {
  const c = composite ?? {};
  const d = DEFAULT_SETTINGS;
  return {
    defaultProject:
      typeof c.defaultProject === 'string' ? c.defaultProject.trim() : '',
    pageSize: integer(c.pageSize, d.pageSize, 1, 500),
    logLimitKB: integer(c.logLimitKB, d.logLimitKB, 16, 65536),
    graphHeight: integer(c.graphHeight, d.graphHeight, 120, 1200)
  };
}
