/**
 * Confirmation dialogs.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

import type { ITrans } from './i18n';
import type { ISelection } from './store';

/** Ask before deleting an execution; resolves to the answer. */
export async function confirmDelete(
  trans: ITrans,
  sel: ISelection
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Delete execution'),
    body: trans.__(
      'Delete the execution "%1" of project "%2"? A running execution is canceled first. This cannot be undone.',
      sel.name,
      sel.project
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Delete') })
    ]
  });
  return result.button.accept;
}
