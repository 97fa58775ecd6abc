// The feed's fast path (plainPriceRow) against the checks it stands in for: a row it takes must
// be exactly what checkPriceRow makes of the same fields, and it must take the usual rows.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvByteSplitter, CsvRow } from '../../src/sources/csv-records.js';
import { plainPriceRow } from '../../src/sync/feed.js';
import { checkPriceRow } from '../../src/sync/feed-rows.js';

/** The records of `text` (one CSV line or more), as the feed's splitter makes them. */
function rows(text: string): CsvRow[] {
  const s = new CsvByteSplitter(',');
  return s.end(s.push(Buffer.from(text, 'utf8'))).filter((r): r is CsvRow => r instanceof CsvRow);
}

/** What the slow path makes of a two-field record: checkPriceRow over its decoded fields. */
function slow(r: CsvRow, vi: number, pi: number) {
  if (!r.isUtf8()) return { ok: false as const };
  return checkPriceRow(r.field(vi), r.field(pi));
}

const VIN_CHARS = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
const vinChar = fc.constantFrom(...VIN_CHARS.split(''));
const goodVin = fc.array(vinChar, { minLength: 17, maxLength: 17 }).map((a) => a.join(''));
// Near misses: lower case, I/O/Q, spaces, quotes, 16 or 18 characters, non-ASCII.
const vinish = fc.oneof(
  goodVin,
  fc.array(fc.constantFrom(...(VIN_CHARS + 'abciIoOqQ "é\u00a0').split('')), { minLength: 15, maxLength: 19 }).map((a) => a.join('')),
  fc.string(),
);
const priceish = fc.oneof(
  fc.integer({ min: 0, max: 99_999_999_999 }).map(String),
  fc.tuple(fc.integer({ min: 0, max: 9_999_999 }), fc.integer({ min: 0, max: 999 })).map(([a, b]) => `${a}.${b}`),
  fc.tuple(fc.integer({ min: 0, max: 9_999 }), fc.constantFrom('.00', '.0', '.5', '.50', '.05', '.', '.123')).map(([a, b]) => `${a}${b}`),
  fc.constantFrom('0', '00', '012', '0.00', '0.50', '-0', '-5', ' 12500', '12500 ', '1e4', '12,500', '1 000', '9999999999', '9999999999.99', '10000000000', '0000000000012'),
  fc.string(),
);
const field = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

describe('plainPriceRow, the feed fast path', () => {
  it('takes a row only when checkPriceRow gives the same VIN and price (any VIN, any price, either column order)', () => {
    fc.assert(
      fc.property(vinish, priceish, fc.boolean(), fc.boolean(), (vin, price, vinFirst, quoted) => {
        const cells = vinFirst ? [vin, price] : [price, vin];
        const text = cells.map((c) => (quoted ? `"${c.replace(/"/g, '""')}"` : field(c))).join(',') + '\n';
        const [r] = rows(text);
        if (!r || r.count !== 2) return;
        const vi = vinFirst ? 0 : 1;
        const pi = 1 - vi;
        const fast = plainPriceRow(r, vi, pi, 7);
        if (fast === undefined) return;
        const want = slow(r, vi, pi);
        expect(want).toEqual({ ok: true, vin: fast.vin, price: fast.price });
        expect(fast).toMatchObject({ kind: 'row', line: 7 });
        expect(quoted).toBe(false); // a quoted field always goes the slow way
      }),
      { numRuns: 3000 },
    );
  });

  it('takes the usual rows: a stored VIN and a canonical price', () => {
    fc.assert(
      fc.property(goodVin, fc.integer({ min: 0, max: 9_999_999_999 }), fc.integer({ min: 0, max: 99 }), (vin, int, cents) => {
        const price = cents === 0 ? String(int) : `${int}.${String(cents).padStart(2, '0')}`;
        const [r] = rows(`${vin},${price}\n`);
        expect(plainPriceRow(r, 0, 1, 2)).toEqual({ kind: 'row', vin, price, line: 2 });
      }),
    );
  });

  it.each([
    ['1HGCM82633A004352,012', 'a leading zero'],
    ['1HGCM82633A004352,12500.5', 'one decimal'],
    ['1HGCM82633A004352,12500.00', 'zero cents'],
    ['1HGCM82633A004352, 12500', 'a space'],
    ['1hgcm82633a004352,12500', 'lower case'],
    ['"1HGCM82633A004352",12500', 'quotes'],
    ['1HGCM82633A004352,10000000000', 'eleven digits'],
    ['1HGCM82633A004352,-0', 'minus zero'],
    ['1HGCM82633A00435\u0000,12500', 'a NUL byte'],
    ['1HGCM82633A00435I,12500', 'an I'],
  ])('leaves %s to the checks (%s), which canonicalise or refuse it', (line) => {
    const [r] = rows(line + '\n');
    expect(plainPriceRow(r, 0, 1, 2)).toBeUndefined();
  });
});
