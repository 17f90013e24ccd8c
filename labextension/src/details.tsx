/**
 * The details of the selected execution: summary, actions, operations with
 * their logs, errors and outputs, settings, and the comparison with a tag.
 */
import * as React from 'react';

import {
  absoluteTime,
  formatBytes,
  formatDuration,
  liveDuration,
  shortCommit
} from './format';
import {
  IBackendSettings,
  IExecution,
  IJob,
  diffLines,
  isActive,
  jobsInOrder
} from './model';
import { Alert, Status } from './components';
import type { IState, PipelinesStore } from './store';

const NOT_STARTED = new Set(['pending', 'queued', 'skipped']);

/** A log that keeps itself scrolled to the end while it grows. */
function Log(props: { text: string }): JSX.Element {
  const ref = React.useRef<HTMLPreElement>(null);
  const stick = React.useRef(true);
  React.useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [props.text]);
  return (
    <pre
      ref={ref}
      className="jp-pipelines-log"
      onScroll={() => {
        const el = ref.current;
        if (el) {
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        }
      }}
    >
      {props.text}
    </pre>
  );
}

function Job(props: {
  job: IJob;
  log: string | undefined;
  now: number;
  expanded: boolean;
  onToggle: () => void;
}): JSX.Element {
  const { job, expanded } = props;
  const status = String(job.status);
  const duration = formatDuration(liveDuration(job, props.now));
  const label =
    job.operation && job.operation !== job.op
      ? `${job.op} (${job.operation})`
      : job.op;
  return (
    <li
      className={`jp-pipelines-job${expanded ? ' jp-mod-expanded' : ''}`}
      data-op={job.op}
      data-status={status}
    >
      <div
        className="jp-pipelines-job-header"
        role="button"
        tabIndex={0}
        aria-expanded={expanded}
        onClick={props.onToggle}
        onKeyDown={ev => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            props.onToggle();
          }
        }}
      >
        <span className="jp-pipelines-caret">{expanded ? '▾' : '▸'}</span>
        <span className="jp-pipelines-job-name" title={label}>
          {label}
        </span>
        <Status status={status} />
        <span className="jp-pipelines-duration">{duration}</span>
      </div>
      {expanded && (
        <div className="jp-pipelines-job-body">
          {(job.error || job.traceback) && (
            <div className="jp-pipelines-error">
              {job.error && (
                <div className="jp-pipelines-error-message">{job.error}</div>
              )}
              {job.exit_code !== null && job.exit_code !== undefined && (
                <div className="jp-pipelines-exit-code">
                  exit code {job.exit_code}
                </div>
              )}
              {job.traceback && (
                <pre className="jp-pipelines-traceback">{job.traceback}</pre>
              )}
            </div>
          )}
          {job.outputs.length > 0 && (
            <ul className="jp-pipelines-outputs">
              {job.outputs.map(o => (
                <li
                  key={o.name}
                  className="jp-pipelines-output"
                  data-output={o.name}
                >
                  <span className="jp-pipelines-output-name">{o.name}</span>
                  {o.type && (
                    <span className="jp-pipelines-output-type">{o.type}</span>
                  )}
                  <span className="jp-pipelines-size">
                    {formatBytes(o.size)}
                  </span>
                  {o.location && (
                    <div className="jp-pipelines-location" title={o.location}>
                      {o.location}
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )}
          {NOT_STARTED.has(status) && !props.log ? (
            <div className="jp-pipelines-muted">
              {status === 'skipped' ? 'Skipped: not run.' : 'Not started yet.'}
            </div>
          ) : (
            <Log text={props.log ?? ''} />
          )}
        </div>
      )}
    </li>
  );
}

function Settings(props: { title: string; settings: IBackendSettings | null }) {
  const { settings } = props;
  if (!settings) {
    return null;
  }
  const entries = Object.entries(settings.config ?? {});
  return (
    <div
      className="jp-pipelines-settings"
      data-kind={props.title.toLowerCase()}
    >
      <div>
        <span className="jp-pipelines-label">{props.title}</span>{' '}
        <span className="jp-pipelines-backend">{settings.backend}</span>
      </div>
      {entries.length > 0 && (
        <dl className="jp-pipelines-config">
          {entries.map(([k, v]) => (
            <React.Fragment key={k}>
              <dt>{k}</dt>
              <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
            </React.Fragment>
          ))}
        </dl>
      )}
    </div>
  );
}

function Summary(props: { execution: IExecution; now: number }) {
  const e = props.execution;
  const rows: [string, string, string?][] = [
    ['Pipeline', e.pipeline],
    ['Project', e.project],
    ['Tag', e.tag ?? ''],
    ['Commit', shortCommit(e.commit), e.commit ?? ''],
    ['Created', absoluteTime(e.created)],
    ['Started', absoluteTime(e.started)],
    ['Ended', absoluteTime(e.ended)],
    ['Duration', formatDuration(liveDuration(e, props.now))],
    ['Debug', e.debug ? 'yes' : 'no']
  ];
  return (
    <dl className="jp-pipelines-summary">
      {rows
        .filter(([, v]) => v !== '')
        .map(([k, v, title]) => (
          <React.Fragment key={k}>
            <dt>{k}</dt>
            <dd
              className={`jp-pipelines-${k.toLowerCase()}`}
              title={title || undefined}
            >
              {v}
            </dd>
          </React.Fragment>
        ))}
    </dl>
  );
}

function Compare(props: {
  store: PipelinesStore;
  state: IState;
  mine: string;
}) {
  const { store, state } = props;
  const [other, setOther] = React.useState('');
  const tags = state.tags.filter(t => t.name !== props.mine);
  const lines = state.diff ? diffLines(state.diff) : null;
  return (
    <div className="jp-pipelines-comparison">
      <div className="jp-pipelines-compare-bar">
        <select
          className="jp-pipelines-compare-select"
          aria-label="Tag to compare with"
          value={other}
          onFocus={() => {
            if (!state.tags.length) {
              void store.loadTags();
            }
          }}
          onChange={ev => setOther(ev.target.value)}
        >
          <option value="">compare with…</option>
          {tags.map(t => (
            <option key={t.name} value={t.name}>
              {t.name}
            </option>
          ))}
        </select>
        <button
          className="jp-pipelines-compare jp-Button jp-mod-styled jp-mod-reject"
          disabled={!other || state.busy === 'compare'}
          onClick={() => void store.compare(other)}
        >
          Compare
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
          {lines.length === 0 && <div>No differences.</div>}
          <ul>
            {lines.map(line => (
              <li
                key={`${line.kind}:${line.node}`}
                className={`jp-pipelines-diff-${line.kind}`}
                data-node={line.node}
              >
                <span className="jp-pipelines-diff-kind">{line.kind}</span>{' '}
                <span className="jp-pipelines-diff-node">{line.node}</span>
                {line.details.length > 0 && (
                  <ul>
                    {line.details.map(d => (
                      <li key={d}>{d}</li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

export function Details(props: {
  store: PipelinesStore;
  state: IState;
  now: number;
  onDelete: () => void;
}): JSX.Element {
  const { store, state, now } = props;
  const sel = state.selected!;
  const e = state.details;
  const [toggled, setToggled] = React.useState<{ [op: string]: boolean }>({});
  React.useEffect(() => setToggled({}), [sel.project, sel.name]);
  const busy = state.busy;
  const active = !!e && isActive(e.status);

  return (
    <div
      className="jp-pipelines-details"
      data-execution={sel.name}
      data-project={sel.project}
      data-status={e?.status ?? ''}
    >
      <div className="jp-pipelines-details-header">
        <span className="jp-pipelines-details-name" title={sel.name}>
          {sel.name}
        </span>
        {e && <Status status={String(e.status)} />}
        <button
          className="jp-pipelines-close jp-Button jp-mod-minimal"
          title="Close details"
          aria-label="Close details"
          onClick={() => void store.select(null)}
        >
          ×
        </button>
      </div>
      <div className="jp-pipelines-actions">
        {active && (
          <button
            className="jp-pipelines-cancel jp-Button jp-mod-styled jp-mod-warn"
            disabled={busy !== null}
            onClick={() => void store.cancel()}
          >
            {busy === 'cancel' ? 'Canceling…' : 'Cancel'}
          </button>
        )}
        <button
          className="jp-pipelines-rerun jp-Button jp-mod-styled jp-mod-accept"
          disabled={busy !== null || !e || active}
          onClick={() => void store.rerun()}
        >
          {busy === 'rerun' ? 'Starting…' : 'Re-run'}
        </button>
        <button
          className="jp-pipelines-delete jp-Button jp-mod-styled jp-mod-reject"
          disabled={busy !== null}
          onClick={props.onDelete}
        >
          {busy === 'delete' ? 'Deleting…' : 'Delete'}
        </button>
        <button
          className="jp-pipelines-export jp-Button jp-mod-styled jp-mod-reject"
          disabled={busy !== null || !e}
          onClick={() => void store.exportSelected()}
        >
          {busy === 'export' ? 'Exporting…' : 'Export'}
        </button>
      </div>
      {state.detailsError && <Alert kind="error">{state.detailsError}</Alert>}
      {state.actionError && <Alert kind="error">{state.actionError}</Alert>}
      {state.message && <Alert kind="info">{state.message}</Alert>}
      {e && (
        <>
          <Summary execution={e} now={now} />
          {e.error && (
            <pre className="jp-pipelines-error jp-pipelines-execution-error">
              {e.error}
            </pre>
          )}
          <div className="jp-pipelines-section">Operations</div>
          <ul className="jp-pipelines-jobs">
            {jobsInOrder(e.jobs).map(job => (
              <Job
                key={job.op}
                job={job}
                now={now}
                log={state.logs[job.op]}
                expanded={
                  toggled[job.op] ?? !NOT_STARTED.has(String(job.status))
                }
                onToggle={() =>
                  setToggled(t => ({
                    ...t,
                    [job.op]: !(
                      t[job.op] ?? !NOT_STARTED.has(String(job.status))
                    )
                  }))
                }
              />
            ))}
            {e.jobs.length === 0 && (
              <li className="jp-pipelines-muted">No operations.</li>
            )}
          </ul>
          <div className="jp-pipelines-section">Settings</div>
          <Settings title="Compute" settings={e.compute} />
          <Settings title="Storage" settings={e.storage} />
          <div className="jp-pipelines-section">Compare</div>
          <Compare store={store} state={state} mine={e.tag || e.name} />
        </>
      )}
    </div>
  );
}
