import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bomOf,
  decodeInput,
  escapedByte,
  looksUtf8,
  singleByteCodePoint,
  singleByteToUtf8,
  unescapeAs1252,
  Utf16Decoder,
  Utf8TextDecoder,
  type EncodingOption,
} from '../../src/sources/encoding.js';
import type { Input } from '../../src/sources/input.js';

/** Feeds `bytes` to `push` in pieces cut at `cuts` (sorted offsets). */
function pieces(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(from, c)));
    from = c;
  }
  return out;
}

function input(chunks: Buffer[]): Input {
  return {
    name: 't',
    stream: (async function* () {
      yield* chunks;
    })(),
    totalBytes: undefined,
    bytesRead: () => 0,
  };
}

async function readAll(option: EncodingOption, chunks: Buffer[]) {
  const d = decodeInput(input(chunks), option);
  const out: Buffer[] = [];
  for await (const c of d.input.stream) out.push(c);
  return { text: Buffer.concat(out).toString('utf8'), facts: d.facts };
}

describe('Windows-1252 and ISO-8859-1', () => {
  it.each([
    [0x80, '€'],
    [0x8a, 'Š'],
    [0x9a, 'š'],
    [0x8e, 'Ž'],
    [0x93, '“'],
    [0x81, '\u0081'], // unassigned: the C1 control, as WHATWG decodes it
    [0xdf, 'ß'],
    [0xe9, 'é'],
    [0xeb, 'ë'],
  ])('windows-1252 byte 0x%s is %s', (b, ch) => {
    expect(String.fromCodePoint(singleByteCodePoint('windows-1252', b))).toBe(ch);
    expect(singleByteToUtf8(Buffer.from([b]), 'windows-1252').toString('utf8')).toBe(ch);
  });

  it('ISO-8859-1 is Latin-1 for every byte; both agree with a byte-by-byte decode on any input (fast-check)', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(singleByteToUtf8(all, 'iso-8859-1').toString('utf8')).toBe(all.toString('latin1'));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b = Buffer.from(bytes);
        const expected = Array.from(b, (x) => String.fromCodePoint(singleByteCodePoint('windows-1252', x))).join('');
        expect(singleByteToUtf8(b, 'windows-1252').toString('utf8')).toBe(expected);
      }),
    );
  });

  it('hands an all-ASCII chunk back as it is', () => {
    const b = Buffer.from('vin,brand\n');
    expect(singleByteToUtf8(b, 'windows-1252')).toBe(b);
  });
});

describe('UTF-16', () => {
  it('any split of any text gives the text (LE and BE), surrogate pairs included (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (text, cuts, be) => {
        const le = Buffer.from(text, 'utf16le');
        const bytes = be ? Buffer.from(le).swap16() : le;
        const d = new Utf16Decoder(be);
        const out = [...pieces(bytes, cuts).map((p) => d.push(p)), d.end()];
        expect(Buffer.concat(out).toString('utf8')).toBe(text);
      }),
    );
  });

  it('a lone surrogate or an odd last byte becomes a byte that is not UTF-8 (never U+FFFD)', () => {
    const d = new Utf16Decoder(false);
    const out = Buffer.concat([d.push(Buffer.from([0x41, 0x00, 0x00, 0xd8, 0x42, 0x00, 0x43])), d.end()]);
    expect([...out]).toEqual([0x41, 0xff, 0x42, 0xff]);
  });
});

describe('UTF-8 text with escaped bytes', () => {
  it('valid UTF-8, split anywhere, decodes as toString does (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
        const d = new Utf8TextDecoder();
        const parts = pieces(Buffer.from(text, 'utf8'), cuts).map((p) => d.push(p));
        expect(parts.join('') + d.end()).toBe(text);
      }),
    );
  });

  it('any bytes, split anywhere: the same text as decoded whole, and an escape exactly where a byte is not UTF-8 (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const b = Buffer.from(bytes);
        const whole = new Utf8TextDecoder();
        const all = whole.push(b) + whole.end();
        const d = new Utf8TextDecoder();
        expect(pieces(b, cuts).map((p) => d.push(p)).join('') + d.end()).toBe(all);
        expect(escapedByte(all) >= 0).toBe(!looksUtf8(b, true));
        // No U+FFFD that was not in the input.
        expect(all.split('\ufffd').length).toBe(b.toString('latin1').split('\xef\xbf\xbd').length);
      }),
    );
  });

  it('escapes a Windows-1252 byte, and gives it back as Windows-1252 for the rejects file', () => {
    const d = new Utf8TextDecoder();
    const t = d.push(Buffer.from([0x43, 0x69, 0x74, 0x72, 0x6f, 0xeb, 0x6e])) + d.end();
    expect(escapedByte(t)).toBe(0xeb);
    expect(unescapeAs1252(t)).toBe('Citroën');
    expect(escapedByte('Citroën 😀')).toBe(-1);
  });
});

describe('decodeInput', () => {
  const cp1252 = (s: string) => Buffer.from(s, 'latin1');

  it.each([
    ['a UTF-8 BOM', Buffer.from('\ufeffvin,brand\nX,Škoda\n'), 'utf-8', false, 'vin,brand\nX,Škoda\n'],
    ['a UTF-16 LE BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('vin\nŠkoda\n', 'utf16le')]), 'utf-16le', false, 'vin\nŠkoda\n'],
    ['a UTF-16 BE BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('vin\nŠ\n', 'utf16le').swap16()]), 'utf-16be', false, 'vin\nŠ\n'],
    ['plain ASCII', Buffer.from('vin,brand\n'), 'utf-8', false, 'vin,brand\n'],
    ['UTF-8 without a BOM', Buffer.from('vin,brand\nX,Citroën\n'), 'utf-8', false, 'vin,brand\nX,Citroën\n'],
    ['Windows-1252', cp1252('vin,brand\nX,Citro\xebn\n'), 'windows-1252', true, 'vin,brand\nX,Citroën\n'],
  ] as Array<[string, Buffer, string, boolean, string]>)('auto: %s', async (_name, bytes, encoding, detected, text) => {
    for (const step of [1, 2, 3, 1000]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
      const r = await readAll('auto', chunks);
      expect(r.text).toBe(text);
      expect(r.facts).toMatchObject({ encoding, detected, decided: true });
    }
  });

  it('auto looks at the first 64 KB only: a later byte that is not UTF-8 leaves the file UTF-8', async () => {
    const r = await readAll('auto', [Buffer.from('x'.repeat(70_000)), cp1252('\xeb\n')]);
    expect(r.facts.encoding).toBe('utf-8');
    expect(r.text.endsWith('\ufffd\n')).toBe(true); // (as toString shows it; the importer rejects the record)
  });

  it('a UTF-8 character cut at the 64 KB boundary is not taken for Windows-1252', async () => {
    const r = await readAll('auto', [Buffer.from('x'.repeat(65_535) + 'é'), Buffer.from('\n')]);
    expect(r.facts.encoding).toBe('utf-8');
  });

  it('the option wins over the content', async () => {
    const r = await readAll('iso-8859-1', [Buffer.from('Škoda')]);
    expect(r.facts.encoding).toBe('iso-8859-1');
    expect(r.text).toBe('Å\u00a0koda');
  });

  it('bytes that came before a break in the first 64 KB are handed on, then the error', async () => {
    const d = decodeInput(
      {
        name: 't',
        stream: (async function* () {
          yield Buffer.from('vin\nA\n');
          throw new Error('connection reset');
        })(),
        totalBytes: undefined,
        bytesRead: () => 0,
      },
      'auto',
    );
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const c of d.input.stream) got.push(c.toString());
      })(),
    ).rejects.toThrow('connection reset');
    expect(got.join('')).toBe('vin\nA\n');
  });

  it('bomOf', () => {
    expect(bomOf(Buffer.from([0xef, 0xbb]))).toBeUndefined();
    expect(bomOf(Buffer.from([0xff, 0xfe, 0x41]))).toEqual({ encoding: 'utf-16le', length: 2 });
  });
});
