// sources/car-json.ts: cars as JSON objects, numbers kept as written, values in column order.
import { describe, expect, it } from 'vitest';
import { CAR_COLUMNS } from '../../src/car.js';
import { carValues, parseCarJson, parseKeepingNumbers, RawNumber } from '../../src/sources/car-json.js';
import { ColumnMap } from '../../src/sources/column-map.js';

const col = (name: string) => CAR_COLUMNS.indexOf(name as (typeof CAR_COLUMNS)[number]);

describe('parseCarJson', () => {
  const full =
    '{"vin":"WVWMVHW75R0AUP109","brand":"Volkswagen","model":"Passat","year":2024,"price":26900.50,"mileage":21144,"condition":"sold","color":null,"listed_at":"2025-03-11"}';

  it('maps the car keys onto the columns; numbers keep the text JSON wrote; null is absent', () => {
    const r = parseCarJson(full);
    expect(r).toEqual({ ok: true, values: ['WVWMVHW75R0AUP109', 'Volkswagen', 'Passat', '2024', '26900.50', '21144', 'sold', undefined, '2025-03-11'] });
  });

  it.each([
    ['1e3', '1e3'],
    ['-0', '-0'],
    ['12500.00', '12500.00'],
    ['123456789012345678901', '123456789012345678901'],
    ['"12 500"', '12 500'],
  ])('price %s stays %s', (json, text) => {
    const r = parseCarJson(`{"vin":"x","price":${json}}`);
    expect(r.ok && r.values[col('price')]).toBe(text);
  });

  it('matches keys case-insensitively, ignores unknown keys and tells about them', () => {
    const unknown: string[] = [];
    const r = parseCarJson('{"VIN":"A","Brand":"B","dealer":{"id":7},"line":3}', new ColumnMap(new Map(), (k) => unknown.push(k)));
    expect(r.ok && r.values.slice(0, 2)).toEqual(['A', 'B']);
    expect(unknown).toEqual(['dealer']); // `line` (a rejects-file column) is ignored quietly
  });

  it.each([
    ['{"vin": "A",', /^not valid JSON: /],
    ['{vin: "A"}', /^not valid JSON: /],
    ['[1,2]', /^not a JSON object \(got an array\)$/],
    ['"text"', /^not a JSON object \(got a string\)$/],
    ['42', /^not a JSON object \(got a number\)$/],
    ['null', /^not a JSON object \(got null\)$/],
  ])('%s is malformed', (text, error) => {
    const r = parseCarJson(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(error);
  });

  it('a car key holding an object, an array or a boolean makes the record malformed, values kept', () => {
    const r = parseCarJson('{"vin":"A","price":{"amount":1},"color":["red"],"year":true}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBe('"price" is an object, "color" is an array, "year" is true; expected a string, a number or null');
    expect(r.values?.[col('vin')]).toBe('A');
    expect(r.values?.[col('price')]).toBe('{"amount":1}');
  });
});

describe('parseKeepingNumbers', () => {
  it.each([
    '{"a":[1,2.50,{"b":-3e-2}],"c":"d\\"e\\u00e9","e":true,"f":false,"g":null}',
    ' [ ] ',
    '{"__proto__":{"x":1}}',
    '"just a string"',
  ])('agrees with JSON.parse on %s (numbers aside)', (text) => {
    const plain = (v: unknown): unknown =>
      v instanceof RawNumber ? Number(v.raw) : Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
    expect(plain(parseKeepingNumbers(text))).toEqual(JSON.parse(text));
  });

  it('keeps number text and does not touch prototypes', () => {
    const v = parseKeepingNumbers('{"p":2.50,"__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(v.p).toEqual(new RawNumber('2.50'));
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(['{"a":1', '{"a":01}', '[1,]', '{"a":1} x'])('throws on %s', (text) => {
    expect(() => parseKeepingNumbers(text)).toThrow(SyntaxError);
  });
});

describe('carValues', () => {
  it('absent and null are undefined; a later duplicate key wins', () => {
    expect(carValues({ vin: 'A', VIN: 'B', color: null }).values).toEqual(['B', ...Array(CAR_COLUMNS.length - 1).fill(undefined)]);
  });
});
