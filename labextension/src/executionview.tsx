/**
 * The wide view of one execution (main area): the graph above, the jobs
 * table and the selected operation (log, outputs, source) side by side
 * below.
 */
import * as React from 'react';

import { Status } from './components';
import { useTrans } from './context';
import {
  ActionsAndNotices,
  ExecutionGraph,
  SelectedArtifact,
  shownNode
} from './details';
import { absoluteTime, formatDuration, liveDuration } from './format';
import { useNow, useStoreState } from './hooks';
import { JobBody } from './job';
import { IExecution, anyRunning, jobsInOrder } from './model';
import type { PipelinesStore } from './store';

/** The jobs of an execution as a table; a click selects the job's node. */
export function JobsTable(props: {
  execution: IExecution;
  selected: string | null;
  now: number;
  onSelect: (op: string) => void;
}): JSX.Element {
  const trans = useTrans();
  const jobs = jobsInOrder(props.execution.jobs);
  return (
    <table className="jp-pipelines-jobs-table">
      <thead>
        <tr>
          <th>{trans.__('Operation')}</th>
          <th>{trans.__('Status')}</th>
          <th>{trans.__('Attempt')}</th>
          <th>{trans.__('Started')}</th>
          <th>{trans.__('Ended')}</th>
          <th>{trans.__('Duration')}</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map(job => (
          <tr
            key={job.op}
            data-op={job.op}
            data-status={String(job.status)}
            className={
              job.op === props.selected ? 'jp-mod-selected' : undefined
            }
            tabIndex={0}
            onClick={() => props.onSelect(job.op)}
            onKeyDown={ev => {
              if (ev.key === 'Enter' || ev.key === ' ') {
                ev.preventDefault();
                props.onSelect(job.op);
              }
            }}
          >
            <td className="jp-pipelines-job-name" title={job.op}>
              {job.op}
            </td>
            <td>
              <Status status={String(job.status)} />
            </td>
            <td>{job.attempts?.length || (job.started ? 1 : '')}</td>
            <td>{absoluteTime(job.started)}</td>
            <td>{absoluteTime(job.ended)}</td>
            <td className="jp-pipelines-duration">
              {formatDuration(liveDuration(job, props.now))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ExecutionView(props: {
  store: PipelinesStore;
  /** Delete the execution (after asking). */
  onDelete: () => void;
}): JSX.Element {
  const trans = useTrans();
  const { store } = props;
  const state = useStoreState(store);
  const e = state.details;
  const now = useNow(anyRunning(e ? [e] : []), state.clockOffset);
  const sel = state.selected;
  const node = shownNode(state);
  const job = e?.jobs.find(j => j.op === node) ?? null;
  return (
    <div
      className="jp-pipelines-execution-view"
      data-execution={sel?.name ?? ''}
      data-project={sel?.project ?? ''}
      data-status={e?.status ?? ''}
    >
      <div className="jp-pipelines-details-header">
        <span className="jp-pipelines-details-name">{sel?.name}</span>
        {e && <Status status={String(e.status)} />}
        <span className="jp-pipelines-muted">
          {e ? `${e.project} / ${e.pipeline}` : ''}
        </span>
        <span className="jp-pipelines-duration">
          {e ? formatDuration(liveDuration(e, now)) : ''}
        </span>
      </div>
      <ActionsAndNotices
        store={store}
        state={state}
        execution={e}
        onDelete={props.onDelete}
      />
      {e?.error && (
        <pre className="jp-pipelines-error jp-pipelines-execution-error">
          {e.error}
        </pre>
      )}
      {e && (
        <>
          <div className="jp-pipelines-execution-graph">
            <ExecutionGraph
              execution={e}
              state={state}
              store={store}
              now={now}
              height="auto"
            />
          </div>
          <div className="jp-pipelines-execution-split">
            <div className="jp-pipelines-execution-jobs">
              <JobsTable
                execution={e}
                selected={node}
                now={now}
                onSelect={op => store.selectNode(op)}
              />
            </div>
            <div
              className="jp-pipelines-execution-selected"
              data-node={node ?? ''}
            >
              {job ? (
                <>
                  <div className="jp-pipelines-job-header">
                    <span className="jp-pipelines-job-name">{job.op}</span>
                    <Status status={String(job.status)} />
                  </div>
                  <JobBody
                    job={job}
                    execution={e}
                    log={state.logs[job.op]}
                    state={state}
                    store={store}
                    now={now}
                  />
                </>
              ) : node ? (
                <SelectedArtifact execution={e} node={node} />
              ) : (
                <div className="jp-pipelines-muted">
                  {trans.__('Select an operation in the graph or the table.')}
                </div>
              )}
            </div>
          </div>
        </>
      )}
    </div>
  );
}
