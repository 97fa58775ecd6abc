import { describe, expect, it } from 'vitest';
import { PriceBatch } from '../../src/sync/batch.js';

const A = '1HGCM82633A004352';
const B = 'JTDPYMZAXL1PYWYK1';
const C = 'TMBDHTMT8H12CLJK8';

describe('PriceBatch', () => {
  it('holds rows and gives them back as array literals for $1::text[] and $2::numeric[]', () => {
    const b = new PriceBatch(3);
    expect(b.vinArray()).toBe('{}');
    expect(b.add(A, '12500', 2)).toBe(false);
    expect(b.add(B, '9999999999.99', 3)).toBe(false);
    expect(b.full).toBe(false);
    expect(b.add(C, '0', 7)).toBe(false);
    expect(b.full).toBe(true);
    expect(b.length).toBe(3);
    expect(b.vinArray()).toBe(`{${A},${B},${C}}`);
    expect(b.priceArray()).toBe('{12500,9999999999.99,0}');
    expect([b.vin(1), b.price(1), b.line(1)]).toEqual([B, '9999999999.99', 3]);
    expect([b.indexOf(C), b.indexOf(A), b.indexOf('ZZZZZZZZZZZZZZZ01'), b.indexOf('short')]).toEqual([2, 0, -1, -1]);
  });

  it('a VIN it already holds is superseded by the later row: only the last price is written', () => {
    const b = new PriceBatch(10);
    expect(b.add(A, '1', 1)).toBe(false);
    expect(b.add(B, '5', 2)).toBe(false);
    expect(b.add(A, '2', 3)).toBe(true);
    expect(b.add(A, '3', 4)).toBe(true);
    expect([b.length, b.superseded]).toEqual([4, 2]);
    expect(b.vinArray()).toBe(`{${B},${A}}`);
    expect(b.priceArray()).toBe('{5,3}');
    expect([b.indexOf(A), b.live(0), b.live(2), b.live(3)]).toEqual([3, false, false, true]);
    b.clear();
    expect(b.add(A, '2', 2)).toBe(false);
    expect([b.superseded, b.priceArray()]).toEqual([0, '{2}']);
  });

  it('finds every row among many, also when hashes share slots', () => {
    const alphabet = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
    const vins = Array.from({ length: 5000 }, (_, i) => {
      let v = '';
      for (let k = 0, x = i * 2654435761; k < 17; k++, x = Math.floor(x / 7) + k * 131) v += alphabet[x % alphabet.length];
      return v;
    });
    const unique = [...new Set(vins)];
    const b = new PriceBatch(unique.length);
    unique.forEach((v, i) => expect(b.add(v, String(i), i + 2)).toBe(false));
    expect(unique.every((v, i) => b.indexOf(v) === i && b.vin(i) === v && b.price(i) === String(i))).toBe(true);
    expect(b.vinArray().slice(1, -1).split(',')).toEqual(unique);
  });

  it('takes only checked rows', () => {
    expect(() => new PriceBatch(2).add('1HGCM82633A00435', '1', 1)).toThrow(RangeError);
    expect(() => new PriceBatch(2).add(A, '12345678901234', 1)).toThrow(RangeError);
  });
});
