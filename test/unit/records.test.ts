// csvSource over a real file: the file is closed however the reading ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { openInput } from '../../src/sources/input.js';
import { csvSource } from '../../src/sources/records.js';
import { CsvByteSplitter } from '../../src/sources/csv-records.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cars-records-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const openFiles = () => fs.readdirSync('/proc/self/fd').length;
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
const open = async (f: string) => csvSource(await openInput(f, new PassThrough()), ',');

describe('csvSource on a file', () => {
  it('closes the file when the header is not valid CSV', async () => {
    const f = file('bad-header.csv', '"vi"n,brand\n' + 'x,y\n'.repeat(30_000));
    const before = openFiles();
    await expect(open(f)).rejects.toThrow(/line 1: the header is not valid CSV/);
    expect(openFiles()).toBe(before);
  });

  it('closes the file when the importer stops after the header (close) or after every record', async () => {
    // (Larger than the 64 KB the encoding is detected from, so the file is still open after the header.)
    const f = file('good.csv', 'vin,brand\n' + 'x,y\n'.repeat(30_000));
    const before = openFiles();
    const src = await open(f);
    expect(src.columns).toEqual(['vin', 'brand']);
    expect(openFiles()).toBe(before + 1);
    await src.close?.();
    expect(openFiles()).toBe(before);
    const again = await open(f);
    let n = 0;
    for await (const items of again.items) n += items.length;
    expect(n).toBe(30_000);
    expect(again.bytesRead()).toBe(fs.statSync(f).size);
    expect(openFiles()).toBe(before);
  });
});

describe('csvSource: where the records start', () => {
  const auto = async (f: string) => csvSource(await openInput(f, new PassThrough()), { delimiter: 'auto', encoding: 'utf-8' });
  const records = async (src: Awaited<ReturnType<typeof auto>>) => {
    const out: Array<string | number> = [];
    for await (const items of src.items) for (const it of items) out.push(it.where);
    return out;
  };

  it('an empty file, or one of blank lines only, is refused: no header names the columns', async () => {
    for (const [name, text] of [['empty.csv', ''], ['blank.csv', '\n\r\n\n']]) {
      const before = openFiles();
      await expect(auto(file(name, text))).rejects.toThrow(new RegExp(`${name}: the input is empty; expected a header line`));
      expect(openFiles()).toBe(before);
    }
  });

  it("Excel's sep= line names the delimiter, is not a record, and the lines keep the file's numbers", async () => {
    const src = await auto(file('sep.csv', '\r\nsep=;\r\nvin;brand,x\r\n\r\nA;B,C\r\n'));
    expect(src.columns).toEqual(['vin', 'brand,x']);
    expect(src.headerLine).toBe(3);
    expect(src.text?.delimiter).toBe(';');
    expect(await records(src)).toEqual([5]);
  });

  it('without a sep= line, the header line chooses the delimiter, and --columns makes the first line data', async () => {
    const src = await auto(file('tab.csv', 'vin\tbrand\tmodel,x\nA\tB\tC,D\n'));
    expect(src.columns).toEqual(['vin', 'brand', 'model,x']);
    expect(src.headerLine).toBe(1);
    expect(await records(src)).toEqual([2]);
    const noHeader = await csvSource(await openInput(file('data.csv', 'A,B\nC,D\n'), new PassThrough()), { delimiter: 'auto', encoding: 'utf-8', columns: ['vin', 'brand'] });
    expect(noHeader.columns).toEqual(['vin', 'brand']);
    expect(noHeader.headerLine).toBeUndefined();
    expect(await records(noHeader)).toEqual([1, 2]);
  });
});

describe('CsvByteSplitter memory', () => {
  it('does not keep allocating for the widest line it ever saw', () => {
    const s = new CsvByteSplitter(',');
    s.push(Buffer.from(','.repeat(200_000) + '\n'));
    s.push(Buffer.from('a,b\n')); // sized by the line before it
    const [r] = s.push(Buffer.from('c,d\n'));
    expect(r.kind === 'record' && r.bounds.length).toBe(1024);
  });
});
