// What reaches the terminal: control characters escaped, long values cut, escapes never cut in two.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printable, printableLines, VALUE_MAX } from '../../src/text/printable.js';

/** Code points that must never appear in printable()'s output. */
function controls(s: string): number[] {
  return [...s].map((c) => c.codePointAt(0)!).filter((cp) => cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069));
}

/** Strings rich in what printable() must handle: controls, escapes' own characters, astral characters. */
const nasty = fc.array(
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.constantFrom('\x1b[2J', '\x1b]0;title\x07', '\x00', '\r', '\n', '\t', '\x7f', '\u009b', '\u202e', '\u2028', '\\x1b', 'é', '😀', '…'),
  ),
  { maxLength: 30 },
).map((parts) => parts.join(''));

describe('printable', () => {
  it.each([
    ['plain text', 'plain text'],
    ['\x1b[2Jcleared', '\\x1b[2Jcleared'],
    ['\x1b]0;title\x07', '\\x1b]0;title\\x07'],
    ['a\x00b', 'a\\x00b'],
    ['line\nbreak\r\ttab', 'line\\nbreak\\r\\ttab'],
    ['del\x7f', 'del\\x7f'],
    ['csi\u009b31m', 'csi\\x9b31m'],
    ['abc\u202eevil', 'abc\\u202eevil'],
    ['Škoda 😀 “quoted”', 'Škoda 😀 “quoted”'],
    ['', ''],
  ])('%j -> %j', (input, want) => {
    expect(printable(input)).toBe(want);
  });

  it.each([
    ['abcdef', 6, 'abcdef'],
    ['abcdefg', 6, 'abcde…'],
    ['😀😀😀😀', 3, '😀😀…'],
    // An escape is never cut in two: \x1b does not fit before the ellipsis, so it goes whole.
    ['abc\x1bdef', 6, 'abc…'],
    ['ab\x1b', 6, 'ab\\x1b'],
    ['a'.repeat(1000), VALUE_MAX, 'a'.repeat(VALUE_MAX - 1) + '…'],
  ])('%j cut at %i -> %j', (input, max, want) => {
    expect(printable(input, max)).toBe(want);
  });

  it('never lets a control character through, never exceeds the cut, and keeps short clean text as it is', () => {
    fc.assert(
      fc.property(nasty, fc.integer({ min: 1, max: 80 }), (s, max) => {
        const out = printable(s, max);
        expect(controls(out)).toEqual([]);
        expect([...out].length).toBeLessThanOrEqual(max);
        if (controls(s).length === 0 && [...s].length <= max) expect(out).toBe(s);
        // Cut or not, what is shown is the start of the whole escaped text.
        const whole = printable(s);
        expect(controls(whole)).toEqual([]);
        if (out !== whole) {
          expect(out.endsWith('…')).toBe(true);
          expect(whole.startsWith(out.slice(0, -1))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('printableLines', () => {
  it('keeps the line breaks of a message and escapes everything else, line by line', () => {
    expect(printableLines('cars: error: bad \x1b[2J header\n  what to do: fix\r')).toBe('cars: error: bad \\x1b[2J header\n  what to do: fix\\r');
  });

  it('holds no control character but LF, and no line over the cut', () => {
    fc.assert(
      fc.property(nasty, fc.integer({ min: 1, max: 80 }), (s, max) => {
        const out = printableLines(s, max);
        expect(controls(out.replace(/\n/g, ''))).toEqual([]);
        for (const line of out.split('\n')) expect([...line].length).toBeLessThanOrEqual(max);
        expect(out.split('\n')).toHaveLength(s.split('\n').length);
      }),
      { numRuns: 1000 },
    );
  });
});
