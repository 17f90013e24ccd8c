/**
 * What the views get from the app, through React context: the strings'
 * translation, authenticated fetches of server URLs, and the code editor.
 */
import * as React from 'react';

import type { IEditorFactory } from './editor';
import { ITrans, englishTrans } from './i18n';

export interface IPanelServices {
  trans: ITrans;
  /** A server-relative URL (a figure) as a blob, with the server's auth. */
  fetchBlob?: (url: string) => Promise<Blob>;
  /** Makes code editors (JupyterLab's CodeMirror); a textarea without. */
  editorFactory?: IEditorFactory | null;
}

export const PanelContext = React.createContext<IPanelServices>({
  trans: englishTrans
});

export function useServices(): IPanelServices {
  return React.useContext(PanelContext);
}

export function useTrans() {
  return React.useContext(PanelContext).trans;
}
