// cars import <path|-|url>: records -> validate -> per-worker batches -> COPY + merge.
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CarsError } from '../errors.js';
import { isConnectionError } from '../db/pool.js';
import { openInput } from '../sources/input.js';
import { csvSource, type RecordSource, type SourceItem } from '../sources/records.js';
import { CAR_COLUMNS, REQUIRED_COLUMNS, validateFields } from '../import/validate.js';
import { nextYear } from '../generate.js';
import { writeBatch, type WriteOptions } from '../import/writer.js';
import { RowBatch, type BatchRows } from '../import/batch.js';
import { RowEncoder } from '../import/row-encoder.js';
import { CsvRow } from '../sources/csv-records.js';
import { fnv1a } from '../sync/shard.js';
import { RejectsFile, REJECT_COLUMNS } from '../import/rejects.js';
import { defaultListPath } from '../csv-list.js';
import { createProgress } from '../progress.js';
import type { Command, Deps, Outcome } from '../runner.js';
import type { Sql } from '../db/pool.js';

export interface ImportOptions {
  format?: 'csv' | 'ndjson' | 'json';
  delimiter?: string;
  batchSize: number;
  workers: number;
  rejects?: string;
  maxRejects?: number;
  dryRun?: boolean;
  concurrency: number;
  rate: number;
  retries: number;
  /** Statuses retried (--retry-on); undefined: the HTTP client's default set. */
  retryOn?: number[];
  timeout: number;
}

/** Opens the source named on the command line. URLs come with the remote-feeds issue. */
export type SourceOpener = (source: string, o: ImportOptions, deps: Deps) => Promise<RecordSource>;

export const openFileSource: SourceOpener = async (source, o, deps) => {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) || (o.format && o.format !== 'csv') || (!o.format && /\.(ndjson|jsonl|json)(\.gz)?$/i.test(source))) {
    // URLs, and NDJSON or paginated JSON from anywhere (by --format or by the file's extension).
    const { openRemoteSource } = await import('../sources/remote.js');
    return openRemoteSource(source, o, deps);
  }
  const input = await openInput(source, deps.stdin as Readable);
  const delimiter = o.delimiter ?? (/\.tsv(\.gz)?$/i.test(source) ? '\t' : ',');
  return csvSource(input, delimiter);
};

/** Which worker writes a VIN (FNV-1a), so one VIN is always written in order by one worker. */
export function workerFor(vin: string, workers: number): number {
  return fnv1a(vin) % workers;
}

interface Worker {
  filling: RowBatch;
  /** Its last batch changed nothing: the next one is expected to change nothing either. */
  lastUnchanged: boolean;
  /** Its last batch was all new cars: the next one is expected to be too. */
  lastNew: boolean;
  /** The batch being written, if any. */
  busy: Promise<void> | undefined;
  writing: number;
}

export function importCommand(source: string, o: ImportOptions, open: SourceOpener = openFileSource): Command {
  return (deps) => runImport(source, o, deps, open);
}

async function runImport(source: string, o: ImportOptions, deps: Deps, open: SourceOpener): Promise<Outcome> {
  const { report, log, signal } = deps;
  const rows = report.rows;
  for (const k of ['read', 'inserted', 'updated', 'unchanged', 'rejected', 'superseded']) rows[k] = 0;
  if (o.dryRun) rows.valid = 0;

  const src = await open(source, o, deps);
  const columns = src.columns;
  const lower = columns.map((c) => c.toLowerCase());
  const index = new Map<string, number>();
  for (const c of CAR_COLUMNS) index.set(c, lower.indexOf(c));
  const missing = REQUIRED_COLUMNS.filter((c) => index.get(c)! < 0);
  if (missing.length) {
    await src.close?.(); // a URL's connection and HTTP figures
    throw new CarsError('INPUT_HEADER', `${src.name}: line 1: missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (found: ${columns.join(', ') || 'none'})`);
  }
  const known = new Set<string>([...CAR_COLUMNS, ...REJECT_COLUMNS]);
  const extra = columns.filter((c) => !known.has(c.toLowerCase()));
  if (extra.length) log.warn(`warning: ${src.name}: ignoring column${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
  const [vinAt, brandAt, modelAt, yearAt, priceAt, mileageAt, conditionAt, colorAt, listedAt] = CAR_COLUMNS.map((c) => index.get(c)!);

  const runLabel = report.runId !== null ? `run${report.runId}` : new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const rejects = new RejectsFile(o.rejects ?? defaultListPath(deps.home, 'rejects', runLabel, source, 'rejects'), columns);
  const reject = async (values: Array<string | undefined>, where: number | string, error: string, raw = '') => {
    rows.rejected++;
    await rejects.add(values, where, error, raw);
  };

  const progress = await createProgress({ enabled: deps.progress.enabled, tty: deps.progress.tty, totalBytes: src.totalBytes, stream: deps.progress.stream, label: 'import' });
  const validation = { maxYear: nextYear() };
  const encoder = new RowEncoder([vinAt, brandAt, modelAt, yearAt, priceAt, mileageAt, conditionAt, colorAt, listedAt], validation.maxYear);
  const workers: Worker[] = Array.from({ length: o.dryRun ? 0 : o.workers }, () => ({ filling: new RowBatch(), lastUnchanged: false, lastNew: false, busy: undefined, writing: 0 }));
  // Batches written and emptied, for reuse: their buffers have grown to a batch's size already.
  const spare: RowBatch[] = [];
  // At most (workers + 1) batches of rows in memory, filling and being written together.
  const budget = (workers.length + 1) * o.batchSize;
  let buffered = 0;
  let fatal: unknown;
  let committedRows = 0;
  let stopReason: 'interrupted' | 'max-rejects' | undefined;

  const sql = o.dryRun ? undefined : deps.db.sql;
  const write = async (w: Worker, batch: BatchRows) => {
    const t0 = performance.now();
    const r0 = report.sample();
    const r = await writeWithRetry(sql!, batch, { expectUnchanged: w.lastUnchanged, expectNew: w.lastNew }, () => committedRows, log);
    w.lastUnchanged = r.inserted + r.updated === 0;
    w.lastNew = r.inserted === batch.length;
    report.add('write', performance.now() - t0, report.sample() - r0);
    rows.inserted += r.inserted;
    rows.updated += r.updated;
    rows.unchanged += r.unchanged;
    rows.superseded += r.superseded;
    committedRows += r.inserted + r.updated + r.unchanged + r.superseded;
    for (const f of r.refused) await reject(f.fields, f.where, f.error);
  };
  const flush = async (w: Worker) => {
    if (w.busy) await w.busy;
    if (fatal) throw fatal;
    const batch = w.filling;
    if (!batch.length) return;
    w.filling = spare.pop() ?? new RowBatch();
    w.writing = batch.length;
    w.busy = write(w, batch)
      .catch((e) => {
        fatal ??= e;
      })
      .finally(() => {
        batch.clear();
        spare.push(batch);
        buffered -= w.writing;
        w.writing = 0;
        w.busy = undefined;
      });
  };
  /** Waits until the rows in memory are within budget: for a write to end, or starts one. */
  const makeRoom = async () => {
    while (buffered >= budget) {
      const inFlight = workers.filter((w) => w.busy).map((w) => w.busy);
      if (inFlight.length) await Promise.race(inFlight);
      else await flush(workers.reduce((a, b) => (b.filling.length > a.filling.length ? b : a)));
      if (fatal) throw fatal;
    }
  };

  let ord = 0;
  let remoteFailure: CarsError | undefined;
  const iterator = src.items[Symbol.asyncIterator]();
  try {
    for (;;) {
      let t0 = performance.now();
      const next = await iterator.next();
      report.add('read', performance.now() - t0);
      if (next.done) break;
      t0 = performance.now();
      for (const item of next.value as SourceItem[]) {
        rows.read++;
        if (item.kind === 'malformed') {
          await reject(item.values ?? [], item.where, item.error, item.raw);
          continue;
        }
        let w: Worker;
        if (item instanceof CsvRow && item.count === columns.length && encoder.encode(item)) {
          // The fast path: a plain CSV record, from its bytes to its COPY line.
          if (o.dryRun) {
            rows.valid++;
            continue;
          }
          w = workers[encoder.vinHash % workers.length];
          w.filling.addEncoded(ord++, item, encoder);
        } else {
          const values = item.values;
          if (values.length !== columns.length) {
            await reject(values, item.where, `wrong number of fields: expected ${columns.length}, got ${values.length}`, values.join(','));
            continue;
          }
          // (An absent column's index is -1, and values[-1] is undefined: absent means empty.)
          const v = validateFields(values[vinAt], values[brandAt], values[modelAt], values[yearAt], values[priceAt], values[mileageAt], values[conditionAt], values[colorAt], values[listedAt], validation);
          if (!v.ok) {
            await reject(values, item.where, v.error);
            continue;
          }
          if (o.dryRun) {
            rows.valid++;
            continue;
          }
          const hash = fnv1a(v.row.vin);
          w = workers[hash % workers.length];
          w.filling.add(ord++, item.where, v.row, values, hash);
        }
        buffered++;
        if (w.filling.length >= o.batchSize || buffered >= budget) {
          const t1 = performance.now();
          if (w.filling.length >= o.batchSize) await flush(w);
          await makeRoom();
          t0 += performance.now() - t1; // waiting for a writer is not validation time
        }
      }
      report.add('validate', performance.now() - t0);
      progress.update(rows.read, src.bytesRead());
      if (fatal) throw fatal;
      if (signal.aborted) {
        stopReason = 'interrupted';
        break;
      }
      if (o.maxRejects !== undefined && rows.rejected > o.maxRejects) {
        stopReason = 'max-rejects';
        break;
      }
    }
  } catch (e) {
    // A feed that broke: the rows read before it are still written (below), then it is reported
    // with the count of rows committed, so the operator knows that running again finishes the job.
    if (!(e instanceof CarsError && e.code === 'REMOTE_FAILED')) throw e;
    remoteFailure = e;
  } finally {
    // Rows already read are written, so that every record read has its outcome.
    const t0 = performance.now();
    try {
      for (const w of workers) await flush(w);
      for (const w of workers) await w.busy;
    } finally {
      report.add('flush', performance.now() - t0);
      progress.update(rows.read, src.bytesRead());
      progress.stop();
      await rejects.close();
      await iterator.return?.(undefined);
      await src.close?.();
    }
  }
  if (fatal) throw fatal;
  if (remoteFailure) {
    throw new CarsError('REMOTE_FAILED', `${remoteFailure.message}; ${committedRows} rows were committed before it; run the same command again to finish`, { cause: remoteFailure });
  }

  if (!o.dryRun && rows.inserted + rows.updated > 0) await report.phase('analyze', () => analyzeIfNeeded(sql!, rows.inserted + rows.updated));

  const outcomes = o.dryRun ? rows.valid + rows.rejected : rows.inserted + rows.updated + rows.unchanged + rows.rejected + rows.superseded;
  const balanced = outcomes === rows.read;
  report.extra.accounting = o.dryRun
    ? `read ${rows.read} = valid ${rows.valid} + rejected ${rows.rejected}${balanced ? ' ✓' : ' ✗ MISMATCH'}`
    : `read ${rows.read} = inserted ${rows.inserted} + updated ${rows.updated} + unchanged ${rows.unchanged} + rejected ${rows.rejected} + superseded ${rows.superseded}${balanced ? ' ✓' : ' ✗ MISMATCH'}`;
  report.extra.rejects_file = rejects.written ? path.resolve(rejects.path) : null;
  report.extra.dry_run = !!o.dryRun;
  const secs = report.elapsedMs() / 1000;
  report.extra.rows_per_second = secs > 0 ? Math.round(rows.read / secs) : 0;
  if (!balanced) return { status: 'failed', error: new CarsError('INTERNAL', `row accounting does not add up: ${report.extra.accounting}`) };
  if (stopReason === 'interrupted') return { status: 'interrupted', error: new CarsError('INTERRUPTED', `interrupted after ${rows.read} rows; ${committedRows} committed`) };
  if (stopReason === 'max-rejects') {
    return { status: 'threshold', error: new CarsError('MAX_REJECTS', `stopped after ${rows.rejected} rejected rows (more than --max-rejects ${o.maxRejects}); rejects in ${rejects.path}`) };
  }
  return { status: 'ok' };
}

/** A killed connection is retried once on a new one; then the run ends with exit 5. */
async function writeWithRetry(sql: Sql, batch: BatchRows, opts: WriteOptions, committed: () => number, log: Deps['log']) {
  try {
    return await writeBatch(sql, batch, opts);
  } catch (e) {
    if (!isConnectionError(e)) throw e;
    log.warn(`warning: database connection lost (${(e as { code?: string }).code}); retrying the batch once on a new connection`);
    await new Promise((r) => setTimeout(r, 500));
    try {
      return await writeBatch(sql, batch);
    } catch (e2) {
      if (!isConnectionError(e2)) throw e2;
      throw new CarsError('DB_UNAVAILABLE', `database connection lost and not regained (${(e2 as { code?: string }).code}): ${committed()} rows were committed before it; run the same command again to finish`, { cause: e2 });
    }
  }
}

/** ANALYZE after a load that changed a large share of the table, so plans see the new data. */
async function analyzeIfNeeded(sql: Sql, changed: number): Promise<void> {
  const [r] = await sql`select greatest(reltuples, 0)::bigint as n, coalesce(n_mod_since_analyze, 0) as m from pg_class c left join pg_stat_user_tables s on s.relid = c.oid where c.oid = 'cars'::regclass`;
  const estimate = Number(r?.n ?? 0);
  if (changed >= 1000 && changed > 0.1 * Math.max(estimate, 1)) await sql`analyze cars`;
}
