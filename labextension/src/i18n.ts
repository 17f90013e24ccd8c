/**
 * Translation of the user-visible strings. In JupyterLab every string goes
 * through the app's translator (`ITranslator.load(DOMAIN)`); without one
 * (tests, or no translator) the English text is used with the same `%1`
 * placeholders.
 */

/** The gettext domain of this extension's strings. */
export const DOMAIN = 'jupyter_pipelines';

/** What the views need of JupyterLab's TranslationBundle. */
export interface ITrans {
  __(msgid: string, ...args: unknown[]): string;
  _n(msgid: string, msgidPlural: string, n: number, ...args: unknown[]): string;
}

/** Replace `%1`, `%2`… with the arguments (as JupyterLab's gettext does). */
export function format(text: string, args: readonly unknown[]): string {
  return text.replace(/%(\d+)/g, (whole, digits: string) => {
    const index = Number(digits) - 1;
    return index >= 0 && index < args.length ? String(args[index]) : whole;
  });
}

/** The untranslated bundle. */
export const englishTrans: ITrans = {
  __: (msgid, ...args) => format(msgid, args),
  _n: (msgid, msgidPlural, n, ...args) =>
    format(n === 1 ? msgid : msgidPlural, [n, ...args])
};
