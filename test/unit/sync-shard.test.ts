import { describe, expect, it } from 'vitest';
import { effectiveShard, fmix32, LOCK_CLASS, shardKey, shardLabel, shardOf, WHOLE_TABLE_KEY } from '../../src/sync/shard.js';
import { fnv1a } from '../../src/car.js';

/** Deterministic VIN-like strings (the alphabet of VINs). */
function vins(n: number, seed = 7): string[] {
  const alphabet = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => Array.from({ length: 17 }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(''));
}

describe('shard hashing', () => {
  // Every host of one night must agree: these values are a contract (see src/sync/shard.ts).
  it.each([
    ['1HGCM82633A004352', 2223646722, 1, 2, 1, 5],
    ['JTDPYMZAXL1PYWYK1', 2718976604, 1, 1, 3, 3],
    ['1FAMJJ3P3S3AJCTXY', 4090330505, 1, 1, 3, 3],
    ['TMBDHTMT8H12CLJK8', 318356426, 0, 0, 2, 4],
    ['WVWZZZ1JZXW000001', 3850791282, 1, 0, 1, 9],
  ])('%s: fnv1a %d, shards of 2, 3, 4, 10: %d %d %d %d', (vin, h, s2, s3, s4, s10) => {
    expect(fnv1a(vin)).toBe(h);
    expect([shardOf(vin, 2), shardOf(vin, 3), shardOf(vin, 4), shardOf(vin, 10)]).toEqual([s2, s3, s4, s10]);
  });

  it('puts every VIN in exactly one shard, 0 <= shard < n, spread evenly', () => {
    const all = vins(30_000);
    for (const n of [2, 3, 5, 16]) {
      const counts = new Array(n).fill(0);
      let outside = 0;
      for (const v of all) {
        const s = shardOf(v, n);
        if (!(Number.isInteger(s) && s >= 0 && s < n)) outside++;
        else counts[s]++;
      }
      expect(outside).toBe(0);
      const expected = all.length / n;
      for (const c of counts) expect(Math.abs(c - expected) / expected).toBeLessThan(0.06);
    }
  });

  it('is independent of the worker split: each shard still spreads over every worker', () => {
    const all = vins(40_000, 11);
    for (const [shards, workers] of [
      [2, 2],
      [4, 2],
      [2, 4],
      [3, 3],
      [8, 8],
    ]) {
      const grid = Array.from({ length: shards }, () => new Array(workers).fill(0));
      for (const v of all) grid[shardOf(v, shards)][fnv1a(v) % workers]++;
      const expected = all.length / shards / workers;
      for (const row of grid) for (const c of row) expect(Math.abs(c - expected) / expected).toBeLessThan(0.15);
    }
  });

  it('a plain different seed would not be: FNV-1a low bits follow the seed', () => {
    // Why shardOf mixes with fmix32 (documented in shard.ts): FNV-1a mod 2 with another offset
    // basis is a fixed function of the worker hash mod 2.
    const fnvSeed = (s: string, basis: number) => {
      let h = basis;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
      return h >>> 0;
    };
    const pairs = new Set(vins(2000).map((v) => `${fnv1a(v) % 2}${fnvSeed(v, 0x12345679) % 2}`));
    expect(pairs.size).toBe(2);
  });

  it('fmix32 is a bijection on a sample (no two inputs collide)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i++) seen.add(fmix32(i * 2654435761));
    expect(seen.size).toBe(100_000);
  });

  it('--shard 0/1 means every car; labels', () => {
    expect(effectiveShard({ index: 0, count: 1 })).toBeUndefined();
    expect(effectiveShard(undefined)).toBeUndefined();
    expect(effectiveShard({ index: 1, count: 3 })).toEqual({ index: 1, count: 3 });
    expect(shardLabel(undefined)).toBe('all');
    expect(shardLabel({ index: 2, count: 4 })).toBe('2/4');
    expect(shardOf('ANYTHING', 1)).toBe(0);
  });

  it('lock keys: one class for the command, the whole table at 0, a distinct key per shard', () => {
    expect(LOCK_CLASS).toBe(1218330062);
    expect(WHOLE_TABLE_KEY).toBe(0);
    const keys = new Set<number>();
    for (let n = 2; n <= 64; n++) for (let i = 0; i < n; i++) keys.add(shardKey({ index: i, count: n }));
    expect(keys.size).toBe(2079); // every (i, n) for n = 2..64: 2 + 3 + ... + 64
    expect(keys.has(WHOLE_TABLE_KEY)).toBe(false);
    expect(shardKey({ index: 1023, count: 1024 })).toBeLessThan(2 ** 31);
  });
});
