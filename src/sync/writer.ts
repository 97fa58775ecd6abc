// The price writers: rows split among `workers` writers by FNV-1a of the VIN (the hash of
// workerFor in commands/import.ts), each writing batches of `batchSize` rows as one price_update
// statement, one batch at a time, so one VIN is always written in input order and no two
// statements wait on each other's rows. A worker holds at most three batches: one being written,
// one ready behind it (so reading goes on while a write runs) and one filling; memory stays at
// 3 x workers x batch size rows whatever the feed size.
// With `dryRun`, a batch reads the stored prices instead and compares.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { CarsError } from '../errors.js';
import { databaseError, type Sql } from '../db/pool.js';
import type { Target } from '../db/target.js';
import { namedQuery } from '../db/queries.js';
import type { Logger } from '../logger.js';
import { PriceBatch } from './batch.js';
import { connectionLost } from './driver.js';
import { canonicalStoredPrice } from './feed-rows.js';
import { fnv1a } from './shard.js';
import { describeError, isTransientError, TRANSIENT_BACKOFF } from '../db/sqlstate.js';
import { backoffDelay } from '../http/backoff.js';

/** A batch that could not be written; see PriceWriter.finalError(). */
export class WriterFailure extends Error {
  constructor(
    readonly code: 'DB_UNAVAILABLE' | 'DB_BUSY',
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

export interface PriceChange {
  vin: string;
  old: string;
  new: string;
}

export interface WriterOptions {
  workers: number;
  batchSize: number;
  runId: number | null;
  dryRun: boolean;
  /** A batch that has been filling this long is written at the next row (API mode: rows trickle in). */
  maxBatchAgeMs?: number;
  /** How many changes `firstChanges` keeps (dry run). */
  keepChanges?: number;
  /** How long a batch is retried after transient database errors, in ms (default 60 s). */
  retryWaitMs?: number;
}

export interface WriterHooks {
  log: Logger;
  /** A VIN the table does not have, with the price and feed line it came with (0: not from a feed). */
  unknown(vin: string, price: string, line: number): Promise<void>;
  /** Busy time of a batch write, for the report. */
  timing(ms: number): void;
}

interface BatchResult {
  changed: number;
  unknown: string[];
  changes?: PriceChange[];
}

interface Worker {
  /** The batch being filled. */
  filling: PriceBatch;
  startedAt: number;
  /** Batches handed to this worker, in order; the first one is being written. */
  queue: PriceBatch[];
  running: Promise<void> | undefined;
  /** Woken whenever a batch of this worker is done. */
  waiters: Array<() => void>;
}

/** Batches a worker holds besides the one filling: one being written, one ready behind it. */
const QUEUE_DEPTH = 2;

export class PriceWriter {
  /** Rows whose outcome is known (written or compared). */
  done = 0;
  changed = 0;
  unchanged = 0;
  /** Rows whose VIN came again later in the same batch (the later price was written). */
  superseded = 0;
  unknown = 0;
  /** Changes committed to the database (not counting a dry run). */
  committed = 0;
  /** Rows of a batch that was in flight when the connection was lost for good: committed or not, nobody knows. */
  inDoubt = 0;
  readonly firstChanges: PriceChange[] = [];
  private readonly workers: Worker[];
  private readonly spare: PriceBatch[] = [];
  private fatal: unknown;

  constructor(
    private readonly sql: Sql,
    private readonly target: Target,
    private readonly o: WriterOptions,
    private readonly hooks: WriterHooks,
  ) {
    this.workers = Array.from({ length: o.workers }, () => ({ filling: this.newBatch(), startedAt: 0, queue: [], running: undefined, waiters: [] }));
  }

  /**
   * Takes one checked row (VIN of 17 characters, canonical price). Returns a promise only when the
   * caller must wait: its worker already has a batch being written and one ready.
   */
  add(vin: string, price: string, line = 0): Promise<void> | undefined {
    if (this.fatal) throw this.fatal;
    const hash = fnv1a(vin);
    const w = this.workers[hash % this.workers.length];
    const b = w.filling;
    if (b.length === 0) w.startedAt = performance.now();
    // The common case stays synchronous: a million rows, no million promises. (A VIN already in
    // the batch being filled is superseded there: the later price wins, as in an import batch.)
    if (!b.full) {
      b.add(vin, price, line, hash);
      const old = this.o.maxBatchAgeMs !== undefined && performance.now() - w.startedAt >= this.o.maxBatchAgeMs;
      return b.full || old ? this.submit(w) : undefined;
    }
    return this.addAfterSubmit(w, vin, price, line, hash);
  }

  /** A full batch: hand it over first. */
  private async addAfterSubmit(w: Worker, vin: string, price: string, line: number, hash: number): Promise<void> {
    do await this.submit(w);
    while (w.filling.full);
    w.filling.add(vin, price, line, hash);
    if (w.filling.length === 1) w.startedAt = performance.now();
    if (w.filling.full) await this.submit(w);
  }

  /** Writes every batch still filling and waits for all of them. */
  async close(): Promise<void> {
    for (const w of this.workers) await this.submit(w);
    for (const w of this.workers) while (w.running) await w.running;
    if (this.fatal) throw this.fatal;
  }

  /** Waits for the batches already handed over (after an error elsewhere). */
  async settle(): Promise<void> {
    for (const w of this.workers) while (w.running) await w.running;
  }

  /** "N price changes were committed before it", for messages about a run cut short. */
  committedSoFar(): string {
    const n = this.committed;
    const maybe = this.inDoubt ? ` (a batch of ${this.inDoubt} rows was being written as the connection dropped and may have been committed too)` : '';
    return `${n} price change${n === 1 ? ' was' : 's were'} committed before it${maybe}`;
  }

  /** Forgets the run's batch tokens (they only serve retries during the run), and those of runs that died. */
  async cleanup(): Promise<void> {
    if (this.o.dryRun) return;
    await this.sql`delete from sync_batches where run_id = ${this.o.runId} or created_at < now() - interval '1 day'`.catch(() => undefined);
  }

  private newBatch(): PriceBatch {
    return this.spare.pop()?.reset() ?? new PriceBatch(this.o.batchSize);
  }

  /** Hands the filling batch to its worker's queue, once the queue has room. */
  private async submit(w: Worker): Promise<void> {
    while (w.queue.length >= QUEUE_DEPTH && !this.fatal) await new Promise<void>((r) => w.waiters.push(r));
    if (this.fatal) throw this.fatal;
    const batch = w.filling;
    if (batch.length === 0) return;
    w.filling = this.newBatch();
    w.queue.push(batch);
    w.running ??= this.drain(w);
  }

  /** Writes a worker's batches one after the other, in the order they came. */
  private async drain(w: Worker): Promise<void> {
    while (w.queue.length) {
      if (!this.fatal) {
        try {
          await this.write(w.queue[0]);
        } catch (e) {
          this.fatal ??= e;
        }
      }
      this.spare.push(w.queue.shift()!);
      const waiters = w.waiters;
      w.waiters = [];
      for (const wake of waiters) wake();
    }
    w.running = undefined;
  }

  private async write(batch: PriceBatch): Promise<void> {
    const t0 = performance.now();
    const token = randomUUID();
    const r = await this.withRetry(batch.length, (retry) => (this.o.dryRun ? this.compare(batch) : this.update(batch, token, retry)));
    this.hooks.timing(performance.now() - t0);
    this.done += batch.length;
    this.superseded += batch.superseded;
    this.changed += r.changed;
    this.unknown += r.unknown.length;
    this.unchanged += batch.length - batch.superseded - r.changed - r.unknown.length;
    if (!this.o.dryRun) this.committed += r.changed;
    const keep = this.o.keepChanges ?? 10;
    for (const c of r.changes ?? []) if (this.firstChanges.length < keep) this.firstChanges.push(c);
    // In batch order, so the list follows the feed.
    const unknown = r.unknown.map((vin) => batch.indexOf(vin)).sort((a, b) => a - b);
    for (const i of unknown) await this.hooks.unknown(batch.vin(i), batch.price(i), batch.line(i));
  }

  /**
   * One price_update statement (its own transaction). Not sql.begin: with postgres.js 3.4.9 a
   * transaction whose connection is killed sends ROLLBACK on the dead socket, which throws an
   * uncatchable TypeError (porsager/postgres#1154, #1208) and takes the process down.
   * A retry first asks sync_batches whether the first attempt committed after all.
   */
  private async update(batch: PriceBatch, token: string, retry: boolean): Promise<BatchResult> {
    const vins = batch.vinArray();
    if (retry) {
      const [landed] = await this.sql`select changed from sync_batches where token = ${token}::uuid`;
      if (landed) {
        const [u] = await this.sql`select coalesce(array_agg(v.vin), '{}') as unknown from unnest(${vins}::text[]) as v(vin) where not exists (select 1 from cars c where c.vin = v.vin)`;
        return { changed: landed.changed as number, unknown: u.unknown as string[] };
      }
    }
    const [r] = await this.sql.unsafe(namedQuery('price_update').text, [vins, batch.priceArray(), this.o.runId, token], { prepare: true });
    return { changed: r.changed as number, unknown: r.unknown as string[] };
  }

  /** Dry run: the stored prices of the batch, compared with the new ones. */
  private async compare(batch: PriceBatch): Promise<BatchResult> {
    const rows = await this.sql`select vin, price::text as price from cars where vin = any(${batch.vinArray()}::text[])`;
    const stored = new Map<string, string>();
    for (const r of rows) stored.set(r.vin as string, canonicalStoredPrice(r.price as string));
    const unknown: string[] = [];
    const changes: PriceChange[] = [];
    let changed = 0;
    for (let i = 0; i < batch.length; i++) {
      if (!batch.live(i)) continue;
      const vin = batch.vin(i);
      const old = stored.get(vin);
      const price = batch.price(i);
      if (old === undefined) unknown.push(vin);
      else if (old !== price) {
        changed++;
        if (changes.length < (this.o.keepChanges ?? 10)) changes.push({ vin, old, new: price });
      }
    }
    return { changed, unknown, changes };
  }

  /**
   * A killed connection is retried once on a new one; a transient error (deadlock, timeout, too
   * many connections) with backoff for up to `retryWaitMs`; then the run ends with exit 5.
   */
  private async withRetry(rows: number, fn: (retry: boolean) => Promise<BatchResult>): Promise<BatchResult> {
    let connectionRetried = false;
    let firstTransient: number | undefined;
    let attempt = 0;
    for (let retry = false; ; retry = true) {
      try {
        return await fn(retry);
      } catch (e) {
        if (connectionLost(e)) {
          if (connectionRetried) {
            if (!this.o.dryRun) this.inDoubt += rows;
            throw new WriterFailure('DB_UNAVAILABLE', `database connection lost and not regained (${(e as { code?: string }).code})`, { cause: e });
          }
          connectionRetried = true;
          this.hooks.log.warn(`warning: database connection lost (${(e as { code?: string }).code}); retrying the batch once on a new connection`);
          await sleep(500);
          continue;
        }
        if (isTransientError(e)) {
          const now = performance.now();
          firstTransient ??= now;
          const wait = Math.round(backoffDelay(++attempt, TRANSIENT_BACKOFF));
          if (now - firstTransient + wait > (this.o.retryWaitMs ?? 60_000)) {
            throw new WriterFailure('DB_BUSY', `the database kept failing a batch of ${rows} prices with transient errors for ${((now - firstTransient) / 1000).toFixed(1)} s (${attempt} tries; the last: ${describeError(e)})`, { cause: e });
          }
          this.hooks.log.warn(`warning: a batch of ${rows} prices: ${describeError(e)}; retrying it whole in ${wait} ms`);
          await sleep(wait);
          continue;
        }
        throw this.dbError(e);
      }
    }
  }

  /**
   * The error to end the run with, once every writer has stopped (close() or settle()): a
   * writer's failure gets the count of changes committed by all of them only then.
   */
  finalError(e: unknown): unknown {
    if (!(e instanceof WriterFailure)) return e;
    const done = this.o.dryRun ? 'nothing was written (dry run)' : this.committedSoFar();
    return new CarsError(e.code, `${e.reason}: ${done}; run the same command again to finish`, { cause: e.cause });
  }

  private dbError(e: unknown): unknown {
    return e instanceof postgres.PostgresError ? databaseError(e, this.target) : e;
  }
}
