import { describe, expect, it } from 'vitest';
import { chunked, copyLine, copyValue } from '../../src/import/copy-text.js';

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

  it('joins with tabs and ends with a newline', () => {
    expect(copyLine(['a', null, 3])).toBe('a\t\\N\t3\n');
  });

  it('chunks lines without splitting one', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `row ${i}\n`);
    const chunks = [...chunked(lines, 100)];
    expect(chunks.join('')).toBe(lines.join(''));
    for (const c of chunks) expect(c.endsWith('\n')).toBe(true);
    expect(chunks.length).toBeGreaterThan(50);
  });
});
