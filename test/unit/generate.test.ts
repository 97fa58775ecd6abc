import { describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { CSV_HEADER, generateCsv, type GenerateOptions } from '../../src/generate.js';
import { nextYear } from '../../src/car.js';
import { CAR_COLUMNS, validateCar } from '../../src/car.js';

const MAX_YEAR = 2027;

function text(opts: Partial<GenerateOptions> & { count: number }): string {
  return [...generateCsv({ seed: 42, badRate: 0, maxYear: MAX_YEAR, ...opts })].join('');
}

function records(opts: Partial<GenerateOptions> & { count: number }): Array<Record<string, string>> {
  return parse(text(opts), { columns: true });
}

// ISO 3779 check digit (position 9), which real VINs carry.
const VALUES: Record<string, number> = Object.fromEntries(
  [...'0123456789ABCDEFGHJKLMNPRSTUVWXYZ'].map((c, i) => [c, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9][i]]),
);
const WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
function checkDigit(vin: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += VALUES[vin[i]] * WEIGHTS[i];
  return sum % 11 === 10 ? 'X' : String(sum % 11);
}

/** The fields an error message names: each "; "-separated part that starts with a column name. */
function fieldsIn(error: string): string[] {
  return error.split('; ').filter((part) => CAR_COLUMNS.some((c) => part.startsWith(`${c} `)));
}

describe('generateCsv', () => {
  it('starts with the header line', () => {
    const first = generateCsv({ count: 3, seed: 1, badRate: 0, maxYear: MAX_YEAR }).next().value as string;
    expect(first.split('\n')[0]).toBe('vin,brand,model,year,price,mileage,condition,color,listed_at');
    expect(CSV_HEADER.split(',')).toEqual(CAR_COLUMNS);
  });

  it('writes only the header for count 0', () => {
    expect(text({ count: 0 })).toBe(CSV_HEADER + '\n');
  });

  it.each([1, 7, 1000, 2500])('writes exactly %i records', (count) => {
    expect(records({ count })).toHaveLength(count);
  });

  it('yields chunks of about 64 KB, each ending at a line end', () => {
    const chunks = [...generateCsv({ count: 5000, seed: 3, badRate: 0.2, maxYear: MAX_YEAR })];
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(64 * 1024);
      expect(c.length).toBeLessThan(64 * 1024 + 1024);
    }
    for (const c of chunks) expect(c.endsWith('\n')).toBe(true);
  });

  it('is deterministic for a seed', () => {
    expect(text({ count: 3000, seed: 7, badRate: 0.1 })).toBe(text({ count: 3000, seed: 7, badRate: 0.1 }));
    expect(text({ count: 3000, seed: 7 })).not.toBe(text({ count: 3000, seed: 8 }));
  });

  it('gives the first rows of a longer run the same values', () => {
    const short = text({ count: 100 });
    expect(text({ count: 5000 }).startsWith(short)).toBe(true);
  });

  it.each([0, 1, 42, -5, 2 ** 40 + 3])('gives 50,000 distinct VINs for seed %s', (seed) => {
    const vins = new Set(records({ count: 50_000, seed }).map((r) => r.vin));
    expect(vins.size).toBe(50_000);
  });

  it('gives different seeds different VINs', () => {
    const a = new Set(records({ count: 5000, seed: 1 }).map((r) => r.vin));
    const b = records({ count: 5000, seed: 2 }).map((r) => r.vin);
    expect(b.filter((v) => a.has(v)).length).toBe(0);
  });

  it('makes only valid rows when badRate is 0, with real VIN check digits', () => {
    const rows = records({ count: 20_000, seed: 11 });
    for (const r of rows) {
      const v = validateCar(r, { maxYear: MAX_YEAR });
      if (!v.ok) throw new Error(`${JSON.stringify(r)}: ${v.error}`);
      expect(r.vin[8]).toBe(checkDigit(r.vin));
    }
  });

  it('makes about badRate of the rows invalid, each with one defect', () => {
    const rows = records({ count: 20_000, seed: 5, badRate: 0.1 });
    const errors = rows.map((r) => validateCar(r, { maxYear: MAX_YEAR })).filter((v) => !v.ok);
    expect(errors.length / rows.length).toBeGreaterThan(0.09);
    expect(errors.length / rows.length).toBeLessThan(0.11);
    for (const e of errors) expect(fieldsIn(e.error)).toHaveLength(1);
  });

  it('uses every kind of defect', () => {
    const rows = records({ count: 2000, seed: 9, badRate: 1 });
    const kinds = new Set<string>();
    for (const r of rows) {
      const v = validateCar(r, { maxYear: MAX_YEAR });
      expect(v.ok).toBe(false);
      if (v.ok) continue;
      if (/^vin ".*" must be 17 characters, got 16$/.test(v.error)) kinds.add('vin length');
      else if (/^vin ".*" contains I, O or Q/.test(v.error)) kinds.add('vin O');
      else if (v.error.startsWith('year "1700"')) kinds.add('year 1700');
      else if (/^price "\$[\d,]+" has a currency sign/.test(v.error)) kinds.add('currency');
      else if (/^mileage "-\d+" is negative/.test(v.error)) kinds.add('negative mileage');
      else if (v.error.startsWith('condition "broken"')) kinds.add('broken');
      else if (v.error === 'brand is required') kinds.add('empty brand');
      else throw new Error(`unexpected defect: ${v.error}`);
    }
    expect(kinds.size).toBe(7);
  });

  it('keeps the good rows of a seed whatever the bad rate', () => {
    const good = records({ count: 3000, seed: 21 });
    const mixed = records({ count: 3000, seed: 21, badRate: 0.3 });
    let same = 0;
    for (let i = 0; i < good.length; i++) if (JSON.stringify(good[i]) === JSON.stringify(mixed[i])) same++;
    expect(same / good.length).toBeGreaterThan(0.65);
    expect(same / good.length).toBeLessThan(0.75);
  });

  it('quotes fields holding commas and doubles embedded quotes (RFC 4180)', () => {
    const csv = text({ count: 20_000, seed: 4 });
    expect(csv).toMatch(/,"(Golf, GTI|Model S, Plaid|F-150, Lightning)",/);
    expect(csv).toContain(',"Blue, metallic",');
    expect(csv).toContain(',"Pearl White ""Multi-Coat""",');
    const rows: Array<Record<string, string>> = parse(csv, { columns: true });
    expect(rows.some((r) => r.model.includes(','))).toBe(true);
    expect(rows.some((r) => r.color === 'Pearl White "Multi-Coat"')).toBe(true);
  });

  describe('realism', () => {
    const rows = records({ count: 30_000, seed: 42 });
    const thisYear = MAX_YEAR - 1;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

    it('has common and rare brands, Škoda among them', () => {
      const counts = new Map<string, number>();
      for (const r of rows) counts.set(r.brand, (counts.get(r.brand) ?? 0) + 1);
      expect(counts.size).toBeGreaterThanOrEqual(12);
      expect(counts.get('Škoda')).toBeGreaterThan(0);
      expect(counts.get('Toyota')!).toBeGreaterThan(3 * counts.get('Volvo')!);
      const byBrand = (b: string) => new Set(rows.filter((r) => r.brand === b).map((r) => r.model));
      expect(byBrand('Toyota')).toEqual(new Set(['Corolla', 'Camry', 'RAV4', 'Yaris', 'Prius', 'Land Cruiser']));
      expect(byBrand('Tesla').has('Model 3')).toBe(true);
      expect(byBrand('Toyota').has('Model 3')).toBe(false);
    });

    it('prices newer cars higher and gives them fewer kilometres', () => {
      const recent = rows.filter((r) => +r.year >= thisYear - 2);
      const old = rows.filter((r) => +r.year <= thisYear - 10);
      expect(recent.length).toBeGreaterThan(1000);
      expect(old.length).toBeGreaterThan(1000);
      expect(mean(recent.map((r) => +r.price))).toBeGreaterThan(2 * mean(old.map((r) => +r.price)));
      const km = (rs: typeof rows) => mean(rs.filter((r) => r.mileage !== '').map((r) => +r.mileage));
      expect(km(recent)).toBeLessThan(km(old) / 3);
    });

    it('keeps years between startYear and maxYear', () => {
      const years = rows.map((r) => +r.year);
      expect(Math.max(...years)).toBe(MAX_YEAR);
      expect(Math.min(...years)).toBeGreaterThanOrEqual(MAX_YEAR - 21);
      const narrow = records({ count: 2000, startYear: 2015 }).map((r) => +r.year);
      expect(Math.min(...narrow)).toBeGreaterThanOrEqual(2015);
    });

    it('lists most cars as available, some sold or reserved', () => {
      const share = (c: string) => rows.filter((r) => r.condition === c).length / rows.length;
      expect(share('available')).toBeGreaterThan(0.75);
      expect(share('sold')).toBeGreaterThan(0.05);
      expect(share('reserved')).toBeGreaterThan(0.02);
    });

    it('dates listings within the two years before `now`, some empty, some with a time', () => {
      const end = Date.UTC(thisYear, 0, 1);
      const listed = rows.map((r) => r.listed_at);
      const empty = listed.filter((l) => l === '').length / rows.length;
      expect(empty).toBeGreaterThan(0.02);
      expect(empty).toBeLessThan(0.1);
      expect(listed.some((l) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(l))).toBe(true);
      for (const l of listed) {
        if (l === '') continue;
        const t = Date.parse(l.length === 10 ? `${l}T00:00:00Z` : l);
        expect(t).toBeGreaterThanOrEqual(end - 730 * 86400000);
        expect(t).toBeLessThan(end);
      }
      const now = new Date('2026-11-27T12:00:00Z');
      const moved = records({ count: 500, now }).map((r) => r.listed_at).filter((l) => l !== '');
      expect(moved.every((l) => l.slice(0, 10) >= '2024-11-27' && l.slice(0, 10) <= '2026-11-27')).toBe(true);
    });
  });

  it.each([
    [{ count: -1 }, 'expected `count` to be a whole number from 0 to 4294967295, got -1'],
    [{ count: 1.5 }, 'expected `count` to be a whole number from 0 to 4294967295, got 1.5'],
    [{ seed: Number.NaN }, 'expected `seed` to be a whole number, got NaN'],
    [{ badRate: 1.5 }, 'expected `badRate` to be a number from 0 to 1, got 1.5'],
    [{ maxYear: 1800 }, 'expected `maxYear` to be a whole number from 1886 and up, got 1800'],
    [{ startYear: 2030 }, 'expected `startYear` to be a whole number from 1886 to 2027, got 2030'],
  ])('refuses %j when called, before any output', (bad, message) => {
    expect(() => generateCsv({ count: 10, seed: 1, badRate: 0, maxYear: MAX_YEAR, ...bad })).toThrow(message);
  });
});

describe('nextYear', () => {
  it.each([
    ['2026-11-27T03:00:00Z', 2027],
    ['2024-01-01T00:00:00Z', 2025],
    ['2024-12-31T23:59:59Z', 2025],
  ])('is %s + 1 year', (now, year) => {
    expect(nextYear(new Date(now))).toBe(year);
  });

  it('defaults to the current year', () => {
    expect(nextYear()).toBe(new Date().getUTCFullYear() + 1);
  });
});
