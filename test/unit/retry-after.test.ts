import { describe, expect, it } from 'vitest';
import { parseHttpDate, parseRetryAfter } from '../../src/http/retry-after.js';

const now = Date.UTC(2015, 9, 21, 7, 28, 0); // Wed, 21 Oct 2015 07:28:00 GMT

describe('parseRetryAfter', () => {
  it.each<[string | string[] | undefined, number | undefined]>([
    // delta-seconds
    ['3', 3000],
    [' 3 ', 3000],
    ['0', 0],
    ['007', 7000],
    ['120', 120_000],
    ['86400', 86_400_000],
    [['5', '9'], 5000], // the first of repeated headers
    // garbage, negatives, fractions, units
    [undefined, undefined],
    [[], undefined],
    ['', undefined],
    ['   ', undefined],
    ['-1', undefined],
    ['1.5', undefined],
    ['3.0', undefined],
    ['1e3', undefined],
    ['+3', undefined],
    ['3s', undefined],
    ['0x10', undefined],
    ['soon', undefined],
    ['3 4', undefined],
    // HTTP-date (IMF-fixdate)
    ['Wed, 21 Oct 2015 07:28:00 GMT', 0],
    ['Wed, 21 Oct 2015 07:28:05 GMT', 5000],
    ['Wed, 21 Oct 2015 08:28:00 GMT', 3_600_000],
    ['wed, 21 oct 2015 07:28:10 gmt', 10_000], // case-insensitive
    [' Wed, 21 Oct 2015 07:28:02 GMT ', 2000],
    ['Thu, 22 Oct 2015 07:28:00 GMT', 86_400_000],
    // a past date means now
    ['Tue, 20 Oct 2015 07:28:00 GMT', 0],
    ['Sun, 06 Nov 1994 08:49:37 GMT', 0],
    // obsolete forms that recipients must accept (RFC 9110 §5.6.7)
    ['Wednesday, 21-Oct-15 07:28:30 GMT', 30_000],
    ['Wed Oct 21 07:28:09 2015', 9000],
    ['Wed Oct  1 07:28:00 2015', 0],
    // not dates
    ['Wed, 21 Oct 2015 07:28:00', undefined], // no GMT
    ['Wed, 21 Oct 2015 07:28:00 PST', undefined],
    ['2015-10-21T07:28:05Z', undefined],
    ['Wed, 31 Feb 2015 07:28:00 GMT', undefined],
    ['Wed, 21 Foo 2015 07:28:00 GMT', undefined],
    ['Wed, 21 Oct 2015 25:28:00 GMT', undefined],
    ['1445412485', 1_445_412_485_000], // digits are always delta-seconds, never a timestamp
  ])('%j -> %s', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it('clamps absurdly long delays instead of returning Infinity', () => {
    const ms = parseRetryAfter('9'.repeat(400), now);
    expect(ms).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('measures a date from the given now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', now + 2500)).toBe(7500);
  });
});

describe('parseHttpDate', () => {
  it('reads a two-digit year more than 50 years ahead as the past century', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Monday, 06-Nov-30 08:49:37 GMT', now)).toBe(Date.UTC(2030, 10, 6, 8, 49, 37));
  });

  it('round-trips Date#toUTCString', () => {
    const t = Date.UTC(2031, 0, 2, 3, 4, 5);
    expect(parseHttpDate(new Date(t).toUTCString(), now)).toBe(t);
  });
});
