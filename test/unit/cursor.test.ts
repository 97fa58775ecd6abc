// The `--after` cursor of `cars search`, and how a page ends in one.
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/search/cursor.js';
import { checkSearchOptions, listingParams, toPage } from '../../src/search/listing.js';
import type { SearchOptions } from '../../src/search/listing.js';
import { isCarsError } from '../../src/errors.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

describe('cursor', () => {
  it.each([
    { createdAt: '2026-01-31T12:34:56.123456Z', id: 1 },
    { createdAt: '1999-12-31T23:59:59.999999Z', id: Number.MAX_SAFE_INTEGER },
    { createdAt: '2024-02-29T00:00:00.000000Z', id: 42 },
  ])('round trips $createdAt, $id', (p) => {
    const c = encodeCursor(p);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c)).toEqual(p);
  });

  it.each([
    ['garbage!', /not base64url/],
    ['', /not base64url/],
    [b64('not json'), /not JSON inside/],
    [b64('{"a":1}'), /not a \[created_at, id\] pair/],
    [b64('["2026-01-31T12:34:56.123456Z"]'), /pair/],
    [b64('["2026-01-31T12:34:56.123Z", 1]'), /microseconds/],
    [b64('["2026-02-30T12:34:56.123456Z", 1]'), /microseconds/],
    [b64('["2026-01-31 12:34:56.123456+00", 1]'), /microseconds/],
    [b64('["2026-01-31T12:34:56.123456Z", 0]'), /positive integer/],
    [b64('["2026-01-31T12:34:56.123456Z", "7"]'), /positive integer/],
    [b64('["2026-01-31T12:34:56.123456Z", 1.5]'), /positive integer/],
  ])('refuses %j as a usage error naming --after', (c, why) => {
    let err: unknown;
    try {
      decodeCursor(c);
    } catch (e) {
      err = e;
    }
    expect(isCarsError(err) && err.code).toBe('USAGE');
    expect((err as Error).message).toMatch(/^--after: /);
    expect((err as Error).message).toMatch(why);
  });
});

const opts = (o: Partial<SearchOptions> = {}): SearchOptions => ({ limit: 50, format: 'table', ...o });
const row = (id: number, createdAt = '2026-01-31T12:00:00.000001Z') => ({
  id,
  vin: `VIN${id}`,
  brand: 'Toyota',
  model: 'Corolla',
  year: 2020,
  price: '12345.50',
  mileage: null,
  condition: 'available',
  color: null,
  listed_at: new Date('2025-05-01T10:00:00Z'),
  created_at: createdAt,
});

describe('a page', () => {
  it('asks for one row more than the page, so the last page knows it is the last', () => {
    expect(listingParams(opts({ limit: 3 }), null)).toEqual([null, null, null, null, null, null, null, null, null, 4]);
  });

  it('binds the filters and the position in the order of recent_listings', () => {
    const p = listingParams(opts({ condition: 'sold', brand: 'Škoda', model: 'Octavia', minPrice: 1000, maxPrice: 2000.5, yearFrom: 2010, yearTo: 2020, limit: 10 }), {
      createdAt: '2026-01-31T12:34:56.123456Z',
      id: 9,
    });
    expect(p).toEqual(['sold', 'Škoda', 'Octavia', 1000, 2000.5, 2010, 2020, '2026-01-31T12:34:56.123456Z', 9, 11]);
  });

  it('has a next cursor, made of its last row, only when there was one more row', () => {
    const full = toPage([row(5), row(4), row(3)], 2);
    expect(full.items.map((i) => i.id)).toEqual([5, 4]);
    expect(decodeCursor(full.next!)).toEqual({ createdAt: '2026-01-31T12:00:00.000001Z', id: 4 });
    expect(toPage([row(5), row(4)], 2).next).toBeNull();
    expect(toPage([], 2)).toEqual({ items: [], next: null });
  });

  it('shapes a row as a car', () => {
    expect(toPage([row(7)], 1).items[0]).toEqual({
      id: 7,
      vin: 'VIN7',
      brand: 'Toyota',
      model: 'Corolla',
      year: 2020,
      price: 12345.5,
      mileage: null,
      condition: 'available',
      color: null,
      listed_at: '2025-05-01T10:00:00.000Z',
      created_at: '2026-01-31T12:00:00.000001Z',
    });
  });

  it.each([
    [{ minPrice: 30000, maxPrice: 20000 }, /^--min-price 30000 is greater than --max-price 20000$/],
    [{ yearFrom: 2020, yearTo: 2019 }, /^--year-from 2020 is after --year-to 2019$/],
    [{ brand: '' }, /^--brand must be 1 to 200 characters/],
    [{ model: 'x'.repeat(201) }, /^--model must be 1 to 200 characters/],
    [{ brand: 'a\0b' }, /^--brand must not contain a NUL/],
    [{ limit: 0 }, /^--limit must be an integer from 1 to 1000/],
    [{ limit: 1001 }, /^--limit/],
  ])('refuses %j', (o, why) => {
    expect(() => checkSearchOptions(opts(o as Partial<SearchOptions>))).toThrow(why);
  });

  it('accepts equal bounds', () => {
    expect(() => checkSearchOptions(opts({ minPrice: 5, maxPrice: 5, yearFrom: 2000, yearTo: 2000 }))).not.toThrow();
  });
});
