/**
 * The details of the selected execution: summary, actions, the graph, the
 * operations with their logs, errors, outputs and source, parameters,
 * settings, and the comparison with a tag.
 */
import * as React from 'react';

import { Alert, Status } from './components';
import { Compare } from './comparison';
import { useTrans } from './context';
import {
  absoluteTime,
  formatDuration,
  liveDuration,
  shortCommit
} from './format';
import { GraphView } from './graph/GraphView';
import { defaultNode, nodeStates } from './graph/states';
import { ArtifactNode, JobBody, NOT_STARTED } from './job';
import type { ILogBuffer } from './logbuffer';
import {
  IBackendSettings,
  IExecution,
  IJob,
  isActive,
  jobsInOrder
} from './model';
import type { IState, PipelinesStore } from './store';

function Job(props: {
  job: IJob;
  execution: IExecution;
  log: ILogBuffer | undefined;
  now: number;
  expanded: boolean;
  selected: boolean;
  onToggle: () => void;
  state: IState;
  store: PipelinesStore;
}): JSX.Element {
  const { job, expanded } = props;
  const status = String(job.status);
  const duration = formatDuration(liveDuration(job, props.now));
  const label =
    job.operation && job.operation !== job.op
      ? `${job.op} (${job.operation})`
      : job.op;
  const classes = ['jp-pipelines-job'];
  if (expanded) {
    classes.push('jp-mod-expanded');
  }
  if (props.selected) {
    classes.push('jp-mod-selected');
  }
  return (
    <li className={classes.join(' ')} data-op={job.op} data-status={status}>
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
        <JobBody
          job={job}
          execution={props.execution}
          log={props.log}
          state={props.state}
          store={props.store}
          now={props.now}
        />
      )}
    </li>
  );
}

function Config(props: { entries: [string, unknown][] }): JSX.Element | null {
  if (!props.entries.length) {
    return null;
  }
  return (
    <dl className="jp-pipelines-config">
      {props.entries.map(([k, v]) => (
        <React.Fragment key={k}>
          <dt>{k}</dt>
          <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}

function Settings(props: {
  kind: 'compute' | 'storage';
  title: string;
  settings: IBackendSettings | null;
}) {
  const { settings } = props;
  if (!settings) {
    return null;
  }
  return (
    <div className="jp-pipelines-settings" data-kind={props.kind}>
      <div>
        <span className="jp-pipelines-label">{props.title}</span>{' '}
        <span className="jp-pipelines-backend">{settings.backend}</span>
      </div>
      <Config entries={Object.entries(settings.config ?? {})} />
    </div>
  );
}

function Summary(props: { execution: IExecution; now: number }) {
  const trans = useTrans();
  const e = props.execution;
  const rows: [string, string, string, string?][] = [
    ['pipeline', trans.__('Pipeline'), e.pipeline],
    ['project', trans.__('Project'), e.project],
    ['tag', trans.__('Tag'), e.tag ?? ''],
    ['commit', trans.__('Commit'), shortCommit(e.commit), e.commit ?? ''],
    ['created', trans.__('Created'), absoluteTime(e.created)],
    ['started', trans.__('Started'), absoluteTime(e.started)],
    ['ended', trans.__('Ended'), absoluteTime(e.ended)],
    [
      'duration',
      trans.__('Duration'),
      formatDuration(liveDuration(e, props.now))
    ],
    ['debug', trans.__('Debug'), e.debug ? trans.__('yes') : trans.__('no')]
  ];
  return (
    <dl className="jp-pipelines-summary">
      {rows
        .filter(([, , v]) => v !== '')
        .map(([key, label, v, title]) => (
          <React.Fragment key={key}>
            <dt>{label}</dt>
            <dd className={`jp-pipelines-${key}`} title={title || undefined}>
              {v}
            </dd>
          </React.Fragment>
        ))}
    </dl>
  );
}

/** The node shown: the chosen one, else a failed or running one. */
export function shownNode(state: IState): string | null {
  return state.node ?? (state.details ? defaultNode(state.details.jobs) : null);
}

/** The graph of the execution, selecting nodes in the store. */
export function ExecutionGraph(props: {
  execution: IExecution;
  state: IState;
  store: PipelinesStore;
  now: number;
  height?: number | string;
}): JSX.Element | null {
  const trans = useTrans();
  const { execution: e } = props;
  const states = React.useMemo(
    () => nodeStates(e.graph, e.jobs),
    [e.graph, e.jobs]
  );
  if (!e.graph?.nodes?.length) {
    return null;
  }
  return (
    <GraphView
      graph={e.graph}
      states={states}
      now={props.now}
      selected={shownNode(props.state)}
      onSelect={id => props.store.selectNode(id)}
      trans={trans}
      height={props.height}
    />
  );
}

/** The selected input/output node, if that is what is selected. */
export function SelectedArtifact(props: {
  execution: IExecution;
  node: string | null;
}): JSX.Element | null {
  const node = props.execution.graph?.nodes.find(n => n.id === props.node);
  return node && node.kind !== 'operation' ? (
    <ArtifactNode node={node} />
  ) : null;
}

export function Details(props: {
  store: PipelinesStore;
  state: IState;
  now: number;
  onDelete: () => void;
  /** Open the execution in the main area (absent: no button). */
  onOpen?: () => void;
}): JSX.Element {
  const trans = useTrans();
  const { store, state, now } = props;
  const sel = state.selected!;
  const e = state.details;
  const [toggled, setToggled] = React.useState<{ [op: string]: boolean }>({});
  React.useEffect(() => setToggled({}), [sel.project, sel.name]);
  const listRef = React.useRef<HTMLUListElement>(null);
  const node = state.node;
  React.useEffect(() => {
    if (!node) {
      return;
    }
    setToggled(t => ({ ...t, [node]: true }));
    const items = listRef.current?.querySelectorAll('.jp-pipelines-job');
    const el = [...(items ?? [])].find(
      item => item.getAttribute('data-op') === node
    );
    el?.scrollIntoView?.({ block: 'nearest' });
  }, [node]);
  const selectedNode = shownNode(state);
  const expandedByDefault = (job: IJob) =>
    !NOT_STARTED.has(String(job.status)) || job.op === selectedNode;

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
        {props.onOpen && (
          <button
            className="jp-pipelines-open jp-Button jp-mod-minimal"
            title={trans.__('Open in the main area')}
            aria-label={trans.__('Open in the main area')}
            onClick={props.onOpen}
          >
            ⤢
          </button>
        )}
        <button
          className="jp-pipelines-close jp-Button jp-mod-minimal"
          title={trans.__('Close details')}
          aria-label={trans.__('Close details')}
          onClick={() => void store.select(null)}
        >
          ×
        </button>
      </div>
      <ActionsAndNotices
        store={store}
        state={state}
        execution={e}
        onDelete={props.onDelete}
      />
      {e && (
        <>
          <Summary execution={e} now={now} />
          {e.error && (
            <pre className="jp-pipelines-error jp-pipelines-execution-error">
              {e.error}
            </pre>
          )}
          {!!e.graph?.nodes?.length && (
            <>
              <div className="jp-pipelines-section">{trans.__('Graph')}</div>
              <ExecutionGraph
                execution={e}
                state={state}
                store={store}
                now={now}
                height={store.settings.graphHeight}
              />
              <SelectedArtifact execution={e} node={selectedNode} />
            </>
          )}
          <div className="jp-pipelines-section">{trans.__('Operations')}</div>
          <ul className="jp-pipelines-jobs" ref={listRef}>
            {jobsInOrder(e.jobs).map(job => (
              <Job
                key={job.op}
                job={job}
                execution={e}
                now={now}
                log={state.logs[job.op]}
                state={state}
                store={store}
                selected={job.op === selectedNode}
                expanded={toggled[job.op] ?? expandedByDefault(job)}
                onToggle={() =>
                  setToggled(t => ({
                    ...t,
                    [job.op]: !(t[job.op] ?? expandedByDefault(job))
                  }))
                }
              />
            ))}
            {e.jobs.length === 0 && (
              <li className="jp-pipelines-muted">
                {trans.__('No operations.')}
              </li>
            )}
          </ul>
          {e.params && Object.keys(e.params).length > 0 && (
            <>
              <div className="jp-pipelines-section">
                {trans.__('Parameters')}
              </div>
              <div className="jp-pipelines-params">
                <Config entries={Object.entries(e.params)} />
              </div>
            </>
          )}
          <div className="jp-pipelines-section">{trans.__('Settings')}</div>
          <Settings
            kind="compute"
            title={trans.__('Compute')}
            settings={e.compute}
          />
          <Settings
            kind="storage"
            title={trans.__('Storage')}
            settings={e.storage}
          />
          <div className="jp-pipelines-section">{trans.__('Compare')}</div>
          <Compare
            store={store}
            state={state}
            mine={e.tag || e.name}
            project={e.project}
          />
        </>
      )}
    </div>
  );
}

/** The actions, then what the last of them (or loading the details) had to say. */
export function ActionsAndNotices(props: {
  store: PipelinesStore;
  state: IState;
  execution: IExecution | null;
  onDelete: () => void;
}): JSX.Element {
  const { state } = props;
  return (
    <>
      <Actions {...props} />
      {state.detailsError && <Alert kind="error">{state.detailsError}</Alert>}
      {state.actionError && <Alert kind="error">{state.actionError}</Alert>}
      {state.message && <Alert kind="info">{state.message}</Alert>}
    </>
  );
}

/** Cancel, Re-run, Delete, Export. */
function Actions(props: {
  store: PipelinesStore;
  state: IState;
  execution: IExecution | null;
  onDelete: () => void;
}): JSX.Element {
  const trans = useTrans();
  const { store, state, execution: e } = props;
  const busy = state.busy;
  const active = !!e && isActive(e.status);
  return (
    <div className="jp-pipelines-actions">
      {active && (
        <button
          className="jp-pipelines-cancel jp-Button jp-mod-styled jp-mod-warn"
          disabled={busy !== null}
          onClick={() => void store.cancel()}
        >
          {busy === 'cancel' ? trans.__('Canceling…') : trans.__('Cancel')}
        </button>
      )}
      <button
        className="jp-pipelines-rerun jp-Button jp-mod-styled jp-mod-accept"
        disabled={busy !== null || !e || active}
        title={trans.__('Run again what did not succeed')}
        onClick={() => void store.rerun()}
      >
        {busy === 'rerun' ? trans.__('Starting…') : trans.__('Re-run')}
      </button>
      <button
        className="jp-pipelines-delete jp-Button jp-mod-styled jp-mod-reject"
        disabled={busy !== null}
        onClick={props.onDelete}
      >
        {busy === 'delete' ? trans.__('Deleting…') : trans.__('Delete')}
      </button>
      <button
        className="jp-pipelines-export jp-Button jp-mod-styled jp-mod-reject"
        disabled={busy !== null || !e}
        onClick={() => void store.exportSelected()}
      >
        {busy === 'export' ? trans.__('Exporting…') : trans.__('Export')}
      </button>
    </div>
  );
}
