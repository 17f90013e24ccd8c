import { englishTrans, format } from '../src/i18n';
import { DEFAULT_SETTINGS, readSettings } from '../src/settings';

describe('settings', () => {
  it('reads the composite, defaulting what is missing or invalid', () => {
    expect(readSettings(null)).toEqual(DEFAULT_SETTINGS);
    expect(
      readSettings({
        defaultProject: ' examples ',
        pageSize: 20.4,
        logLimitKB: 'a lot',
        graphHeight: 10
      })
    ).toEqual({
      defaultProject: 'examples',
      pageSize: 20,
      logLimitKB: 1024,
      graphHeight: 120
    });
  });
});

describe('translation fallback', () => {
  it('formats placeholders like JupyterLab', () => {
    expect(format('%1 of %2', ['a', 3])).toBe('a of 3');
    expect(format('%3 stays', ['a'])).toBe('%3 stays');
    expect(englishTrans.__('Exported %1', 'x')).toBe('Exported x');
    expect(englishTrans._n('%1 row', '%1 rows', 1)).toBe('1 row');
    expect(englishTrans._n('%1 row', '%1 rows', 2)).toBe('2 rows');
  });
});
