// PASS or FAIL: the budget, the sequential scan of cars, the declared index; and the verdict line.
import { describe, expect, it } from 'vitest';
import type { PlanFacts } from '../../src/explain/plan.js';
import { declaredIndexes, failed, judge, ms } from '../../src/explain/verdict.js';
import { verdictLine } from '../../src/explain/render.js';

const facts = (f: Partial<PlanFacts>): PlanFacts => ({
  analyzed: true,
  planningMs: 0.1,
  executionMs: 12.2,
  totalMs: 12.3,
  indexes: [],
  seqScans: [],
  warnings: [],
  ...f,
});

describe('judge', () => {
  it.each([
    { why: 'within budget, its index', f: facts({ indexes: ['cars_vin_key'] }), budget: 50, index: ['cars_vin_key'], pass: true, uses: 'uses index cars_vin_key', reasons: [] },
    { why: 'over budget', f: facts({ totalMs: 62.14, indexes: ['cars_vin_key'] }), budget: 50, index: ['cars_vin_key'], pass: false, uses: 'uses index cars_vin_key', reasons: ['over budget: 62.1 ms > 50.0 ms'] },
    { why: 'exactly the budget passes', f: facts({ totalMs: 50, indexes: ['i'] }), budget: 50, index: ['i'], pass: true, uses: 'uses index i', reasons: [] },
    {
      why: 'a seq scan of cars',
      f: facts({ seqScans: ['cars'] }),
      budget: 50,
      index: ['cars_brand_price_idx'],
      pass: false,
      uses: 'seq scan',
      reasons: ['sequential scan of cars', 'does not use cars_brand_price_idx (uses no index)'],
    },
    { why: 'a seq scan of a small table is fine', f: facts({ seqScans: ['cars_staging'], indexes: ['cars_vin_key'] }), budget: 500, index: ['cars_vin_key'], pass: true, uses: 'uses index cars_vin_key', reasons: [] },
    {
      why: 'another index than the declared one',
      f: facts({ indexes: ['cars_brand_price_idx'] }),
      budget: 50,
      index: ['cars_available_brand_year_price_idx'],
      pass: false,
      uses: 'uses index cars_brand_price_idx',
      reasons: ['does not use cars_available_brand_year_price_idx (uses cars_brand_price_idx)'],
    },
    { why: 'several declared indexes, all used', f: facts({ indexes: ['a', 'b', 'c'] }), budget: 50, index: ['a', 'c'], pass: true, uses: 'uses index a, c', reasons: [] },
    { why: 'no ANALYZE: no time to hold against the budget', f: facts({ analyzed: false, totalMs: null, planningMs: null, executionMs: null, indexes: ['i'] }), budget: 1, index: ['i'], pass: true, uses: 'uses index i', reasons: [] },
    { why: '--sql: no budget, no declared index', f: facts({ totalMs: 9000 }), budget: null, index: [], pass: true, uses: 'no index', reasons: [] },
    { why: '--sql with a seq scan', f: facts({ seqScans: ['cars'] }), budget: null, index: [], pass: false, uses: 'seq scan', reasons: ['sequential scan of cars'] },
  ])('$why', ({ f, budget, index, pass, uses, reasons }) => {
    expect(judge(f, { budgetMs: budget, indexes: index })).toEqual({ pass, uses, reasons });
  });

  it('a query that could not be explained fails with its error', () => {
    expect(failed('relation "x" does not exist')).toEqual({ pass: false, uses: 'not explained', reasons: ['relation "x" does not exist'] });
  });
});

describe('the -- index: line', () => {
  it.each([
    ['cars_vin_key', ['cars_vin_key']],
    [' a, b ,c ', ['a', 'b', 'c']],
    ['', []],
  ])('%j', (line, want) => {
    expect(declaredIndexes(line)).toEqual(want);
  });
});

describe('verdictLine', () => {
  it.each([
    [12.34, 50, { pass: true, uses: 'uses index cars_vin_key', reasons: [] }, 'car_by_vin       12.3 ms / budget 50 ms   PASS (uses index cars_vin_key)'],
    [0.042, 50, { pass: true, uses: 'uses index x', reasons: [] }, 'car_by_vin       0.04 ms / budget 50 ms   PASS (uses index x)'],
    [830, 50, { pass: false, uses: 'seq scan', reasons: ['over budget: 830.0 ms > 50.0 ms', 'sequential scan of cars'] }, 'car_by_vin      830.0 ms / budget 50 ms   FAIL (seq scan): over budget: 830.0 ms > 50.0 ms; sequential scan of cars'],
    [null, 500, { pass: true, uses: 'uses index cars_vin_key', reasons: [] }, 'car_by_vin       not run / budget 500 ms  PASS (uses index cars_vin_key)'],
    [3.1, null, { pass: true, uses: 'no index', reasons: [] }, 'car_by_vin        3.1 ms / no budget      PASS (no index)'],
  ])('%s ms / %s', (time, budget, v, want) => {
    expect(verdictLine('car_by_vin', time, budget, v, 12)).toBe(want);
  });

  it.each([
    [12.345, '12.3 ms'],
    [0.095, '0.1 ms'],
    [0.04, '0.04 ms'],
    [1234.56, '1234.6 ms'],
  ])('ms(%d) = %s', (v, want) => {
    expect(ms(v)).toBe(want);
  });
});
