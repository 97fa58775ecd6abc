import { describe, expect, it } from 'vitest';
import { FAULT_BACKOFF, THROTTLE_BACKOFF, backoffDelay, retryDelay } from '../../src/http/backoff.js';

const opts = { baseMs: 250, capMs: 30_000 };
const fixed = (r: number) => () => r;

describe('backoffDelay (full jitter)', () => {
  it.each([
    // attempt, random, expected
    [1, 0, 0],
    [1, 0.5, 125],
    [1, 0.999, 249.75],
    [2, 1, 500],
    [3, 1, 1000],
    [4, 0.5, 1000],
    [7, 1, 16_000],
    [8, 1, 30_000], // 32 000 capped
    [8, 0.5, 15_000],
    [50, 1, 30_000],
    [2000, 1, 30_000], // 2^1999 is Infinity; still the cap
  ])('attempt %i with random %d -> %d ms', (attempt, r, expected) => {
    expect(backoffDelay(attempt, opts, fixed(r))).toBe(expected);
  });

  it('stays within [0, ceiling) with Math.random', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, opts);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
    }
  });

  it.each([
    // attempt, random, expected: base 50, factor 3
    [1, 1, 50],
    [1, 0.5, 25],
    [2, 1, 150],
    [3, 1, 450],
    [5, 1, 4050],
    [6, 1, 12_150],
    [7, 1, 30_000], // 36 450 capped
    [7, 0.25, 7_500],
  ])('factor 3: attempt %i with random %d -> %d ms', (attempt, r, expected) => {
    expect(backoffDelay(attempt, { baseMs: 50, factor: 3, capMs: 30_000 }, fixed(r))).toBeCloseTo(expected, 9);
  });

  it.each([0.5, 0, -2, Number.NaN])('rejects factor %d', (factor) => {
    expect(() => backoffDelay(1, { ...opts, factor })).toThrow(/`factor` to be a number from 1 and up/);
  });

  it('faults: the first retry within 50 ms, and the default 5 retries still span seconds', () => {
    const ceilings = [1, 2, 3, 4, 5].map((a) => backoffDelay(a, FAULT_BACKOFF, fixed(1)));
    expect(ceilings).toEqual([50, 150, 450, 1350, 4050]);
    expect(ceilings.reduce((a, b) => a + b)).toBeGreaterThan(5000);
  });

  it('throttling (429 without Retry-After): from 250 ms, doubling', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, THROTTLE_BACKOFF, fixed(1)))).toEqual([250, 500, 1000, 2000, 4000]);
  });

  it('a cap below the base caps the first retry too', () => {
    expect(backoffDelay(1, { baseMs: 1000, capMs: 100 }, fixed(1))).toBe(100);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects attempt %d', (attempt) => {
    expect(() => backoffDelay(attempt, opts)).toThrow(/`attempt` to be an integer from 1 and up/);
  });
});

describe('retryDelay', () => {
  it.each([
    // attempt, retryAfterMs, random, expected
    [1, undefined, 0.5, 125],
    [3, undefined, 1, 1000],
    [1, 1000, 0, 1000], // Retry-After replaces the jittered delay...
    [1, 1000, 1, 1000], // ...and no jitter is added or taken off
    [8, 2000, 0.1, 2000], // even when backoff alone would be longer or shorter
    [1, 0, 1, 0], // a date in the past: retry now
    [2, 120_000, 1, 120_000], // above capMs: Retry-After wins over our cap (the client has its own limit)
    [1, -5, 1, 0],
  ])('attempt %i, Retry-After %s ms, random %d -> %d ms', (attempt, retryAfter, r, expected) => {
    expect(retryDelay(attempt, retryAfter, opts, fixed(r))).toBe(expected);
  });

  it('never undercuts Retry-After whatever random returns', () => {
    for (let i = 0; i < 500; i++) {
      const ra = Math.floor(Math.random() * 10_000);
      expect(retryDelay(1 + (i % 10), ra, opts)).toBe(ra);
    }
  });
});
