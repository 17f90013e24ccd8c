/**
 * The jupyter-pipelines JupyterLab plugin: the "Pipeline executions" panel
 * in the left sidebar, kept live by the server's event bus.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { api, setServerSettings } from './api';
import { pipelinesIcon } from './icon';
import { parsePipelinesEvent } from './model';
import { PANEL_ID, PipelinesPanel } from './panel';
import { onReconnect } from './reconnect';
import { IPersistedState, PipelinesStore } from './store';

const PLUGIN_ID = 'jupyter-pipelines:plugin';
const STATE_KEY = 'jupyter-pipelines:panel';

export namespace CommandIDs {
  export const open = 'jupyter-pipelines:open';
  export const refresh = 'jupyter-pipelines:refresh';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A side panel listing pipeline executions, live.',
  autoStart: true,
  optional: [ILayoutRestorer, IStateDB, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    stateDB: IStateDB | null,
    palette: ICommandPalette | null
  ): void => {
    setServerSettings(app.serviceManager.serverSettings);

    let restored = false;
    const store = new PipelinesStore({
      api,
      persist: (state: IPersistedState) => {
        // do not overwrite the saved state before it was read back
        if (restored && stateDB) {
          void stateDB
            .save(STATE_KEY, state as unknown as ReadonlyPartialJSONObject)
            .catch(() => undefined);
        }
      }
    });

    const panel = new PipelinesPanel(store);
    panel.title.icon = pipelinesIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'jupyter-pipelines');
    }

    // Live updates: one GET of the execution an event names; no polling.
    const events = app.serviceManager.events;
    events.stream.connect((_, emission) => {
      const event = parsePipelinesEvent(emission);
      if (event) {
        void store.handleEvent(event);
      }
    });
    const stopWatching = onReconnect(events, () => void store.refresh());
    panel.disposed.connect(stopWatching);

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show Pipeline Executions',
      icon: pipelinesIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh Pipeline Executions',
      execute: () => store.refresh()
    });
    if (palette) {
      for (const command of [CommandIDs.open, CommandIDs.refresh]) {
        palette.addItem({ command, category: 'Pipelines' });
      }
    }

    void app.restored.then(async () => {
      try {
        const saved = stateDB ? await stateDB.fetch(STATE_KEY) : null;
        store.restore(saved as Partial<IPersistedState> | null);
      } catch {
        // nothing remembered
      }
      restored = true;
      await store.refresh();
    });
  }
};

export default plugin;
