// Which shard a VIN belongs to, and the advisory lock keys of a sync. Pure.
//
// Writer lanes are chosen by FNV-1a of the VIN modulo the lane count (WriterPool.lane in
// src/pipeline/writer-pool.ts). The shard must not repeat that split: with `--shard 0/2 --workers 2` on the
// same hash, every car of shard 0 would land on lane 0 and the other writer would idle. FNV-1a's
// low bits depend only on the low bits of its inputs, so a different seed would not help (the
// residues mod 2^k of two seeds are a fixed function of each other). The shard therefore takes the
// same FNV-1a hash through murmur3's fmix32 finalizer, which spreads every input bit over every
// output bit, and then `% count`.
//
// These values are a contract between hosts: every host of one night must compute the same shards,
// so changing this function is a breaking change (test/unit/sync-shard.test.ts pins examples).

import { fnv1a } from '../car.js';

export interface Shard {
  index: number;
  count: number;
}


/** murmur3's 32-bit finalizer: a bijection with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard (0..count-1) of a VIN, already normalised (trimmed, upper case). */
export function shardOf(vin: string, count: number): number {
  return count <= 1 ? 0 : fmix32(fnv1a(vin)) % count;
}

/** `--shard 0/1` is every car: the same as no shard. */
export function effectiveShard(s: Shard | undefined): Shard | undefined {
  return s && s.count > 1 ? s : undefined;
}

export function shardLabel(s: Shard | undefined): string {
  return s ? `${s.index}/${s.count}` : 'all';
}

/**
 * Advisory lock keys, the two-int4 form `pg_try_advisory_lock(key1, key2)`, which pg_locks shows as
 * classid = key1, objid = key2, objsubid = 2.
 * key1 names the command: FNV-1a of 'cars sync-prices', kept positive so classid reads the same.
 * key2 = 0 is the whole table: a run without --shard takes it exclusively; a sharded run takes it
 * shared, so shards run side by side but never next to an unsharded run. A sharded run also takes
 * key2 = count * 1024 + index exclusively: one run per shard. (Shards of different counts, 0/2 next
 * to 0/3, overlap and are not prevented; use one count for the night.)
 */
export const LOCK_CLASS = fnv1a('cars sync-prices') & 0x7fffffff;
export const WHOLE_TABLE_KEY = 0;

export function shardKey(s: Shard): number {
  return s.count * 1024 + s.index;
}
