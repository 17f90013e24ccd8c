/**
 * Registers the notebook graph widget with ipywidgets' registry when
 * ipywidgets is installed. `@jupyter-widgets/base` is a shared package that
 * this extension does not bundle: it is imported dynamically, so that
 * without ipywidgets this plugin does nothing and the panel still works.
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { DOMAIN } from '../i18n';
import { MODULE_NAME, MODULE_VERSION } from './constants';

export const widgetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-pipelines:widget',
  description: 'The pipeline graph widget of notebooks (ipywidgets).',
  autoStart: true,
  optional: [ITranslator],
  activate: async (app: JupyterFrontEnd, translator: ITranslator | null) => {
    let base: typeof import('@jupyter-widgets/base');
    try {
      base = await import('@jupyter-widgets/base');
    } catch {
      return; // no ipywidgets: no notebook widget
    }
    const registry = await app.resolveOptionalService(
      base.IJupyterWidgetRegistry
    );
    if (!registry) {
      return;
    }
    const trans = (translator ?? nullTranslator).load(DOMAIN);
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: async () => (await import('./classes')).widgetClasses(trans)
    });
  }
};
