import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseDelimiter, csvSource, type CsvOptions } from '../../src/sources/records.js';
import { CsvByteSplitter, CsvSplitter, csvField, type CsvByteItem, type CsvItem } from '../../src/sources/csv-records.js';

/** Splits `text` fed in pieces of `step` characters, so every chunk boundary is exercised. */
function split(text: string, step = text.length || 1, delimiter = ',', strictQuotes = false): CsvItem[] {
  const s = new CsvSplitter(delimiter, undefined, { strictQuotes });
  const out: CsvItem[] = [];
  for (let i = 0; i < text.length; i += step) s.push(text.slice(i, i + step), out);
  return s.end(out);
}

/** Splits bytes fed in pieces of `step` bytes: boundaries fall inside characters too. */
function splitBytes(bytes: Buffer, step: number, strictQuotes = false): CsvByteItem[] {
  const s = new CsvByteSplitter(',', undefined, { strictQuotes });
  const out: CsvByteItem[] = [];
  // (Copies: the splitter keeps pointing into what it was given.)
  for (let i = 0; i < bytes.length; i += step) s.push(Buffer.from(bytes.subarray(i, i + step)), out);
  return s.end(out);
}

const simplify = (items: Array<CsvItem | CsvByteItem>) => items.map((i) => (i.kind === 'record' ? [i.line, ...i.fields] : [i.line, 'MALFORMED', i.raw]));

describe('CsvSplitter', () => {
  const cases: Array<[string, string, unknown[], ('strict' | 'lax')?]> = [
    ['plain LF', 'a,b\n1,2\n', [[1, 'a', 'b'], [2, '1', '2']]],
    ['CRLF', 'a,b\r\n1,2\r\n', [[1, 'a', 'b'], [2, '1', '2']]],
    ['no final newline', 'a,b\n1,2', [[1, 'a', 'b'], [2, '1', '2']]],
    ['empty fields', 'a,,c\n,,\n', [[1, 'a', '', 'c'], [2, '', '', '']]],
    ['empty lines skipped', 'a\n\n\r\nb\n\n', [[1, 'a'], [4, 'b']]],
    ['quoted comma', '"x,y",z\n', [[1, 'x,y', 'z']]],
    ['doubled quotes', '"say ""hi""",2\n', [[1, 'say "hi"', '2']]],
    ['quoted newline keeps line numbers', 'a,"l1\nl2\nl3",c\nd,e,f\n', [[1, 'a', 'l1\nl2\nl3', 'c'], [4, 'd', 'e', 'f']]],
    ['quoted CRLF', '"a\r\nb"\r\nc\r\n', [[1, 'a\r\nb'], [3, 'c']]],
    ['empty quoted', '"",x\n', [[1, '', 'x']]],
    ['strict: a stray quote rejects only its line', 'a,b\n1,x"y\n2,z\n', [[1, 'a', 'b'], [2, 'MALFORMED', '1,x"y'], [3, '2', 'z']], 'strict'],
    ['a quote inside an unquoted field is a character', 'a,b\n1,x"y\n2,17" Alloys\n', [[1, 'a', 'b'], [2, '1', 'x"y'], [3, '2', '17" Alloys']]],
    ["inch marks, as scripts write them", `Golf 6'2" Edition,1\n`, [[1, `Golf 6'2" Edition`, '1']]],
    ['a quote at the start still opens a quoted field', '"a,b"c,1\nok,2\n', [[1, 'MALFORMED', '"a,b"c,1'], [2, 'ok', '2']]],
    ['text after closing quote', '"ab"c,1\nok,2\n', [[1, 'MALFORMED', '"ab"c,1'], [2, 'ok', '2']]],
    ['unclosed quote swallows nothing', 'h\n2,"a,b\n3,a,b\n4,a,b\n5,a"x,b\n6,ok\n', [[1, 'h'], [2, 'MALFORMED', '2,"a,b'], [3, '3', 'a', 'b'], [4, '4', 'a', 'b'], [5, '5', 'a"x', 'b'], [6, '6', 'ok']]],
    ['strict: unclosed quote swallows nothing', 'h\n2,"a,b\n3,a,b\n4,a,b\n5,a"x,b\n6,ok\n', [[1, 'h'], [2, 'MALFORMED', '2,"a,b'], [3, '3', 'a', 'b'], [4, '4', 'a', 'b'], [5, 'MALFORMED', '5,a"x,b'], [6, '6', 'ok']], 'strict'],
    ['unclosed quote at the end', 'a\n"never closed\nmore\n', [[1, 'a'], [2, 'MALFORMED', '"never closed'], [3, 'more']]],
    ['unicode', 'Škoda,Octavia,€\n', [[1, 'Škoda', 'Octavia', '€']]],
  ];
  it.each(cases)('%s', (_name, text, expected, quotes) => {
    const strict = quotes === 'strict';
    expect(simplify(split(text, undefined, ',', strict))).toEqual(expected);
    // The same result whatever the chunk boundaries.
    for (const step of [1, 2, 3, 5, 7]) expect(simplify(split(text, step, ',', strict))).toEqual(expected);
    for (const step of [1, 2, 3, 5, 7]) expect(simplify(splitBytes(Buffer.from(text), step, strict))).toEqual(expected);
  });

  it('skips a UTF-8 byte order mark, also when it arrives a byte at a time', () => {
    const bytes = Buffer.from('\ufeffvin,brand\nX,Škoda\n');
    for (const step of [1, 2, 3, 100]) expect(simplify(splitBytes(bytes, step))).toEqual([[1, 'vin', 'brand'], [2, 'X', 'Škoda']]);
    // Only at the start.
    expect(simplify(splitBytes(Buffer.from('a\n\ufeffb\n'), 100))).toEqual([[1, 'a'], [2, '\ufeffb']]);
  });

  it('decodes bytes that are not UTF-8 as U+FFFD, field by field as the whole text would be', () => {
    const bytes = Buffer.concat([Buffer.from('a,b'), Buffer.from([0xc3]), Buffer.from(',"x'), Buffer.from([0xff, 0xfe]), Buffer.from('y"\n')]);
    const whole = new TextDecoder().decode(bytes);
    expect(simplify(splitBytes(bytes, 1))).toEqual([[1, ...whole.trimEnd().split(',').map((f) => f.replace(/"/g, ''))]]);
    expect(simplify(splitBytes(bytes, 1))).toEqual([[1, 'a', 'b\ufffd', 'x\ufffd\ufffdy']]);
  });

  it('takes another delimiter', () => {
    expect(simplify(split('a;b\t;c\n', 100, ';'))).toEqual([[1, 'a', 'b\t', 'c']]);
    expect(simplify(split('a\tb;c\n', 100, '\t'))).toEqual([[1, 'a', 'b;c']]);
  });

  it('gives up on a quoted field longer than the record limit and resumes on the next line', () => {
    const s = new CsvSplitter(',', 50);
    const out = s.push('"' + 'x'.repeat(100) + '\nnext,1\n');
    s.end(out);
    expect(simplify(out)).toEqual([[1, 'MALFORMED', '"' + 'x'.repeat(100)], [2, 'next', '1']]);
  });

  it('handles 100k records fed in 64 KB chunks', () => {
    let text = 'vin,price\n';
    for (let i = 0; i < 100_000; i++) text += `V${i},"${i}.5"\n`;
    const out = split(text, 65536);
    expect(out.length).toBe(100_001);
    expect(out[100_000]).toEqual({ kind: 'record', line: 100_001, fields: ['V99999', '99999.5'] });
  });
});

describe('csvField', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['', ''],
  ])('%j -> %j', (v, expected) => {
    expect(csvField(v)).toBe(expected);
    // And it reads back.
    expect(simplify(split(csvField(v) + ',end\n'))).toEqual([[1, v, 'end']]);
  });
});

describe('CsvByteSplitter, any input split anywhere (fast-check)', () => {
  // Text built from the characters that matter to CSV, plus a multi-byte one.
  const csvText = fc.array(fc.constantFrom('a', 'b', ',', ';', '"', '\n', '\r', ' ', 'é', '€'), { maxLength: 80 }).map((a) => a.join(''));
  it('gives the same items whatever the chunk boundaries, never throws, and accounts for every line', () => {
    fc.assert(
      fc.property(csvText, fc.array(fc.nat(), { maxLength: 5 }), fc.boolean(), (text, cuts, strictQuotes) => {
        const bytes = Buffer.from(text);
        const whole = simplify(splitBytes(bytes, bytes.length || 1, strictQuotes));
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const s = new CsvByteSplitter(',', undefined, { strictQuotes });
        const out: CsvByteItem[] = [];
        let from = 0;
        for (const c of [...at, bytes.length]) {
          s.push(Buffer.from(bytes.subarray(from, c)), out);
          from = c;
        }
        expect(simplify(s.end(out))).toEqual(whole);
        // Items come in line order, each on a line of the input.
        const lines = whole.map((w) => w[0] as number);
        expect([...lines].sort((a, b) => a - b)).toEqual(lines);
        expect(lines.every((l) => l >= 1 && l <= text.split(/\r\n|\r|\n/).length)).toBe(true);
      }),
    );
  });
});

describe('chooseDelimiter and sep= lines (csvSource)', () => {
  it.each([
    ['vin,brand,model', ','],
    ['vin;brand;model', ';'],
    ['vin\tbrand\tmodel', '\t'],
    ['vin|brand|model', '|'],
    ['"a;b;c",x,y', ','],
    ['vin', ','],
    ['a;b,c', ','], // a tie goes to the comma
  ])('%j -> %j', (line, d) => expect(chooseDelimiter(Buffer.from(line))).toBe(d));

  const source = async (text: string, o: CsvOptions = {}) => {
    const src = await csvSource(
      {
        name: 't',
        stream: (async function* () {
          yield Buffer.from(text);
        })(),
        totalBytes: undefined,
        bytesRead: () => 0,
      },
      o,
    );
    const items: Array<[number, string[]]> = [];
    for await (const chunk of src.items) for (const it of chunk) items.push([it.where as number, it.kind === 'record' ? (it.values as string[]) : ['MALFORMED']]);
    return { src, items };
  };

  it('a first line sep=; sets the delimiter, is not a record, and leaves the line numbers the file\'s own', async () => {
    const { src, items } = await source('sep=;\r\nvin;price\r\nA;1,5\r\n\r\nB;2\r\n');
    expect(src.columns).toEqual(['vin', 'price']);
    expect(src.headerLine).toBe(2);
    expect(src.text?.delimiter).toBe(';');
    expect(items).toEqual([[3, ['A', '1,5']], [5, ['B', '2']]]);
  });

  it('an explicit delimiter wins over sep=, and the sep= line is still not a record', async () => {
    const { src, items } = await source('sep=;\nvin,price\nA,1\n', { delimiter: ',' });
    expect(src.columns).toEqual(['vin', 'price']);
    expect(items).toEqual([[3, ['A', '1']]]);
  });
});

describe('line endings, long records, the end of the input', () => {
  it.each([
    ['lone CR (old Mac)', 'a,b\r1,2\r3,4\r', [[1, 'a', 'b'], [2, '1', '2'], [3, '3', '4']]],
    ['a mix of LF, CRLF and CR', 'a\n1\r\n2\r3\n', [[1, 'a'], [2, '1'], [3, '2'], [4, '3']]],
    ['CR inside quotes is text, and counts its line', '"x\ry",1\rz,2\r', [[1, 'x\ry', '1'], [3, 'z', '2']]],
    ['empty lines of CRs', 'a\r\r\rb\r', [[1, 'a'], [4, 'b']]],
  ])('%s', (_name, text, expected) => {
    for (const step of [1, 2, 3, 100]) expect(simplify(splitBytes(Buffer.from(text), step))).toEqual(expected);
  });

  it('rejects a record as soon as it passes the limit, keeps its first 4 KB, and takes the next line', () => {
    const s = new CsvByteSplitter(',', 64 * 1024);
    const out: CsvByteItem[] = [];
    s.push(Buffer.from('h\n'), out);
    const piece = Buffer.alloc(16 * 1024, 'x');
    for (let i = 0; i < 64; i++) s.push(piece, out); // 1 MiB of one line, in 16 KB reads
    s.push(Buffer.from('x,still the long line\nnext,1\n'), out);
    s.end(out);
    expect(out.map((i) => [i.line, i.kind])).toEqual([
      [1, 'record'],
      [2, 'malformed'],
      [3, 'record'],
    ]);
    const bad = out[1] as { error: string; raw: string };
    expect(bad.error).toMatch(/longer than 65536 bytes \(--max-record-bytes\).*truncated/);
    expect(bad.raw).toBe('x'.repeat(4096));
  });

  it('a 32 MB line costs time linear in its size, not quadratic', () => {
    const s = new CsvByteSplitter(',');
    const piece = Buffer.alloc(16 * 1024, 'y');
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < 2048; i++) n += s.push(piece).length;
    n += s.end(s.push(Buffer.from('\nok\n'))).length;
    // Quadratic, this took minutes; linear, well under a second. The bound is loose on purpose.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(n).toBe(2);
  });

  it('says when the last record had no line break after it', () => {
    const a = new CsvByteSplitter(',');
    a.end(a.push(Buffer.from('a,b\n1,2')));
    expect(a.unterminated).toBe(true);
    const b = new CsvByteSplitter(',');
    b.end(b.push(Buffer.from('a,b\n1,2\n')));
    expect(b.unterminated).toBe(false);
  });
});
