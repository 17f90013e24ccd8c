/**
 * The jupyter-pipelines JupyterLab plugins: the "Pipeline executions" panel
 * in the left sidebar, kept live by the server's event bus; executions
 * opened in the main area; and the notebook graph widget (widget.ts).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { api, setServerSettings } from './api';
import { editorFactoryOf } from './cmeditor';
import type { IPanelServices } from './context';
import { DOMAIN } from './i18n';
import { pipelinesIcon } from './icon';
import { ExecutionWidget } from './mainarea';
import { IPipelinesEvent, parsePipelinesEvent } from './model';
import { PANEL_ID, PipelinesPanel } from './panel';
import { onReconnect } from './reconnect';
import { IPanelSettings, readSettings } from './settings';
import { IPersistedState, ISelection, PipelinesStore } from './store';
import { widgetPlugin } from './widget/plugin';

const PLUGIN_ID = 'jupyter-pipelines:plugin';
const STATE_KEY = 'jupyter-pipelines:panel';

export namespace CommandIDs {
  export const open = 'jupyter-pipelines:open';
  export const refresh = 'jupyter-pipelines:refresh';
  export const openExecution = 'jupyter-pipelines:open-execution';
}

function selectionOf(args: ReadonlyPartialJSONObject): ISelection | null {
  const name = args['name'];
  const project = args['project'];
  if (typeof name !== 'string' || !name) {
    return null;
  }
  return {
    name,
    project: typeof project === 'string' && project ? project : 'default'
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A side panel listing pipeline executions, live.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    IStateDB,
    ICommandPalette,
    ITranslator,
    ISettingRegistry,
    IEditorServices
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    stateDB: IStateDB | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    editorServices: IEditorServices | null
  ): void => {
    const trans = (translator ?? nullTranslator).load(DOMAIN);
    setServerSettings(app.serviceManager.serverSettings, trans);
    const services: IPanelServices = {
      trans,
      fetchBlob: url => api.fetchBlob(url),
      editorFactory: editorServices ? editorFactoryOf(editorServices) : null
    };
    let settings: IPanelSettings = readSettings(null);

    let restored = false;
    const store = new PipelinesStore({
      api,
      trans,
      persist: (state: IPersistedState) => {
        // do not overwrite the saved state before it was read back
        if (restored && stateDB) {
          void stateDB
            .save(STATE_KEY, state as unknown as ReadonlyPartialJSONObject)
            .catch(() => undefined);
        }
      }
    });

    // Executions opened in the main area, each with its own store.
    const tracker = new WidgetTracker<ExecutionWidget>({
      namespace: 'jupyter-pipelines-execution'
    });
    const openExecution = (sel: ISelection): ExecutionWidget => {
      const open = tracker.find(
        w =>
          w.execution.project === sel.project && w.execution.name === sel.name
      );
      if (open) {
        app.shell.activateById(open.id);
        return open;
      }
      const own = new PipelinesStore({ api, trans, settings });
      const widget = new ExecutionWidget(own, services, sel);
      void tracker.add(widget);
      app.shell.add(widget, 'main');
      void own.select(sel);
      return widget;
    };

    const panel = new PipelinesPanel(
      store,
      services,
      (project, name) =>
        void app.commands.execute(CommandIDs.openExecution, { project, name })
    );
    panel.title.icon = pipelinesIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'jupyter-pipelines');
      void restorer.restore(tracker, {
        command: CommandIDs.openExecution,
        args: w => ({ ...w.execution }),
        name: w => `${w.execution.project}/${w.execution.name}`
      });
    }

    // Live updates: one GET of the execution an event names; no polling.
    const forOpenWidgets = (event: IPipelinesEvent) =>
      tracker.forEach(w => {
        const sel = w.store.state.selected;
        if (
          sel &&
          sel.project === event.project &&
          sel.name === event.execution
        ) {
          void w.store.handleEvent(event);
        }
      });
    const events = app.serviceManager.events;
    events.stream.connect((_, emission) => {
      const event = parsePipelinesEvent(emission);
      if (event) {
        void store.handleEvent(event);
        forOpenWidgets(event);
      }
    });
    const stopWatching = onReconnect(events, () => {
      void store.refresh();
      tracker.forEach(w => {
        const sel = w.store.state.selected;
        if (sel) {
          void w.store.refreshExecution(sel.project, sel.name);
        }
      });
    });
    panel.disposed.connect(stopWatching);

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Show Pipeline Executions'),
      icon: pipelinesIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh Pipeline Executions'),
      execute: () => store.refresh()
    });
    app.commands.addCommand(CommandIDs.openExecution, {
      label: args =>
        typeof args['name'] === 'string'
          ? trans.__('Open Execution %1', args['name'])
          : trans.__('Open Execution in the Main Area'),
      icon: pipelinesIcon,
      describedBy: {
        args: {
          type: 'object',
          properties: {
            project: { type: 'string' },
            name: { type: 'string' }
          },
          required: ['name']
        }
      },
      isEnabled: args =>
        selectionOf(args) !== null || store.state.selected !== null,
      execute: args => {
        const sel = selectionOf(args) ?? store.state.selected;
        if (sel) {
          openExecution(sel);
        }
      }
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.refresh]) {
        palette.addItem({ command, category: trans.__('Pipelines') });
      }
    }

    const applySettings = (next: IPanelSettings) => {
      const pageChanged = next.pageSize !== settings.pageSize;
      settings = next;
      const { pageSize, logLimitKB, graphHeight } = next;
      store.configure({ pageSize, logLimitKB, graphHeight });
      tracker.forEach(w =>
        w.store.configure({ pageSize, logLimitKB, graphHeight })
      );
      if (pageChanged && restored) {
        void store.refresh();
      }
    };
    const settingsLoaded = settingRegistry
      ? settingRegistry.load(PLUGIN_ID).then(
          loaded => {
            applySettings(readSettings(loaded.composite));
            loaded.changed.connect(() =>
              applySettings(readSettings(loaded.composite))
            );
          },
          (reason: unknown) => {
            console.warn('jupyter-pipelines: settings not loaded', reason);
          }
        )
      : Promise.resolve();

    void Promise.all([app.restored, settingsLoaded]).then(async () => {
      let saved: Partial<IPersistedState> | null = null;
      try {
        saved = stateDB
          ? ((await stateDB.fetch(
              STATE_KEY
            )) as Partial<IPersistedState> | null)
          : null;
      } catch {
        // nothing remembered
      }
      if (saved) {
        store.restore(saved);
      } else if (settings.defaultProject) {
        store.restore({ project: settings.defaultProject });
      }
      restored = true;
      await store.refresh();
    });
  }
};

export default [plugin, widgetPlugin];
