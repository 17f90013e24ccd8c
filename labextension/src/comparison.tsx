/**
 * "Compare with…": the selected execution's tag against another, with the
 * unified diff of each changed operation's source.
 */
import * as React from 'react';

import { compareChoices, sourceDiff } from './compare';
import { useTrans } from './context';
import type { ITrans } from './i18n';
import type { IChangedOperation } from './model';
import { diffLines } from './model';
import type { IState, PipelinesStore } from './store';

/** A unified line diff of two sources. */
export function SourceDiff(props: {
  before: string | null | undefined;
  after: string | null | undefined;
}): JSX.Element {
  const trans = useTrans();
  const hunks = sourceDiff(props.before, props.after);
  if (!hunks.length) {
    return (
      <div className="jp-pipelines-muted">
        {trans.__('Same source (whitespace only, or not given).')}
      </div>
    );
  }
  return (
    <pre className="jp-pipelines-source-diff">
      {hunks.map(h => (
        <React.Fragment key={h.header}>
          <div className="jp-pipelines-diff-hunk">{h.header}</div>
          {h.lines.map((line, i) => (
            <div
              key={i}
              className={`jp-pipelines-diff-line jp-pipelines-diff-line-${line.kind}`}
            >
              {line.kind === 'added'
                ? '+'
                : line.kind === 'removed'
                  ? '-'
                  : ' '}
              {line.text}
            </div>
          ))}
        </React.Fragment>
      ))}
    </pre>
  );
}

export function Compare(props: {
  store: PipelinesStore;
  state: IState;
  mine: string;
  project: string;
}): JSX.Element {
  const trans = useTrans();
  const { store, state } = props;
  const [other, setOther] = React.useState('');
  const choices = compareChoices(
    state.tags,
    state.executions,
    props.project,
    props.mine
  );
  const lines = state.diff ? diffLines(state.diff) : null;
  const changed = new Map<string, IChangedOperation>(
    (state.diff?.operations?.changed ?? []).map(c => [c.node, c])
  );
  return (
    <div className="jp-pipelines-comparison">
      <div className="jp-pipelines-compare-bar">
        <select
          className="jp-pipelines-compare-select"
          aria-label={trans.__('Tag to compare with')}
          value={other}
          onFocus={() => {
            if (!state.tags.length) {
              void store.loadTags();
            }
          }}
          onChange={ev => setOther(ev.target.value)}
        >
          <option value="">{trans.__('compare with…')}</option>
          {choices.map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <button
          className="jp-pipelines-compare jp-Button jp-mod-styled jp-mod-reject"
          disabled={!other || state.busy === 'compare'}
          onClick={() => void store.compare(other)}
        >
          {trans.__('Compare')}
        </button>
      </div>
      {lines && state.diff && (
        <div
          className="jp-pipelines-diff"
          data-a={state.diff.a}
          data-b={state.diff.b}
        >
          <div className="jp-pipelines-muted">
            {state.diff.a} → {state.diff.b}
          </div>
          {lines.length === 0 && <div>{trans.__('No differences.')}</div>}
          <ul>
            {lines.map(line => {
              const change = changed.get(line.node);
              const source =
                line.kind === 'changed' && change?.source_changed
                  ? change
                  : null;
              return (
                <li
                  key={`${line.kind}:${line.node}`}
                  className={`jp-pipelines-diff-${line.kind}`}
                  data-node={line.node}
                >
                  <span className="jp-pipelines-diff-kind">
                    {kindText(line.kind, trans)}
                  </span>{' '}
                  <span className="jp-pipelines-diff-node">{line.node}</span>
                  {line.details.length > 0 && (
                    <ul>
                      {line.details.map(d => (
                        <li key={d}>
                          {d === 'source changed'
                            ? trans.__('source changed')
                            : d}
                        </li>
                      ))}
                    </ul>
                  )}
                  {source &&
                    (source.old_source !== undefined ||
                      source.new_source !== undefined) && (
                      <SourceDiff
                        before={source.old_source}
                        after={source.new_source}
                      />
                    )}
                </li>
              );
            })}
          </ul>
        </div>
      )}
    </div>
  );
}

function kindText(kind: 'added' | 'removed' | 'changed', trans: ITrans) {
  switch (kind) {
    case 'added':
      return trans.__('added');
    case 'removed':
      return trans.__('removed');
    default:
      return trans.__('changed');
  }
}
