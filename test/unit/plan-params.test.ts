// The `-- params:` line of a named query: samples drawn from the data, or literals.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inferParams, paramsLine, parseParams, resolveParams, SAMPLE_NAMES, showParam, type Samples } from '../../src/explain/params.js';
import { SQL_DIR } from '../../src/db/migrate.js';

describe('parseParams', () => {
  it.each([
    ['common_brand, price_low, price_high, 50', [{ sample: 'common_brand' }, { sample: 'price_low' }, { sample: 'price_high' }, { literal: 50 }]],
    ["'available', null, cursor_at, cursor_id, 50", [{ literal: 'available' }, { literal: null }, { sample: 'cursor_at' }, { sample: 'cursor_id' }, { literal: 50 }]],
    ["'it''s, fine', \"json, text\", true", [{ literal: "it's, fine" }, { literal: 'json, text' }, { literal: true }]],
    ['[1, 2], {"a": [3, 4]}, -1.5', [{ literal: [1, 2] }, { literal: { a: [3, 4] } }, { literal: -1.5 }]],
    ['["vin_array_1000", "price_array_1000", null]', [{ sample: 'vin_array_1000' }, { sample: 'price_array_1000' }, { literal: null }]],
    ['["{1HGCM82633A004352,JTDPYMZAXL1PYWYK1}", "{12500,10850.50}", null]', [{ literal: '{1HGCM82633A004352,JTDPYMZAXL1PYWYK1}' }, { literal: '{12500,10850.50}' }, { literal: null }]],
    ['NULL', [{ literal: null }]],
    ['', []],
    ['[]', []],
  ])('%s', (line, want) => {
    expect(parseParams(line)).toEqual(want);
  });

  it.each([
    ['common_brnad', /unknown sample "common_brnad" \(known: common_brand, /],
    ['50, {oops', /cannot read "\{oops"/],
    ['[1, 2', /cannot read "\[1, 2"/],
  ])('refuses %s', (line, why) => {
    expect(() => parseParams(line)).toThrow(why);
  });
});

describe('paramsLine', () => {
  it('reads the header line, or says there is none', () => {
    expect(paramsLine('-- name: x\n-- params: some_vin\nselect 1')).toBe('some_vin');
    expect(paramsLine('-- name: x\nselect 1')).toBeNull();
  });

  it('every named query in sql/queries/ that takes parameters has a readable -- params: line', () => {
    const dir = path.join(SQL_DIR, 'queries');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.sql'))) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      const line = paramsLine(text);
      const highest = Math.max(0, ...[...text.replace(/^--.*$/gm, '').matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      if (line === null) continue; // filled from the parameter types (see inferParams)
      expect(parseParams(line), f).toHaveLength(highest);
    }
  });
});

describe('inferParams', () => {
  it('fills a batched write: text[] are VINs, numeric[] prices, anything else null', () => {
    expect(inferParams([1009, 1231, 20])).toEqual([{ sample: 'vin_array_1000' }, { sample: 'price_array_1000' }, { literal: null }]);
    expect(inferParams([])).toEqual([]);
  });
});

describe('resolveParams and showParam', () => {
  const samples = Object.fromEntries(SAMPLE_NAMES.map((n) => [n, `<${n}>`])) as Samples;
  it('puts samples and literals in order', () => {
    expect(resolveParams([{ sample: 'common_brand' }, { literal: 50 }, { literal: null }], samples)).toEqual(['<common_brand>', 50, null]);
  });
  it.each([
    [null, 'NULL'],
    ['Toyota', "'Toyota'"],
    [50, '50'],
    [['A', 'B', 'C'], "[3 values: 'A', 'B', ...]"],
    [['A'], "[1 value: 'A']"],
    [[], '[0 values]'],
    ['x'.repeat(50), `'${'x'.repeat(37)}...'`],
  ])('%j', (v, want) => {
    expect(showParam(v)).toBe(want);
  });
});
