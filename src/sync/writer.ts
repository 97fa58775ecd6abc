// The price sync's sink for the writer pool (src/pipeline/writer-pool.ts): lanes by FNV-1a of the
// VIN, each batch of `batchSize` rows one price_update statement, so one VIN is always written in
// input order and no two statements wait on each other's rows. Three batches a lane: memory stays
// at 3 x workers x batch size rows whatever the feed size.
// With `dryRun`, a batch reads the stored prices instead and compares.
import { randomUUID } from 'node:crypto';
import { CarsError } from '../errors.js';
import type { Sql } from '../db/pool.js';
import { namedQuery } from '../db/queries.js';
import type { Logger } from '../logger.js';
import { BatchFailure, WriterPool } from '../pipeline/writer-pool.js';
import { PriceBatch } from './batch.js';
import { canonicalStoredPrice } from './feed-rows.js';
import { fnv1a } from '../car.js';

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

interface PriceResult {
  changed: number;
  unknown: string[];
  changes?: PriceChange[];
}

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
  readonly firstChanges: PriceChange[] = [];
  private readonly pool: WriterPool<PriceBatch, undefined>;
  /** Each batch's token in sync_batches, made at its first attempt. */
  private readonly tokens = new Map<PriceBatch, string>();

  constructor(
    private readonly sql: Sql,
    private readonly o: WriterOptions,
    private readonly hooks: WriterHooks,
  ) {
    // Three batches a lane: one being written, one ready behind it (so reading goes on while a
    // write runs) and one filling.
    this.pool = new WriterPool<PriceBatch, undefined>(
      {
        write: (batch, { retry }) => this.write(batch, retry),
        mayHaveCommitted: () => !o.dryRun,
        describe: (batch) => `batch of ${batch.length} prices`,
      },
      {
        lanes: o.workers,
        batchesPerLane: 3,
        newBatch: () => new PriceBatch(o.batchSize),
        firstHint: undefined,
        retry: { waitMs: o.retryWaitMs ?? 60_000 },
        warn: hooks.log.warn,
        maxBatchAgeMs: o.maxBatchAgeMs,
        measure: () => {
          const t0 = performance.now();
          return () => hooks.timing(performance.now() - t0);
        },
      },
    );
  }

  /** Rows of a batch that was in flight when the connection was lost for good: committed or not, nobody knows. */
  get inDoubt(): number {
    return this.pool.inDoubt;
  }

  /**
   * Takes one checked row (VIN of 17 characters, canonical price). Returns a promise only when the
   * caller must wait: no batch is free to fill. (A VIN already in the batch being filled is
   * superseded there: the later price wins, as in an import batch.)
   */
  add(vin: string, price: string, line = 0): Promise<void> | undefined {
    const hash = fnv1a(vin);
    const lane = this.pool.lane(hash);
    this.pool.batch(lane).add(vin, price, line, hash);
    return this.pool.added(lane);
  }

  /** Writes every batch still filling and waits for all of them. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Waits for the batches already handed over (after an error elsewhere). */
  settle(): Promise<void> {
    return this.pool.settle();
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

  /** One attempt at a batch (the pool retries), then its counts. */
  private async write(batch: PriceBatch, retry: boolean): Promise<undefined> {
    if (!retry) this.tokens.set(batch, randomUUID());
    const r = this.o.dryRun ? await this.compare(batch) : await this.update(batch, this.tokens.get(batch)!, retry);
    this.tokens.delete(batch);
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
    return undefined;
  }

  /**
   * One price_update statement (its own transaction). Not sql.begin: with postgres.js 3.4.9 a
   * transaction whose connection is killed sends ROLLBACK on the dead socket, which throws an
   * uncatchable TypeError (porsager/postgres#1154, #1208) and takes the process down.
   * A retry first asks sync_batches whether the first attempt committed after all.
   */
  private async update(batch: PriceBatch, token: string, retry: boolean): Promise<PriceResult> {
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
  private async compare(batch: PriceBatch): Promise<PriceResult> {
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
   * The error to end the run with, once every writer has stopped (close() or settle()): a
   * writer's failure gets the count of changes committed by all of them only then.
   */
  finalError(e: unknown): unknown {
    if (!(e instanceof BatchFailure)) return e;
    const done = this.o.dryRun ? 'nothing was written (dry run)' : this.committedSoFar();
    return new CarsError(e.code, `${e.reason}: ${done}; run the same command again to finish`, { cause: e.cause });
  }
}
