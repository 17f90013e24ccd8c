/**
 * One execution in the main area (the command open-execution). It has its
 * own store, kept live like the panel's (stream and event bus).
 */
import * as React from 'react';

import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';

import { PanelContext } from './context';
import type { IPanelServices } from './context';
import { confirmDelete } from './dialogs';
import { ExecutionView } from './executionview';
import { pipelinesIcon } from './icon';
import type { ISelection, PipelinesStore } from './store';

/** The React content of the main-area widget. */
class ExecutionContent extends ReactWidget {
  constructor(
    readonly store: PipelinesStore,
    private readonly _services: IPanelServices,
    private readonly _onDeleted: () => void
  ) {
    super();
    this.addClass('jp-pipelines-execution-content');
  }

  protected render(): JSX.Element {
    return (
      <PanelContext.Provider value={this._services}>
        <ExecutionView
          store={this.store}
          onDelete={() => void this._delete()}
        />
      </PanelContext.Provider>
    );
  }

  /** Ask, delete, and close the widget once deleted. */
  private async _delete(): Promise<void> {
    const sel = this.store.state.selected;
    if (sel && (await confirmDelete(this._services.trans, sel))) {
      await this.store.remove();
      if (!this.store.state.selected) {
        this._onDeleted();
      }
    }
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.store.dispose();
    }
    super.dispose();
  }
}

/** An execution opened in the main area. */
export class ExecutionWidget extends MainAreaWidget<ReactWidget> {
  constructor(
    readonly store: PipelinesStore,
    services: IPanelServices,
    readonly execution: ISelection
  ) {
    const content = new ExecutionContent(store, services, () => this.close());
    super({ content });
    this.id =
      `jp-pipelines-execution-${execution.project}-${execution.name}`.replace(
        /[^A-Za-z0-9_-]/g,
        '_'
      );
    this.addClass('jp-pipelines-execution-widget');
    this.title.label = execution.name;
    this.title.caption = services.trans.__(
      'Execution %1 of project %2',
      execution.name,
      execution.project
    );
    this.title.icon = pipelinesIcon;
    this.title.closable = true;
  }
}
