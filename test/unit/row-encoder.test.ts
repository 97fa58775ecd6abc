// The fast path must write, for every record it takes, exactly what the full path writes:
// stagingLine(validateFields(...)), and the same worker hash. Compared on generated cars, on every
// quirk of each field, and on random mixes of them; and it must take nearly every plain row.
import { describe, expect, it } from 'vitest';
import { CsvByteSplitter, CsvRow, csvField } from '../../src/sources/csv-records.js';
import { RowEncoder, WIDE_SPACES } from '../../src/import/row-encoder.js';
import { validateFields } from '../../src/car.js';
import { RowBatch, stagingLine } from '../../src/import/batch.js';
import { generateCsv } from '../../src/generate.js';
import { fnv1a } from '../../src/car.js';

const MAX_YEAR = 2027;
const ALL = [0, 1, 2, 3, 4, 5, 6, 7, 8];

function rowsOf(bytes: Buffer, delimiter = ','): CsvRow[] {
  const s = new CsvByteSplitter(delimiter);
  return s.end(s.push(bytes)).filter((r): r is CsvRow => r instanceof CsvRow);
}

/** Both paths on one record: null when the fast path leaves it to the full one. */
function both(r: CsvRow, columns = ALL, decimal: '.' | ',' = '.') {
  const enc = new RowEncoder(columns, MAX_YEAR, decimal);
  const fast = enc.encode(r);
  const f = r.fields;
  const at = (c: number) => (columns[c] < 0 ? undefined : f[columns[c]]);
  const full = validateFields(at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8), { maxYear: MAX_YEAR, decimal });
  return { fast, enc, full, fields: f };
}

/** Checks the fast path against the full one; returns whether the fast path took the record. */
function agree(r: CsvRow, columns = ALL, decimal: '.' | ',' = '.'): boolean {
  const { fast, enc, full, fields } = both(r, columns, decimal);
  if (!fast) return false;
  expect(full.ok, `fast path took a record the full path rejects: ${JSON.stringify(fields)}: ${full.ok ? '' : full.error}`).toBe(true);
  if (!full.ok) return true;
  const line = stagingLine(7, full.row);
  expect(enc.out.toString('utf8', 0, enc.length), JSON.stringify(fields)).toBe(line.slice(2));
  expect(enc.vinHash).toBe(fnv1a(full.row.vin));
  return true;
}

const BASE = ['1HGCM82633A004352', 'Honda', 'Accord', '2019', '18500', '42000', 'available', 'Blue', '2024-03-01'];

/** For each column, values that probe its rules: valid, invalid, and ones only the full path may judge. */
const QUIRKS: string[][] = [
  ['1hgcm82633a004352', ' 1HGCM82633A004352 ', '1HGCM82633A00435', '1HGCM82633A0043521', '1HGCM82633I004352', '1HGCM82633a00435Q', '1HGCM8263-A004352', '', '\u00a01HGCM82633A004352', '１HGCM82633A004352'],
  ['Škoda', 'Citroën', ' Mazda ', '\u00a0Mazda', 'Mazda\u3000', 'Mazda\u2028', 'Mazda\u0085', 'Mazda\u180e', 'Mazda😀', '😀', 'a\tb', 'a\\b', 'a\nb', 'a\r\nb', 'say "hi"', '""', 'x'.repeat(200), 'x'.repeat(201), 'é'.repeat(100), 'é'.repeat(101), 'é'.repeat(200), 'a\0b', '', '  ', 'DROP TABLE cars; --', 'a,b', '\u000bv\u000c'],
  ['Model 3', 'CR-V', '', ' ', 'x'.repeat(201), '"', 'ü'],
  ['1886', '1885', '2027', '2028', '02019', ' 2019 ', '2019.0', '-2019', '', '0', '99999999999', '２０１９'],
  ['0', '00', '0.5', '0.50', '0.05', '0.00', '.5', '5.', '12500', '012500', '0012500.5', '12500.567', '12,500', '12 500', '1e3', '-5', '+5', '$100', '9999999999', '9999999999.99', '10000000000', '00000000009999999999', '', ' 42 ', '4.2.1', '１２'],
  ['', '0', '007', '123456789', '999999999', '2147483647', '2147483648', '-1', '1,000', '12 km', ' 5 ', '1.5'],
  ['', 'available', 'AVAILABLE', 'Sold', ' sold ', 'RESERVED', 'reserved ', 'gone', 'sol', 'soldd', 'Sold\u00a0', 'ſold', 'SOLD\u212a'],
  ['', 'Pearl White "Multi-Coat"', ' ', 'Grün', 'x'.repeat(201), 'a\\b\tc'],
  ['', '2024-03-01', '2024-02-29', '2023-02-29', '2024-13-01', '2024-00-10', '0000-01-01', '2024-04-31', '2024-3-1', ' 2024-03-01 ', '2024-03-01T10:00', '2024-03-01t10:00:00Z', '2024-03-01 10:00:00+02', '2024-03-01T10:00:00+0200', '2024-03-01T10:00:00+02:00', '2024-03-01T10:00:00-15:59', '2024-03-01T10:00:00+16', '2024-03-01T24:00', '2024-03-01T23:60', '2024-03-01T23:59:60', '2024-03-01T10:00:00.123456789Z', '2024-03-01T10:00:00.1234567890Z', '2024-03-01T10:00:00.', '2024-03-01T10:00:00+02:', '2024-03-01T10:00:00+020', '2024-03-01T10', '2024-03-01T10:00Z', '2024-03-01X', '2024/03/01', '20240301', '2024-03-01T10:00:00ZZ'],
];

function csvLine(fields: string[]): string {
  return fields.map((f) => csvField(f)).join(',') + '\n';
}

describe('RowEncoder', () => {
  it('writes what the full path writes for generated cars, and takes every valid one', () => {
    const text = [...generateCsv({ seed: 7, count: 20_000, badRate: 0.05, maxYear: MAX_YEAR })].join('');
    const rows = rowsOf(Buffer.from(text)).slice(1);
    let valid = 0;
    let taken = 0;
    for (const r of rows) {
      if (both(r).full.ok) valid++;
      if (agree(r)) taken++;
    }
    expect(rows.length).toBe(20_000);
    expect(valid).toBeGreaterThan(18_000);
    expect(taken).toBe(valid);
  });

  it.each(QUIRKS.map((values, column) => [column, values] as const))('column %i: each quirk judged as the full path judges it', (column, values) => {
    let taken = 0;
    for (const v of values) {
      const fields = [...BASE];
      fields[column] = v;
      const [r] = rowsOf(Buffer.from(csvLine(fields)));
      expect(r.fields).toEqual(fields);
      if (agree(r)) taken++;
    }
    expect(taken).toBeGreaterThan(0);
  });

  it('agrees on random mixes of the quirks, in any column order and with absent optional columns', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let taken = 0;
    for (let k = 0; k < 3000; k++) {
      const fields = BASE.map((b, c) => (rand(3) === 0 ? QUIRKS[c][rand(QUIRKS[c].length)] : b));
      // The record's columns in another order, with one extra column; maybe an optional one absent.
      const order = [...ALL].sort(() => rand(3) - 1);
      const absent = rand(4) === 0 ? 5 + rand(4) : -1;
      const record: string[] = ['extra'];
      const columns = ALL.map(() => -1);
      for (const c of order) {
        if (c === absent) continue;
        columns[c] = record.length;
        record.push(fields[c]);
      }
      const [r] = rowsOf(Buffer.from(csvLine(record)));
      if (agree(r, columns)) taken++;
    }
    expect(taken).toBeGreaterThan(300);
  });

  it('with --decimal , judges each price as the full path does, and writes it with "."', () => {
    const prices = ['12500,50', '12500,5', '12500', '0,05', '012500,00', '12500.50', '12.500,50', '12,500', '1,2,3', ',5', '5,', '9999999999,99', '10000000000', ''];
    let taken = 0;
    for (const p of prices) {
      const fields = [...BASE];
      fields[4] = p;
      const [r] = rowsOf(Buffer.from(fields.map((f) => csvField(f, ';')).join(';') + '\n'), ';');
      if (agree(r, ALL, ',')) taken++;
    }
    expect(taken).toBe(6);
    const [r] = rowsOf(Buffer.from('1HGCM82633A004352;Honda;Accord;2019;12500,5;;;;\n'), ';');
    const { enc } = both(r, ALL, ',');
    expect(enc.out.toString('utf8', 0, enc.length).split('\t')[4]).toBe('12500.50');
  });

  it('leaves bytes that are not UTF-8 to the full path (which sees U+FFFD)', () => {
    const bytes = Buffer.concat([Buffer.from('1HGCM82633A004352,Hond'), Buffer.from([0xe9]), Buffer.from('a,Accord,2019,18500,,,,\n')]);
    const [r] = rowsOf(bytes);
    expect(agree(r)).toBe(false);
    expect(r.fields[1]).toBe('Hond\ufffda');
    expect(both(r).full.ok).toBe(true);
  });

  it('knows every character beyond ASCII that trim() removes', () => {
    const found: number[] = [];
    for (let cp = 0x80; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (String.fromCharCode(cp).trim() === '') found.push(cp);
    }
    expect(found).toEqual(WIDE_SPACES);
  });
});

describe('RowBatch.addEncoded', () => {
  it('holds the same COPY text and original fields as add()', () => {
    const text = 'vin,brand,model,year,price,mileage,condition,color,listed_at\n' + [...generateCsv({ seed: 3, count: 500, badRate: 0, maxYear: MAX_YEAR })].slice(1).join('') + '1hgcm82633a004352,"Say ""Hi"", \\o/",X,2019,018500.5,,SOLD,"a\tb",2024-03-01T10:00:00Z\n';
    const rows = rowsOf(Buffer.from(text)).slice(1);
    const fast = new RowBatch();
    const full = new RowBatch();
    const enc = new RowEncoder(ALL, MAX_YEAR);
    rows.forEach((r, i) => {
      expect(enc.encode(r)).toBe(true);
      fast.addEncoded(1000 + i, r, enc);
      const f = r.fields;
      const v = validateFields(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], { maxYear: MAX_YEAR });
      if (!v.ok) throw new Error(v.error);
      full.add(1000 + i, r.line, v.row, f, fnv1a(v.row.vin));
    });
    expect(Buffer.concat([...fast.copyChunks()]).toString()).toBe(Buffer.concat([...full.copyChunks()]).toString());
    for (let i = 0; i < rows.length; i++) {
      expect(fast.fields(i)).toEqual(full.fields(i));
      expect(fast.where(i)).toBe(full.where(i));
    }
    expect(fast.fields(rows.length - 1)[1]).toBe('Say "Hi", \\o/');
    expect(fast.mayRepeatVins).toBe(full.mayRepeatVins);
  });
});
