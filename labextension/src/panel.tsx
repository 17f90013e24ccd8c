/**
 * The "Pipeline executions" side panel: project selector, filter, the list
 * of execution tags (newest first) and the selected one's details.
 */
import * as React from 'react';

import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';

import { Alert, Status } from './components';
import { PanelContext, useTrans } from './context';
import type { IPanelServices } from './context';
import { Details } from './details';
import { confirmDelete } from './dialogs';
import {
  absoluteTime,
  formatDuration,
  liveDuration,
  relativeTime
} from './format';
import { useNow, useStoreState } from './hooks';
import { IExecution, anyRunning, filterExecutions, projectsOf } from './model';
import type { PipelinesStore } from './store';

export const PANEL_ID = 'jp-pipelines-panel';

function Row(props: {
  execution: IExecution;
  selected: boolean;
  showProject: boolean;
  now: number;
  onSelect: () => void;
}): JSX.Element {
  const trans = useTrans();
  const { execution: e, now } = props;
  const duration = formatDuration(liveDuration(e, now));
  return (
    <li
      className={`jp-pipelines-row${props.selected ? ' jp-mod-selected' : ''}`}
      data-execution={e.name}
      data-project={e.project}
      data-status={e.status}
      tabIndex={0}
      role="option"
      aria-selected={props.selected}
      onClick={props.onSelect}
      onKeyDown={ev => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          props.onSelect();
        }
      }}
    >
      <div className="jp-pipelines-row-main">
        <span className="jp-pipelines-name" title={e.name}>
          {e.name}
        </span>
        <Status status={e.status} />
      </div>
      <div className="jp-pipelines-row-meta">
        <span className="jp-pipelines-pipeline" title={trans.__('Pipeline')}>
          {props.showProject ? `${e.project} / ${e.pipeline}` : e.pipeline}
        </span>
        <span className="jp-pipelines-created" title={absoluteTime(e.created)}>
          {relativeTime(e.created, now)}
        </span>
        <span className="jp-pipelines-duration" title={trans.__('Duration')}>
          {duration}
        </span>
      </div>
    </li>
  );
}

export function PanelView(props: {
  store: PipelinesStore;
  /** Open an execution in the main area (the command). */
  onOpen?: (project: string, name: string) => void;
}): JSX.Element {
  const trans = useTrans();
  const { store } = props;
  const state = useStoreState(store);
  const visible = filterExecutions(
    state.executions,
    state.project,
    state.filter
  );
  const running =
    anyRunning(visible) || anyRunning(state.details ? [state.details] : []);
  const now = useNow(running, state.clockOffset);
  const projects = projectsOf(state.executions, [
    ...state.knownProjects,
    ...(state.project ? [state.project] : [])
  ]);
  const sel = state.selected;

  const askDelete = async () => {
    if (!sel) {
      return;
    }
    if (await confirmDelete(trans, sel)) {
      await store.remove();
    }
  };

  return (
    <div className="jp-pipelines-body">
      <div className="jp-pipelines-header">
        {trans.__('Pipeline executions')}
      </div>
      <div className="jp-pipelines-toolbar">
        <select
          className="jp-pipelines-project"
          aria-label={trans.__('Project')}
          title={trans.__('Project')}
          value={state.project ?? ''}
          onChange={ev => void store.setProject(ev.target.value || null)}
        >
          <option value="">{trans.__('All projects')}</option>
          {projects.map(p => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <input
          className="jp-pipelines-filter"
          type="search"
          placeholder={trans.__('Filter')}
          aria-label={trans.__('Filter executions')}
          value={state.filter}
          onChange={ev => store.setFilter(ev.target.value)}
        />
        <button
          className="jp-pipelines-refresh jp-Button jp-mod-minimal"
          title={trans.__('Refresh')}
          aria-label={trans.__('Refresh')}
          onClick={() => void store.refresh()}
        >
          <refreshIcon.react tag="span" />
        </button>
      </div>
      {state.error && <Alert kind="error">{state.error}</Alert>}
      <ul
        className="jp-pipelines-list"
        role="listbox"
        aria-label={trans.__('Executions')}
      >
        {visible.map(e => (
          <Row
            key={`${e.project}/${e.name}`}
            execution={e}
            now={now}
            showProject={state.project === null}
            selected={!!sel && sel.project === e.project && sel.name === e.name}
            onSelect={() =>
              void store.select({ project: e.project, name: e.name })
            }
          />
        ))}
        {visible.length === 0 && (
          <li className="jp-pipelines-empty">
            {state.loading
              ? trans.__('Loading…')
              : state.executions.length
                ? trans.__('No execution matches.')
                : trans.__('No executions yet.')}
          </li>
        )}
        {state.next && (
          <li className="jp-pipelines-more">
            <button
              className="jp-pipelines-load-more jp-Button jp-mod-styled jp-mod-reject"
              disabled={state.loadingMore}
              onClick={() => void store.loadMore()}
            >
              {state.loadingMore ? trans.__('Loading…') : trans.__('Load more')}
            </button>
          </li>
        )}
      </ul>
      {sel && (
        <Details
          store={store}
          state={state}
          now={now}
          onDelete={() => void askDelete()}
          onOpen={
            props.onOpen
              ? () => props.onOpen!(sel.project, sel.name)
              : undefined
          }
        />
      )}
    </div>
  );
}

/** The Lumino widget of the panel. */
export class PipelinesPanel extends ReactWidget {
  constructor(
    readonly store: PipelinesStore,
    private readonly _services: IPanelServices,
    private readonly _onOpen?: (project: string, name: string) => void
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-pipelines-panel');
    this.title.caption = _services.trans.__('Pipeline executions');
  }

  protected render(): JSX.Element {
    return (
      <PanelContext.Provider value={this._services}>
        <PanelView store={this.store} onOpen={this._onOpen} />
      </PanelContext.Provider>
    );
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.store.dispose();
    }
    super.dispose();
  }
}
