import { compareChoices, sourceDiff } from '../src/compare';
import { execution } from './fixtures';

describe('compareChoices', () => {
  it('offers the tags and new executions of the project, newest first', () => {
    const tags = [
      {
        name: 'old',
        project: 'default',
        commit: 'c1',
        execution: 'old',
        pipeline: 'demo',
        created: '2024-05-01T09:00:00Z'
      },
      {
        name: 'mine',
        project: 'default',
        commit: 'c2',
        execution: 'mine',
        pipeline: 'demo',
        created: '2024-05-01T10:00:00Z'
      },
      {
        name: 'elsewhere',
        project: 'p2',
        commit: 'c3',
        execution: 'x',
        pipeline: 'demo',
        created: null
      }
    ];
    const executions = [
      execution('fresh', { created: '2024-05-01T11:00:00Z' }),
      execution('untagged', { tag: null }),
      execution('other', { project: 'p2', created: '2024-05-01T12:00:00Z' })
    ];
    expect(compareChoices(tags, executions, 'default', 'mine')).toEqual([
      'fresh',
      'old'
    ]);
  });
});

describe('sourceDiff', () => {
  it('is a unified line diff with context and line numbers', () => {
    const before = 'def load(n=100):\n    x = 1\n    return list(range(n))\n';
    const after =
      'def load(n=100):\n    x = 2\n    return list(range(n))\n    # done\n';
    const hunks = sourceDiff(before, after);
    expect(hunks).toHaveLength(1);
    expect(hunks[0].header).toBe('@@ -1,3 +1,4 @@');
    expect(hunks[0].lines.map(l => [l.kind, l.text, l.old, l.new])).toEqual([
      ['context', 'def load(n=100):', 1, 1],
      ['removed', '    x = 1', 2, null],
      ['added', '    x = 2', null, 2],
      ['context', '    return list(range(n))', 3, 3],
      ['added', '    # done', null, 4]
    ]);
  });

  it('has no hunks for the same source, and handles missing ones', () => {
    expect(sourceDiff('a\n', 'a\n')).toEqual([]);
    const added = sourceDiff(null, 'x = 1\n');
    expect(added[0].lines).toEqual([
      { kind: 'added', text: 'x = 1', old: null, new: 1 }
    ]);
  });

  it('splits far-apart changes into hunks', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    const changed = [...lines];
    changed[2] = 'changed 2';
    changed[25] = 'changed 25';
    const hunks = sourceDiff(lines.join('\n'), changed.join('\n'));
    expect(hunks.map(h => h.header)).toEqual([
      '@@ -1,6 +1,6 @@',
      '@@ -23,7 +23,7 @@'
    ]);
  });
});
