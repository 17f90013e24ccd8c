/**
 * The source editor as JupyterLab's own code editor (CodeMirror 6 with the
 * app's languages, theme and settings), from `IEditorServices`.
 */
import {
  CodeEditor,
  CodeEditorWrapper,
  IEditorServices
} from '@jupyterlab/codeeditor';
import { Widget } from '@lumino/widgets';

import type { IEditorFactory } from './editor';

export function editorFactoryOf(services: IEditorServices): IEditorFactory {
  return {
    create(host, { value, mimeType, onChange }) {
      const model = new CodeEditor.Model({ mimeType });
      model.sharedModel.setSource(value);
      const wrapper = new CodeEditorWrapper({
        model,
        factory: services.factoryService.newDocumentEditor,
        editorOptions: { config: { lineNumbers: true } }
      });
      wrapper.addClass('jp-pipelines-codemirror');
      const changed = () => onChange(model.sharedModel.getSource());
      model.sharedModel.changed.connect(changed);
      Widget.attach(wrapper, host);
      return {
        dispose() {
          model.sharedModel.changed.disconnect(changed);
          if (!wrapper.node.isConnected) {
            // its host left the page already: nothing to detach it from
            wrapper.clearFlag(Widget.Flag.IsAttached);
          }
          wrapper.dispose();
          model.dispose();
        }
      };
    }
  };
}
