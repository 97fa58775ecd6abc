// Writing one batch: COPY into an all-text staging table (so the COPY itself cannot be refused,
// postgres.js 3.4.9 hangs when the server refuses a COPY after its input ended: porsager/postgres#1173), then the named merge query, in one transaction.
// When the server refuses a batch's data although the validator let it through (an error of class
// 22 or 23), the batch is split in halves until the refused rows are alone: those are rejected,
// every other row still loads. Any other error (a lost connection, a timeout, a deadlock) says
// nothing about the rows: it is thrown, and the caller retries the batch whole.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import postgres from 'postgres';
import type { Sql } from '../db/pool.js';
import { isConnectionError } from '../db/pool.js';
import { isDataError } from '../db/sqlstate.js';
import { namedQuery, settingsStatement } from '../db/queries.js';
import { commitInDoubt, inTransaction } from '../db/transaction.js';
import type { Sink } from '../pipeline/writer-pool.js';
import type { BatchRows, RowBatch } from './batch.js';

export interface BatchResult {
  inserted: number;
  updated: number;
  unchanged: number;
  superseded: number;
  refused: Array<{ where: number | string; fields: string[]; error: string }>;
}

/** The all-text staging table a batch is copied into (also explained by `cars explain`). */
export const STAGING = `create temp table if not exists cars_staging (
  ord integer, vin text, brand text, model text, year text, price text, mileage text,
  condition text, color text, listed_at text) on commit delete rows`;
/** How long the server may take to acknowledge a batch's COPY once all of it was sent. */
const COPY_ACK_MS = 5_000;
const COPY_COLUMNS = ['ord', 'vin', 'brand', 'model', 'year', 'price', 'mileage', 'condition', 'color', 'listed_at'];

interface Merged {
  inserted: number;
  updated: number;
  /** Distinct VINs of the batch (the later row of a repeated VIN supersedes the earlier). */
  distinct: number;
  /**
   * The fast merge met another session updating or deleting some of the batch's cars between
   * its join and its UPDATE: it committed the rest, and the batch is merged again by the safe
   * merge to finish (which finds what this one wrote unchanged).
   */
  incomplete: boolean;
}

export interface WriteOptions {
  /**
   * The batch is expected to change nothing (its lane's last one did not): its COMMIT goes out
   * right behind the merge instead of after its answer, one round trip less (5% of an unchanged
   * re-import). Should the connection break during that round trip, the batch may have been
   * committed without the importer knowing; which is why it is only done where committing
   * changes nothing.
   */
  expectUnchanged?: boolean;
  /**
   * The batch is expected to hold only new cars (its lane's last one did): it is inserted with
   * import_insert, and merged the usual way should one of its cars exist after all.
   */
  expectNew?: boolean;
  /** Aborted when the run stops (another writer failed): a batch still waiting for a connection gives up. */
  signal?: AbortSignal;
  /** The run whose price changes these are, for car_price_history. */
  runId?: number | null;
  /** `--source`: the source every car the batch inserts or updates takes (the cars.source setting the merges read). */
  source?: string;
  /** A snapshot run's id: the batch's VINs are recorded in snapshot_seen, in its transaction. */
  seenRun?: number;
}

async function mergeOnce(sql: Sql, rows: BatchRows, safe: boolean, opts: WriteOptions): Promise<Merged> {
  // Batches without a repeated VIN take the faster merge, unless it met a concurrent writer.
  const unique = !safe && !rows.mayRepeatVins;
  const insertOnly = unique && !!opts.expectNew;
  const query = namedQuery(insertOnly ? 'import_insert' : unique ? 'import_merge_unique' : 'import_merge');
  const merge = query.text;
  // The run id travels as a setting of the batch's transaction, sent with the planner settings.
  const runSetting: Record<string, string> = opts.runId != null && !insertOnly ? { 'cars.run_id': String(opts.runId) } : {};
  if (opts.source !== undefined) runSetting['cars.source'] = opts.source;
  const planner = settingsStatement({ ...query.settings, ...runSetting });
  return inTransaction(sql, opts.signal, async (c, commitNow, until) => {
    // Sent together, answered together: one wait for the server instead of three.
    const prelude = Promise.all([c.unsafe(STAGING), planner && c.unsafe(planner)]);
    prelude.catch(() => {}); // awaited below, unless the COPY fails first and its error is thrown
    const copy = c`copy cars_staging (${c(COPY_COLUMNS)}) from stdin`;
    // (After connections of the pool were killed, postgres.js 3.4.9 may never start the COPY.)
    // When the connection dies mid-COPY (or before the COPY is written to, or after this batch
    // gave up waiting), the stream errors, also while being destroyed after pipeline() stopped
    // listening: without a listener from the start that 'error' would crash the process.
    const started = copy.writable().then((w) => w.on('error', () => {}));
    const writable = await until(answered(started, 'COPY not started'));
    await until(prelude);
    // postgres.js acknowledges the end of a COPY only when the server answers; when the
    // connection died after our last chunk, it never does (porsager/postgres#1173), so a
    // watchdog starts once the input is exhausted.
    const watchdog = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    async function* input() {
      yield* rows.copyChunks();
      timer = setTimeout(() => watchdog.abort(new Error(`COPY not acknowledged within ${COPY_ACK_MS / 1000} s`)), COPY_ACK_MS);
    }
    const copied = pipeline(Readable.from(input()), writable, { signal: watchdog.signal }).finally(() => clearTimeout(timer));
    await until(copied).catch((e) => {
      if (e === opts.signal?.reason) throw e;
      // The staging table takes any text, so a failed COPY is a connection that went away
      // (the stream reports it as a premature close, or worse).
      if (e instanceof postgres.PostgresError || isConnectionError(e)) throw e;
      throw Object.assign(new Error(`connection lost during COPY: ${e?.message ?? e}`, { cause: e }), { code: 'CONNECTION_CLOSED' });
    });
    // A snapshot's listed VINs, written with the batch (and gone with it should it roll back).
    if (opts.seenRun !== undefined) c`insert into snapshot_seen (run_id, vin) select ${opts.seenRun}, vin from cars_staging`.catch(() => {});
    // (postgres.js sends a statement when it is first awaited or caught: the merge goes first.)
    const merged = c.unsafe(merge);
    merged.catch(() => {}); // sends it; its error is thrown by the await below
    // The fast merge itself turns off the commit's wait for the disk when it changed nothing.
    if (unique && !insertOnly && opts.expectUnchanged) commitNow().catch(() => {}); // (its error, if any, comes again at the end)
    if (insertOnly) {
      const { count } = await until(merged);
      return { inserted: count, updated: 0, distinct: rows.length, incomplete: false };
    }
    const [r] = await until(merged);
    const inserted = Number(r.inserted);
    const updated = Number(r.updated);
    if (unique) return { inserted, updated, distinct: rows.length, incomplete: updated !== Number(r.expected_updates) };
    // A batch that changed nothing has nothing to lose in a crash: its commit need not wait for
    // the disk. (Sent with the COMMIT that follows, not awaited on its own; a failure fails the COMMIT.)
    if (inserted + updated === 0) c.unsafe('set local synchronous_commit = off').catch(() => {});
    return { inserted, updated, distinct: Number(r.distinct_rows), incomplete: false };
  });
}

/** The step, or a lost connection when the server has not answered within COPY_ACK_MS. */
function answered<T>(step: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} within ${COPY_ACK_MS / 1000} s`), { code: 'CONNECTION_CLOSED' })), COPY_ACK_MS);
  });
  return Promise.race([step, limit]).finally(() => clearTimeout(timer));
}

function result(rows: BatchRows, m: Merged): BatchResult {
  return { inserted: m.inserted, updated: m.updated, unchanged: m.distinct - m.inserted - m.updated, superseded: rows.length - m.distinct, refused: [] };
}

/** Writes a batch; refused data is isolated, any other error is thrown (the caller retries). */
export async function writeBatch(sql: Sql, rows: BatchRows, opts: WriteOptions = {}, safe = false): Promise<BatchResult> {
  // What every write of the run carries, whatever its batch: the signal, the run, the source and the snapshot.
  const only = { signal: opts.signal, runId: opts.runId, source: opts.source, seenRun: opts.seenRun };
  try {
    const m = await mergeOnce(sql, rows, safe, opts);
    if (!m.incomplete) return result(rows, m);
    // Finished by the safe merge; what the fast one wrote counts as it wrote it.
    const rest = await writeBatch(sql, rows, only, true);
    const inserted = m.inserted + rest.inserted;
    const updated = m.updated + rest.updated;
    return { ...rest, inserted, updated, unchanged: rows.length - rest.superseded - inserted - updated };
  } catch (e) {
    // The fast merge met another session inserting one of the batch's new cars: the batch is
    // merged again (nothing of it was committed), by the merge that is safe against that.
    if (!safe && e instanceof postgres.PostgresError && e.code === '23505' && !rows.mayRepeatVins) {
      // (Expected to be all new, it is merged; should another session be writing its cars, the merge
      // meets the same and the safe merge follows.)
      return writeBatch(sql, rows, only, !opts.expectNew);
    }
    if (!isDataError(e)) throw e;
    if (rows.length === 1) {
      const error = `refused by the database: ${e.message}${e.detail ? ` (${e.detail})` : ''}`;
      return { inserted: 0, updated: 0, unchanged: 0, superseded: 0, refused: [{ where: rows.where(0), fields: rows.fields(0), error }] };
    }
    const mid = rows.length >> 1;
    const a = await writeBatch(sql, rows.range(0, mid), only, safe);
    const b = await writeBatch(sql, rows.range(mid, rows.length), only, safe);
    return {
      inserted: a.inserted + b.inserted,
      updated: a.updated + b.updated,
      unchanged: a.unchanged + b.unchanged,
      superseded: a.superseded + b.superseded,
      refused: [...a.refused, ...b.refused],
    };
  }
}

/** What a lane's last batch says about its next one (see WriteOptions). */
export interface LaneHint {
  expectUnchanged: boolean;
  expectNew: boolean;
}

/**
 * The import's sink for the writer pool: one batch, one transaction. A retry takes the safe merge
 * and no early COMMIT. `done` hears each written batch's outcome (counts, refused rows).
 */
export function importSink(sql: Sql, run: Pick<WriteOptions, 'runId' | 'source' | 'seenRun'>, done: (batch: RowBatch, r: BatchResult) => Promise<void>): Sink<RowBatch, LaneHint> {
  return {
    async write(batch, { hint, retry, signal }) {
      const opts: WriteOptions = retry ? { ...run, signal } : { ...run, signal, ...hint };
      const r = await writeBatch(sql, batch, opts);
      await done(batch, r);
      return { expectUnchanged: r.inserted + r.updated === 0, expectNew: r.inserted === batch.length };
    },
    mayHaveCommitted: commitInDoubt,
    describe: (batch) => `batch of ${batch.length} rows from ${typeof batch.where(0) === 'number' ? 'line ' : ''}${batch.where(0)}`,
  };
}
