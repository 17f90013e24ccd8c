/**
 * What is shown of one operation of an execution: its error, attempts,
 * outputs with previews, figures, log and source, and (debug executions)
 * the source editor. Shared by the side panel and the main-area view.
 */
import * as React from 'react';

import { Alert, LogView, Status } from './components';
import { useTrans } from './context';
import { SourceEditor } from './editor';
import {
  absoluteTime,
  clockTime,
  formatBytes,
  formatDuration,
  liveDuration
} from './format';
import { EMPTY_LOG, ILogBuffer } from './logbuffer';
import type { IAttempt, IExecution, IGraphNode, IJob } from './model';
import { isActive } from './model';
import { OutputPreview, Figures } from './preview';
import { IState, PipelinesStore, attemptKey } from './store';

export const NOT_STARTED = new Set(['pending', 'queued', 'skipped']);

/** The key of a job's operation in `execution.operations`. */
export function operationKey(execution: IExecution, op: string): string {
  const node = execution.graph?.nodes.find(n => n.id === op);
  return (
    node?.operation || execution.jobs.find(j => j.op === op)?.operation || op
  );
}

function JobError(props: { job: IJob }): JSX.Element | null {
  const trans = useTrans();
  const { job } = props;
  if (!job.error && !job.traceback) {
    return null;
  }
  return (
    <div className="jp-pipelines-error">
      {job.error && (
        <div className="jp-pipelines-error-message">{job.error}</div>
      )}
      {job.exit_code !== null && job.exit_code !== undefined && (
        <div className="jp-pipelines-exit-code">
          {trans.__('exit code %1', job.exit_code)}
        </div>
      )}
      {job.traceback && (
        <pre className="jp-pipelines-traceback">{job.traceback}</pre>
      )}
    </div>
  );
}

/** Every attempt of a job (a small table), each with its log on demand. */
export function Attempts(props: {
  job: IJob;
  store: PipelinesStore;
  logs: IState['attemptLogs'];
  /** The live log of the job (its latest attempt). */
  latestLog?: ILogBuffer;
  now: number;
}): JSX.Element | null {
  const trans = useTrans();
  const { job, store } = props;
  const attempts: IAttempt[] = job.attempts ?? [];
  const [open, setOpen] = React.useState<number | null>(null);
  if (attempts.length < 2) {
    return null;
  }
  const latest = attempts[attempts.length - 1];
  const live = open === latest.attempt && isActive(String(latest.status));
  const shown =
    open === null
      ? null
      : live
        ? (props.latestLog ?? EMPTY_LOG)
        : props.logs[attemptKey(job.op, open)];
  return (
    <div className="jp-pipelines-attempts">
      <table>
        <thead>
          <tr>
            <th>{trans.__('Attempt')}</th>
            <th>{trans.__('Status')}</th>
            <th>{trans.__('Started')}</th>
            <th>{trans.__('Duration')}</th>
            <th>{trans.__('Exit')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {attempts.map(a => (
            <tr
              key={a.attempt}
              data-attempt={a.attempt}
              className={a.attempt === open ? 'jp-mod-selected' : undefined}
              title={a.error ?? undefined}
            >
              <td>{a.attempt}</td>
              <td>
                <Status status={String(a.status)} />
              </td>
              <td title={absoluteTime(a.started)}>{clockTime(a.started)}</td>
              <td className="jp-pipelines-duration">
                {formatDuration(liveDuration(a, props.now))}
              </td>
              <td>{a.exit_code ?? ''}</td>
              <td>
                <button
                  className="jp-pipelines-attempt-log jp-Button jp-mod-minimal"
                  aria-pressed={a.attempt === open}
                  onClick={() => {
                    if (open === a.attempt) {
                      setOpen(null);
                      return;
                    }
                    setOpen(a.attempt);
                    if (a !== latest || !isActive(String(a.status))) {
                      void store.loadAttemptLog(job.op, a.attempt);
                    }
                  }}
                >
                  {trans.__('Log')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open !== null && (
        <div className="jp-pipelines-attempt-body" data-attempt={open}>
          <div className="jp-pipelines-muted">
            {trans.__('Log of attempt %1', open)}
          </div>
          {shown ? (
            <LogView log={shown} />
          ) : (
            <div className="jp-pipelines-muted">{trans.__('Loading…')}</div>
          )}
        </div>
      )}
    </div>
  );
}

function Outputs(props: { job: IJob }): JSX.Element | null {
  const { job } = props;
  if (!job.outputs.length) {
    return null;
  }
  return (
    <ul className="jp-pipelines-outputs">
      {job.outputs.map(o => (
        <li key={o.name} className="jp-pipelines-output" data-output={o.name}>
          <span className="jp-pipelines-output-name">{o.name}</span>
          {o.type && <span className="jp-pipelines-output-type">{o.type}</span>}
          <span className="jp-pipelines-size">{formatBytes(o.size)}</span>
          {o.location && (
            <div className="jp-pipelines-location" title={o.location}>
              {o.location}
            </div>
          )}
          <OutputPreview preview={o.preview} />
        </li>
      ))}
    </ul>
  );
}

/** The operation's source; in a debug execution, editable. */
export function Source(props: {
  execution: IExecution;
  op: string;
  state: IState;
  store: PipelinesStore;
}): JSX.Element | null {
  const trans = useTrans();
  const { execution, state, store } = props;
  const key = operationKey(execution, props.op);
  const source = execution.operations?.[key]?.source;
  const edited = state.edits[key];
  const [editing, setEditing] = React.useState(edited !== undefined);
  const [generation, setGeneration] = React.useState(0);
  if (typeof source !== 'string') {
    return null;
  }
  const debug = !!execution.debug;
  const busy = state.busy !== null;
  return (
    <div className="jp-pipelines-source" data-operation={key}>
      <div className="jp-pipelines-source-bar">
        <span className="jp-pipelines-label">
          {trans.__('Source of %1', key)}
        </span>
        {debug && !editing && (
          <button
            className="jp-pipelines-edit jp-Button jp-mod-styled jp-mod-reject"
            onClick={() => setEditing(true)}
          >
            {trans.__('Edit source')}
          </button>
        )}
      </div>
      {debug && editing ? (
        <>
          <SourceEditor
            key={`${key}:${generation}`}
            initial={edited ?? source}
            label={trans.__('Source of %1', key)}
            onChange={value =>
              store.setEdit(key, value === source ? null : value)
            }
          />
          {state.editError && <Alert kind="error">{state.editError}</Alert>}
          <div className="jp-pipelines-edit-actions">
            <button
              className="jp-pipelines-rerun-edits jp-Button jp-mod-styled jp-mod-accept"
              disabled={
                busy ||
                !Object.keys(state.edits).length ||
                isActive(String(execution.status))
              }
              onClick={() => void store.rerunWithEdits()}
            >
              {state.busy === 'rerun'
                ? trans.__('Starting…')
                : trans.__('Re-run with edits')}
            </button>
            <button
              className="jp-pipelines-discard jp-Button jp-mod-styled jp-mod-reject"
              onClick={() => {
                store.setEdit(key, null);
                setGeneration(g => g + 1);
                setEditing(false);
              }}
            >
              {trans.__('Discard edits')}
            </button>
          </div>
        </>
      ) : (
        <pre className="jp-pipelines-source-text">{source}</pre>
      )}
    </div>
  );
}

/** Everything about one job (below its header, or beside the jobs table). */
export function JobBody(props: {
  job: IJob;
  execution: IExecution;
  log: ILogBuffer | undefined;
  state: IState;
  store: PipelinesStore;
  now: number;
}): JSX.Element {
  const trans = useTrans();
  const { job, execution, state, store } = props;
  const status = String(job.status);
  const hasSource =
    typeof execution.operations?.[operationKey(execution, job.op)]?.source ===
    'string';
  return (
    <div className="jp-pipelines-job-body">
      <JobError job={job} />
      <Attempts
        job={job}
        store={store}
        logs={state.attemptLogs}
        latestLog={props.log}
        now={props.now}
      />
      <Outputs job={job} />
      <Figures figures={job.figures} />
      {NOT_STARTED.has(status) && !props.log?.text ? (
        <div className="jp-pipelines-muted">
          {status === 'skipped'
            ? trans.__('Skipped: not run.')
            : trans.__('Not started yet.')}
        </div>
      ) : (
        <LogView log={props.log} />
      )}
      {hasSource && (
        <details
          className="jp-pipelines-source-details"
          open={execution.debug || state.node === job.op}
        >
          <summary>{trans.__('Source')}</summary>
          <Source
            execution={execution}
            op={job.op}
            state={state}
            store={store}
          />
        </details>
      )}
    </div>
  );
}

/** An input or output node: its artifact and attributes. */
export function ArtifactNode(props: { node: IGraphNode }): JSX.Element {
  const trans = useTrans();
  const { node } = props;
  const entries = Object.entries(node.attributes ?? {});
  return (
    <div className="jp-pipelines-node-info" data-node={node.id}>
      <div>
        <span className="jp-pipelines-label">
          {node.kind === 'input' ? trans.__('Input') : trans.__('Output')}
        </span>{' '}
        <span className="jp-pipelines-backend">
          {node.artifact ?? node.label}
        </span>
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
