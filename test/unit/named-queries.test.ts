import { describe, expect, it } from 'vitest';
import { allNamedQueries, namedQuery, settingsStatement } from '../../src/db/queries.js';

describe('named queries: the settings line', () => {
  it('reads "-- settings: name=value ..." into the settings the writes are planned with', () => {
    for (const name of ['import_merge', 'import_merge_unique', 'price_update']) {
      expect(namedQuery(name).settings).toEqual({ enable_hashjoin: 'off', enable_mergejoin: 'off' });
    }
    expect(namedQuery('car_by_vin').settings).toEqual({});
    expect(allNamedQueries().every((q) => typeof q.settings === 'object')).toBe(true);
  });

  it('reads "-- staging: new" for the statement that expects only new cars; the rest stage a mix', () => {
    expect(namedQuery('import_insert')).toMatchObject({ staging: 'new', index: 'none' });
    expect(allNamedQueries().filter((q) => q.staging === 'new').map((q) => q.name)).toEqual(['import_insert']);
  });

  it('applies them with one statement, local to the transaction, quoted', () => {
    expect(settingsStatement({})).toBeNull();
    expect(settingsStatement({ enable_hashjoin: 'off', search_path: "o'brien" })).toBe(
      "select set_config('enable_hashjoin', 'off', true), set_config('search_path', 'o''brien', true)",
    );
  });
});
