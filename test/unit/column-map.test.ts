import { describe, expect, it } from 'vitest';
import { ALIASES, ColumnMap, mapHeader, normalizeHeader, parseMapOption } from '../../src/sources/column-map.js';
import { CAR_COLUMNS } from '../../src/car.js';
import { CarsError } from '../../src/errors.js';

describe('normalizeHeader', () => {
  it.each([
    ['  Listed_At ', 'listed at'],
    ['LISTED-AT', 'listed at'],
    ['listed.at', 'listed at'],
    ['Exterior   Colour', 'exterior colour'],
    ['VIN_Number', 'vin number'],
    ['vin', 'vin'],
  ])('%j -> %j', (h, n) => expect(normalizeHeader(h)).toBe(n));
});

describe('ColumnMap', () => {
  const m = new ColumnMap();
  it.each([
    ['Make', 'brand'],
    ['Manufacturer', 'brand'],
    ['MARQUE', 'brand'],
    ['Odometer', 'mileage'],
    ['Kilometres', 'mileage'],
    ['KM', 'mileage'],
    ['Exterior Color', 'color'],
    ['exterior_colour', 'color'],
    ['Status', 'condition'],
    ['Date Listed', 'listed_at'],
    ['list-date', 'listed_at'],
    ['Listed At', 'listed_at'],
    ['Internet Price', 'price'],
    ['VIN Number', 'vin'],
    ['listed_at', 'listed_at'],
    ['Stock #', null],
    ['Marke', null],
  ])('%j is %j', (h, c) => expect(m.columnOf(h)).toBe(c));

  it('has an alias table that names only car columns', () => {
    expect(Object.keys(ALIASES).sort()).toEqual([...CAR_COLUMNS].sort());
  });

  it('--map wins over an alias and over a column name; an empty target ignores the header', () => {
    let maps = parseMapOption('Make=model');
    maps = parseMapOption('Marke = brand', maps);
    maps = parseMapOption('brand=', maps);
    const mm = new ColumnMap(maps);
    expect(mm.columnOf('make')).toBe('model');
    expect(mm.columnOf('MARKE')).toBe('brand');
    expect(mm.columnOf('Brand')).toBeNull();
  });

  it.each([['Make'], ['=brand'], ['Make=manufacturer']])('refuses --map %j with a usage error', (v) => {
    expect(() => parseMapOption(v)).toThrow(CarsError);
    expect(() => parseMapOption(v)).toThrow(/--map/);
  });

  it('notes JSON keys once, and quietly passes over the columns a rejects file adds', () => {
    const unknown: string[] = [];
    const mm = new ColumnMap(new Map(), (k) => unknown.push(k));
    for (const k of ['Make', 'dealer', 'dealer', 'line', 'error', 'VIN']) mm.note(k);
    expect(unknown).toEqual(['dealer']);
    expect(mm.columns()).toEqual({ Make: 'brand', VIN: 'vin' });
  });
});

describe('mapHeader', () => {
  it('gives each car column its position, and the headers it ignores', () => {
    const r = mapHeader(['VIN', 'Make', 'Model', 'Year', 'Odometer', 'Price', 'Stock #', 'line'], new ColumnMap(), 'f.csv: line 1');
    expect(r.positions).toEqual([0, 1, 2, 3, 5, 4, -1, -1, -1]);
    expect(r.ignored).toEqual(['Stock #']);
  });

  it('refuses two headers for one column, naming both', () => {
    expect(() => mapHeader(['vin', 'Make', 'Brand', 'model', 'year', 'price'], new ColumnMap(), 'f.csv: line 2')).toThrow(
      `f.csv: line 2: columns "Make" and "Brand" both name brand; keep one, or ignore the other with --map 'Brand='`,
    );
  });

  it('names the missing columns, the headers found, and --map', () => {
    expect(() => mapHeader(['Fahrgestellnummer', 'Marke', 'Model', 'Year', 'Price'], new ColumnMap(), 'f.csv: line 1')).toThrow(
      `f.csv: line 1: missing required columns vin, brand (found: "Fahrgestellnummer", "Marke", "Model", "Year", "Price"); name them with --map 'Header=vin'`,
    );
  });
});
