// NDJSON line handling, cars as JSON objects, pages and format detection: the pure parts of
// remote feeds, table-tested.
import { describe, expect, it } from 'vitest';
import { CAR_COLUMNS } from '../../src/import/validate.js';
import { carValues, parseCarJson, parseKeepingNumbers, RawNumber } from '../../src/sources/car-json.js';
import { detectFormat, formatFromContentType, formatFromPath } from '../../src/sources/feed-format.js';
import { pageItems, parsePage, type Page } from '../../src/sources/json-pages.js';
import { ndjsonItem, ndjsonSource, NdjsonSplitter, type NdjsonLine } from '../../src/sources/ndjson.js';
import type { SourceItem } from '../../src/sources/records.js';

const col = (name: string) => CAR_COLUMNS.indexOf(name as (typeof CAR_COLUMNS)[number]);

/** Feeds `text` to a splitter in pieces of `size` characters. */
function split(text: string, size: number, max?: number): NdjsonLine[] {
  const s = new NdjsonSplitter(max);
  const out: NdjsonLine[] = [];
  for (let i = 0; i < text.length; i += size) s.push(text.slice(i, i + size), out);
  return s.end(out);
}

describe('NdjsonSplitter', () => {
  const text = '{"a":1}\n\n  \r\n{"b":2}\r\n{"c":"x\\ny"}\n{"d":4}';
  it.each([1, 2, 3, 7, 1000])('gives the same lines with their line numbers whatever the chunk size (%i)', (size) => {
    expect(split(text, size)).toEqual([
      { kind: 'line', line: 1, text: '{"a":1}' },
      { kind: 'line', line: 4, text: '{"b":2}' },
      { kind: 'line', line: 5, text: '{"c":"x\\ny"}' },
      { kind: 'line', line: 6, text: '{"d":4}' },
    ]);
  });

  it('holds back a line until its newline arrives; end() gives the last one', () => {
    const s = new NdjsonSplitter();
    expect(s.push('{"a":1}\n{"vin":"ABC')).toEqual([{ kind: 'line', line: 1, text: '{"a":1}' }]);
    expect(s.push('DEF"')).toEqual([]);
    expect(s.end()).toEqual([{ kind: 'line', line: 2, text: '{"vin":"ABCDEF"' }]);
  });

  it('a trailing newline or blank lines at the end add nothing', () => {
    expect(split('{"a":1}\n\n\n', 4)).toEqual([{ kind: 'line', line: 1, text: '{"a":1}' }]);
    expect(split('', 4)).toEqual([]);
  });

  it('rejects an over-long line once, without holding it, and goes on with the next line', () => {
    const long = 'x'.repeat(50);
    for (const size of [3, 10, 100]) {
      const lines = split(`{"a":1}\n${long}\n{"b":2}\n${long}`, size, 20);
      expect(lines.map((l) => [l.kind, l.line])).toEqual([
        ['line', 1],
        ['overlong', 2],
        ['line', 3],
        ['overlong', 4],
      ]);
    }
  });
});

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
    const r = parseCarJson('{"VIN":"A","Brand":"B","dealer":{"id":7},"line":3}', (k) => unknown.push(k));
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

describe('ndjsonItem', () => {
  it('a good line is a record at its line number; a bad one is malformed with its raw text', () => {
    expect(ndjsonItem({ kind: 'line', line: 7, text: '{"vin":"A","year":2020}' })).toMatchObject({ kind: 'record', where: 7 });
    expect(ndjsonItem({ kind: 'line', line: 8, text: '{"vin":' })).toMatchObject({ kind: 'malformed', where: 8, raw: '{"vin":', error: expect.stringMatching(/^not valid JSON/) });
    expect(ndjsonItem({ kind: 'overlong', line: 9, raw: 'xxx…' }, undefined, 100)).toMatchObject({ kind: 'malformed', where: 9, error: 'line is longer than 100 characters; one car per line is expected' });
  });
});

describe('ndjsonSource', () => {
  async function collect(chunks: string[], fail?: Error): Promise<SourceItem[]> {
    async function* stream() {
      for (const c of chunks) yield Buffer.from(c);
      if (fail) throw fail;
    }
    const src = ndjsonSource({ name: 'test', stream: stream(), totalBytes: undefined, bytesRead: () => 0 });
    const out: SourceItem[] = [];
    for await (const chunk of src.items) out.push(...chunk);
    return out;
  }

  it('yields every line, including a last one without a newline, after a clean end', async () => {
    const items = await collect(['{"vin":"A"}\n{"vi', 'n":"B"}\n[]\n{"vin":"C"}']);
    expect(items.map((i) => [i.kind, i.where])).toEqual([
      ['record', 1],
      ['record', 2],
      ['malformed', 3],
      ['record', 4],
    ]);
  });

  it('a stream that breaks throws, and its partial last line is neither a record nor a reject', async () => {
    const seen: SourceItem[] = [];
    async function* stream() {
      yield Buffer.from('{"vin":"A"}\n{"vin":"B"}\n{"vin":"C","pri');
      throw new Error('socket hang up');
    }
    const src = ndjsonSource({ name: 'test', stream: stream(), totalBytes: undefined, bytesRead: () => 0 });
    await expect(
      (async () => {
        for await (const chunk of src.items) seen.push(...chunk);
      })(),
    ).rejects.toThrow('socket hang up');
    expect(seen.map((i) => i.where)).toEqual([1, 2]);
  });

  it('decodes UTF-8 split across chunks and drops a BOM', async () => {
    const bytes = Buffer.from('\ufeff{"vin":"A","color":"Grün"}\n');
    async function* stream() {
      for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
    }
    const src = ndjsonSource({ name: 't', stream: stream(), totalBytes: undefined, bytesRead: () => 0 });
    const out: SourceItem[] = [];
    for await (const chunk of src.items) out.push(...chunk);
    expect(out).toEqual([{ kind: 'record', where: 1, values: expect.arrayContaining(['A', 'Grün']) }]);
  });
});

describe('parsePage', () => {
  const url = 'http://x/api/cars?page=2';
  it('converts items, naming each by page URL and index; next as written', () => {
    const p = parsePage('{"items":[{"vin":"A","price":9.90},"oops",{"vin":"B","year":[2020]}],"next":"?page=3"}', url);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.next).toBe('?page=3');
    const items = p.items();
    expect(items[0]).toMatchObject({ kind: 'record', where: `${url}#0` });
    expect((items[0] as { values: string[] }).values[col('price')]).toBe('9.90');
    expect(items[1]).toEqual({ kind: 'malformed', where: `${url}#1`, error: `item 1 of page ${url} is a string, not an object`, raw: '"oops"' });
    expect(items[2]).toMatchObject({ kind: 'malformed', where: `${url}#2`, error: '"year" is an array; expected a string, a number or null' });
  });

  it.each([
    ['{"items":[],"next":null}', { ok: true, next: null }],
    ['{"items":[]}', { ok: true, next: null }],
    ['{"items":[', { ok: false, invalidJson: true }],
    ['<html>502</html>', { ok: false, invalidJson: true }],
    ['{"data":[]}', { ok: false, invalidJson: false, error: 'the page is not {"items": [...], "next": ...}: it has no "items"' }],
    ['{"items":{}}', { ok: false, invalidJson: false, error: 'the page is not {"items": [...], "next": ...}: its "items" is an object' }],
    ['[]', { ok: false, invalidJson: false, error: 'the page is an array, not an object {"items": [...], "next": ...}' }],
    ['{"items":[],"next":3}', { ok: false, invalidJson: false, error: `the page's "next" is a number; expected a URL or null` }],
  ])('%s', (text, expected) => {
    expect(parsePage(text, url)).toMatchObject(expected);
  });
});

describe('pageItems', () => {
  const page = (url: string, n: number, next: string | null): Page => ({
    url,
    base: url,
    next,
    items: () => Array.from({ length: n }, (_, i) => ({ kind: 'record', where: `${url}#${i}`, values: [] })),
  });
  const resolve = (next: string, p: Page) => new URL(next, p.base).href;

  it('starts the next page while this one is consumed, one page ahead and never more', async () => {
    const pages: Record<string, Page> = {
      'http://x/1': page('http://x/1', 2, '/2'),
      'http://x/2': page('http://x/2', 0, 'http://x/3'),
      'http://x/3': page('http://x/3', 1, null),
    };
    const loads: string[] = [];
    const it = pageItems(pages['http://x/1']!, { load: async (u) => (loads.push(u), pages[u]!), resolve });
    const first = await it.next();
    expect((first.value as SourceItem[]).map((i) => i.where)).toEqual(['http://x/1#0', 'http://x/1#1']);
    expect(loads).toEqual(['http://x/2']); // prefetched, not further
    const rest: unknown[] = [];
    for await (const c of it) rest.push(...c.map((i) => i.where));
    expect(rest).toEqual(['http://x/3#0']);
    expect(loads).toEqual(['http://x/2', 'http://x/3']);
  });

  it('a next that repeats a page fails once the current page is consumed', async () => {
    const pages: Record<string, Page> = { 'http://x/1': page('http://x/1', 1, '/2'), 'http://x/2': page('http://x/2', 1, '/1') };
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of pageItems(pages['http://x/1']!, { load: async (u) => pages[u]!, resolve })) seen.push(...c.map((i) => String(i.where)));
      })(),
    ).rejects.toThrow(/pagination loop: page 2 \(http:\/\/x\/2\) has next http:\/\/x\/1, which is page 1/);
    expect(seen).toEqual(['http://x/1#0', 'http://x/2#0']);
  });

  it('a prefetch that fails surfaces after the current page, without an unhandled rejection', async () => {
    const seen: string[] = [];
    const load = () => new Promise<Page>((_, reject) => setTimeout(() => reject(new Error('boom')), 1));
    await expect(
      (async () => {
        for await (const c of pageItems(page('http://x/1', 3, '/2'), { load, resolve })) {
          await new Promise((r) => setTimeout(r, 20)); // the prefetch fails while this page is consumed
          seen.push(...c.map((i) => String(i.where)));
        }
      })(),
    ).rejects.toThrow('boom');
    expect(seen).toHaveLength(3);
  });
});

describe('feed format', () => {
  it.each([
    ['text/csv; charset=utf-8', '/x', { format: 'csv' }],
    ['text/tab-separated-values', '/x', { format: 'csv', delimiter: '\t' }],
    ['application/x-ndjson', '/x.csv', { format: 'ndjson' }],
    ['application/jsonl', '/x', { format: 'ndjson' }],
    ['application/ndjson', '/x', { format: 'ndjson' }],
    ['Application/JSON', '/feed.csv', { format: 'json' }],
    ['application/vnd.api+json', '/x', { format: 'json' }],
    ['text/plain', '/feed.csv.gz', { format: 'csv' }],
    ['application/octet-stream', '/feed.TSV', { format: 'csv', delimiter: '\t' }],
    [undefined, '/feed.jsonl', { format: 'ndjson' }],
    [undefined, '/feed.ndjson.gz', { format: 'ndjson' }],
    [undefined, '/api/page.json', { format: 'json' }],
    ['text/plain', '/feed', undefined],
    [undefined, '/feed.xml', undefined],
  ])('Content-Type %s, path %s', (ct, p, expected) => {
    expect(detectFormat(ct, p)).toEqual(expected);
  });

  it('generic types defer to the extension', () => {
    expect(formatFromContentType('application/gzip')).toBeUndefined();
    expect(formatFromPath('/a/b.c/feed')).toBeUndefined();
  });
});

describe('carValues', () => {
  it('absent and null are undefined; a later duplicate key wins', () => {
    expect(carValues({ vin: 'A', VIN: 'B', color: null }).values).toEqual(['B', ...Array(CAR_COLUMNS.length - 1).fill(undefined)]);
  });
});
