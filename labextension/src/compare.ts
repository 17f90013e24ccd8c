/**
 * Comparing two execution tags: the tags to offer, and the unified line
 * diff of an operation's source.
 */
import { structuredPatch } from 'diff';

import type { IExecution, ITag } from './model';

/**
 * The tags to offer for "compare with…": the project's tags and the tags
 * of the executions seen since (so new executions show up at once), newest
 * first, without the execution's own tag.
 */
export function compareChoices(
  tags: readonly ITag[],
  executions: readonly IExecution[],
  project: string,
  mine: string
): string[] {
  const created = new Map<string, number>();
  const add = (name: string | null, when: string | null) => {
    if (!name || name === mine) {
      return;
    }
    const t = when ? Date.parse(when) : NaN;
    const value = isNaN(t) ? -Infinity : t;
    const known = created.get(name);
    if (known === undefined || value > known) {
      created.set(name, value);
    }
  };
  for (const tag of tags) {
    if (!tag.project || tag.project === project) {
      add(tag.name, tag.created);
    }
  }
  for (const e of executions) {
    if (e.project === project) {
      add(e.tag, e.created);
    }
  }
  return [...created.entries()]
    .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
    .map(([name]) => name);
}

export type DiffLineKind = 'context' | 'added' | 'removed';

export interface ISourceDiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line numbers in the old and the new source (null where absent). */
  old: number | null;
  new: number | null;
}

export interface ISourceHunk {
  /** The unified diff header: `@@ -a,b +c,d @@`. */
  header: string;
  lines: ISourceDiffLine[];
}

/**
 * The unified line diff of two sources (3 lines of context). No hunks when
 * they are the same.
 */
export function sourceDiff(
  before: string | null | undefined,
  after: string | null | undefined,
  context = 3
): ISourceHunk[] {
  const patch = structuredPatch('a', 'b', before ?? '', after ?? '', '', '', {
    context
  });
  return patch.hunks.map(hunk => {
    let o = hunk.oldStart;
    let n = hunk.newStart;
    const lines: ISourceDiffLine[] = [];
    for (const raw of hunk.lines) {
      const mark = raw.charAt(0);
      const text = raw.slice(1);
      if (mark === '+') {
        lines.push({ kind: 'added', text, old: null, new: n++ });
      } else if (mark === '-') {
        lines.push({ kind: 'removed', text, old: o++, new: null });
      } else if (mark === ' ') {
        lines.push({ kind: 'context', text, old: o++, new: n++ });
      }
      // "\ No newline at end of file" lines are left out
    }
    return {
      header: `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`,
      lines
    };
  });
}
