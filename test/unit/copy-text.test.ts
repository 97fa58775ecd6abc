import { describe, expect, it } from 'vitest';
import { copyValue } from '../../src/import/copy-text.js';
import { RowBatch, stagingLine } from '../../src/import/batch.js';
import { fnv1a } from '../../src/car.js';
import type { CarRow } from '../../src/car.js';

describe('COPY text encoding', () => {
  it.each([
    [null, '\\N'],
    [undefined, '\\N'],
    ['plain', 'plain'],
    [42, '42'],
    ['tab\there', 'tab\\there'],
    ['line\nbreak', 'line\\nbreak'],
    ['cr\rhere', 'cr\\rhere'],
    ['back\\slash', 'back\\\\slash'],
    ['\\N', '\\\\N'],
    ['nul\0byte', 'nulbyte'],
    ["Robert'); DROP TABLE cars;--", "Robert'); DROP TABLE cars;--"],
  ])('%j -> %j', (v, expected) => {
    expect(copyValue(v as string | null)).toBe(expected);
  });

});

const car = (vin: string, over: Partial<CarRow> = {}): CarRow => ({
  vin, brand: 'Škoda', model: 'Octavia', year: 2019, price: '12500.50', mileage: 84000, condition: 'available', color: 'Grey', listed_at: '2024-03-01', ...over,
});

describe('a batch of staged rows', () => {
  it('writes one COPY line per row, escaping only what COPY needs', () => {
    expect(stagingLine(7, car('WVWZZZ1KZAW000001'))).toBe('7\tWVWZZZ1KZAW000001\tŠkoda\tOctavia\t2019\t12500.50\t84000\tavailable\tGrey\t2024-03-01\n');
    const odd = car('WVWZZZ1KZAW000002', { brand: 'a\tb', model: 'back\\slash\nline', mileage: null, color: null, listed_at: null });
    const unicode = car('WVWZZZ1KZAW000003', { brand: 'Citroën\tC4', model: 'Ü\\\nnul\0end', color: '🚗' });
    expect(stagingLine(12, unicode)).toBe('12\tWVWZZZ1KZAW000003\tCitroën\\tC4\tÜ\\\\\\nnulend\t2019\t12500.50\t84000\tavailable\t🚗\t2024-03-01\n');
    expect(stagingLine(3_000_000, car('WVWZZZ1KZAW000004', { year: 1886, mileage: 0 }))).toMatch(/^3000000\tWVWZZZ1KZAW000004\t.*\t1886\t12500.50\t0\t/);
    expect(stagingLine(8, odd)).toBe('8\tWVWZZZ1KZAW000002\ta\\tb\tback\\\\slash\\nline\t2019\t12500.50\t\\N\tavailable\t\\N\t\\N\n');
  });

  it('keeps every row: its bytes, where it came from and its original fields, across buffer growth', () => {
    const b = new RowBatch();
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const vin = `WVWZZZ1KZAW${String(i).padStart(6, '0')}`;
      const row = car(vin, { model: `Model, "${i}" ünïcødé 🚗` });
      const fields = [vin.toLowerCase(), row.brand, row.model, ' 2019 ', '12500.5', '', undefined, 'Grey', ''];
      b.add(i, i + 2, row, fields, fnv1a(vin));
      expected.push(stagingLine(i, row));
    }
    expect(b.length).toBe(3000);
    const all = Buffer.concat([...b.copyChunks()]).toString('utf8');
    expect(all).toBe(expected.join(''));
    expect([...b.copyChunks()]).toHaveLength(1); // a batch goes out in one write
    expect(b.where(2999)).toBe(3001);
    expect(b.fields(1234)).toEqual(['wvwzzz1kzaw001234', 'Škoda', 'Model, "1234" ünïcødé 🚗', ' 2019 ', '12500.5', '', '', 'Grey', '']);
    const r = b.range(1000, 2000).range(10, 20);
    expect(r.length).toBe(10);
    expect(Buffer.concat([...r.copyChunks()]).toString('utf8')).toBe(expected.slice(1010, 1020).join(''));
    expect(r.where(0)).toBe(1012);
    expect(r.fields(9)[0]).toBe('wvwzzz1kzaw001019');
    expect(b.mayRepeatVins).toBe(false);
  });

  it('knows when a VIN may repeat, and forgets it when emptied for reuse', () => {
    const b = new RowBatch();
    b.add(0, 2, car('WVWZZZ1KZAW000001'), [], fnv1a('WVWZZZ1KZAW000001'));
    b.add(1, 3, car('WVWZZZ1KZAW000002'), [], fnv1a('WVWZZZ1KZAW000002'));
    expect(b.mayRepeatVins).toBe(false);
    b.add(2, 4, car('WVWZZZ1KZAW000001', { price: '1' }), [], fnv1a('WVWZZZ1KZAW000001'));
    expect(b.mayRepeatVins).toBe(true);
    expect(b.range(0, 1).mayRepeatVins).toBe(true);
    b.clear();
    expect(b.length).toBe(0);
    expect([...b.copyChunks()]).toEqual([]);
    b.add(0, 9, car('WVWZZZ1KZAW000001'), ['x'], fnv1a('WVWZZZ1KZAW000001'));
    expect(b.mayRepeatVins).toBe(false);
    expect(b.fields(0)).toEqual(['x']);
    expect(Buffer.concat([...b.copyChunks()]).toString()).toBe(stagingLine(0, car('WVWZZZ1KZAW000001')));
  });

  it('finds a repeat among thousands of VINs, the first one included, and none where there is none', () => {
    const vin = (i: number) => `WVWZZZ1KZAW${String(i).padStart(6, '0')}`;
    const b = new RowBatch();
    for (let i = 0; i < 5000; i++) b.add(i, i, car(vin(i)), [], fnv1a(vin(i)));
    expect(b.mayRepeatVins).toBe(false);
    b.add(5000, 5000, car(vin(0)), [], fnv1a(vin(0)));
    expect(b.mayRepeatVins).toBe(true);
    b.clear();
    for (let i = 4999; i >= 0; i--) b.add(i, i, car(vin(i)), [], fnv1a(vin(i)));
    expect(b.mayRepeatVins).toBe(false);
    b.add(5000, 5000, car(vin(4321)), [], fnv1a(vin(4321)));
    expect(b.mayRepeatVins).toBe(true);
  });
});
