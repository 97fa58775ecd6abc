// sources/ndjson.ts: NDJSON lines split anywhere, each line a car or a rejection, the source.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ndjsonItem, ndjsonSource, NdjsonSplitter, type NdjsonLine } from '../../src/sources/ndjson.js';
import type { SourceItem } from '../../src/sources/records.js';

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

describe('NdjsonSplitter, any text split anywhere (fast-check)', () => {
  const ndjsonText = fc.array(fc.constantFrom('{', '}', '"', 'a', ':', '1', '\n', '\r', ' ', 'é', '😀'), { maxLength: 80 }).map((a) => a.join(''));
  it('gives the same lines whatever the chunk boundaries; every non-blank line is in a line or an overlong item; LF, CR LF and CR end lines', () => {
    fc.assert(
      fc.property(ndjsonText, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 5, max: 40 }), (text, size, max) => {
        // (An overlong line's preview is what had arrived when it passed the limit: compare the rest.)
        const shape = (lines: NdjsonLine[]) => lines.map((l) => (l.kind === 'line' ? l : { kind: l.kind, line: l.line }));
        const whole = split(text, text.length || 1, max);
        expect(shape(split(text, size, max))).toEqual(shape(whole));
        const physical = text.split(/\r\n|\r|\n/);
        const nonBlank = physical.map((l, i) => [l, i + 1] as const).filter(([l]) => /\S/.test(l));
        expect(whole.map((l) => l.line)).toEqual(nonBlank.map(([, n]) => n));
      }),
    );
  });

  it('says when the last line had no line break', () => {
    const s = new NdjsonSplitter();
    s.end(s.push('{"a":1}\n{"b":2}'));
    expect(s.unterminated).toBe(true);
    const t = new NdjsonSplitter();
    t.end(t.push('{"a":1}\r'));
    expect(t.unterminated).toBe(false);
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
