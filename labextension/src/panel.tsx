/**
 * The "Pipeline executions" side panel: project selector, filter, the list
 * of execution tags (newest first) and the selected one's details.
 */
import * as React from 'react';

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';

import { Alert, Status } from './components';
import { Details } from './details';
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
        <span className="jp-pipelines-pipeline" title="Pipeline">
          {props.showProject ? `${e.project} / ${e.pipeline}` : e.pipeline}
        </span>
        <span className="jp-pipelines-created" title={absoluteTime(e.created)}>
          {relativeTime(e.created, now)}
        </span>
        <span className="jp-pipelines-duration" title="Duration">
          {duration}
        </span>
      </div>
    </li>
  );
}

export function PanelView(props: { store: PipelinesStore }): JSX.Element {
  const { store } = props;
  const state = useStoreState(store);
  const visible = filterExecutions(
    state.executions,
    state.project,
    state.filter
  );
  const running =
    anyRunning(visible) || anyRunning(state.details ? [state.details] : []);
  const now = useNow(running);
  const projects = projectsOf(
    state.executions,
    state.project ? [state.project] : []
  );
  const sel = state.selected;

  const confirmDelete = async () => {
    if (!sel) {
      return;
    }
    const result = await showDialog({
      title: 'Delete execution',
      body: `Delete the execution "${sel.name}" of project "${sel.project}"? A running execution is canceled first. This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (result.button.accept) {
      await store.remove();
    }
  };

  return (
    <div className="jp-pipelines-body">
      <div className="jp-pipelines-header">Pipeline executions</div>
      <div className="jp-pipelines-toolbar">
        <select
          className="jp-pipelines-project"
          aria-label="Project"
          title="Project"
          value={state.project ?? ''}
          onChange={ev => store.setProject(ev.target.value || null)}
        >
          <option value="">All projects</option>
          {projects.map(p => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <input
          className="jp-pipelines-filter"
          type="search"
          placeholder="Filter"
          aria-label="Filter executions"
          value={state.filter}
          onChange={ev => store.setFilter(ev.target.value)}
        />
        <button
          className="jp-pipelines-refresh jp-Button jp-mod-minimal"
          title="Refresh"
          aria-label="Refresh"
          onClick={() => void store.refresh()}
        >
          <refreshIcon.react tag="span" />
        </button>
      </div>
      {state.error && <Alert kind="error">{state.error}</Alert>}
      <ul className="jp-pipelines-list" role="listbox" aria-label="Executions">
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
              ? 'Loading…'
              : state.executions.length
                ? 'No execution matches.'
                : 'No executions yet.'}
          </li>
        )}
      </ul>
      {sel && (
        <Details
          store={store}
          state={state}
          now={now}
          onDelete={() => void confirmDelete()}
        />
      )}
    </div>
  );
}

/** The Lumino widget of the panel. */
export class PipelinesPanel extends ReactWidget {
  constructor(readonly store: PipelinesStore) {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-pipelines-panel');
    this.title.caption = 'Pipeline executions';
  }

  protected render(): JSX.Element {
    return <PanelView store={this.store} />;
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.store.dispose();
    }
    super.dispose();
  }
}
