import { describe, expect, it } from 'vitest';
import { pgSafe, pgText } from '../../src/db/runs.js';

describe('text for the runs table', () => {
  it.each([
    ['plain', 'plain'],
    ['a\0b', 'a\u2400b'],
    ['\0\0', '\u2400\u2400'],
    ['', ''],
  ])('%j -> %j', (input, want) => expect(pgText(input)).toBe(want));

  it('keeps null, and reaches every string of a summary, keys included', () => {
    expect(pgText(null)).toBeNull();
    const s = { status: 'failed', rows: { read: 1 }, error: { code: 'X', message: 'bad \0 byte' }, list: ['\0', 2, null], ['k\0']: true };
    expect(pgSafe(s)).toEqual({ status: 'failed', rows: { read: 1 }, error: { code: 'X', message: 'bad \u2400 byte' }, list: ['\u2400', 2, null], ['k\u2400']: true });
  });
});
