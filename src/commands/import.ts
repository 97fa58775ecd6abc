// cars import <path|-|url>: records -> validate -> per-worker batches -> COPY + merge.
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CarsError } from '../errors.js';
import { openInput, textOnly } from '../sources/input.js';
import { csvOptions, csvSource, type RecordSource, type SourceItem } from '../sources/records.js';
import { CAR_COLUMNS, validateFields } from '../import/validate.js';
import { ColumnMap, mapHeader, normalizeHeader, type HeaderMaps } from '../import/column-map.js';
import { encodingLabel, notUtf8Message, type EncodingOption, type TextFacts } from '../sources/encoding.js';
import { nextYear } from '../generate.js';
import { importSink, type BatchResult, type LaneHint } from '../import/writer.js';
import { BatchFailure, WriterPool } from '../pipeline/writer-pool.js';
import { RowBatch } from '../import/batch.js';
import { RowEncoder } from '../import/row-encoder.js';
import { CsvRow } from '../sources/csv-records.js';
import { fnv1a } from '../sync/shard.js';
import { RejectsFile, REJECT_COLUMNS } from '../import/rejects.js';
import { finishSnapshot, forgetListed, ListedVins } from '../import/snapshot.js';
import { defaultListPath, listLabel, pruneLists } from '../csv-list.js';
import { createProgress } from '../progress.js';
import { readLoop } from '../pipeline/read-loop.js';
import type { Command, Deps, Outcome } from '../runner.js';
import type { Sql } from '../db/pool.js';
import type { FeedStart } from '../sources/remote.js';
import { FeedRun, feedUrl } from './feed-run.js';

export interface ImportOptions {
  format?: 'csv' | 'ndjson' | 'json';
  /** One character, or 'auto'. */
  delimiter?: string;
  encoding?: EncodingOption;
  /** `--map 'Header=column'` entries. */
  map?: HeaderMaps;
  /** The decimal mark of prices: '.' (default) or ','. */
  decimal?: '.' | ',';
  strictQuotes?: boolean;
  maxRecordBytes?: number;
  acceptUnterminated?: boolean;
  maxExpand?: number;
  /** `--columns`: a file without a header row. */
  columns?: string[];
  /** `--source NAME`: the dealer every car this run inserts or updates comes from. */
  source?: string;
  /** `--snapshot`: the input is the source's whole inventory: its cars not in it become sold. */
  snapshot?: boolean;
  /** `--max-missing PCT`: a snapshot that would mark more of the source's cars than this marks none. */
  maxMissing?: number;
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
  /** How long a batch is retried after transient database errors, in ms. */
  dbRetryWait: number;
  /** Replace the file named by --rejects if it exists. */
  overwrite?: boolean;
  /** Default lists older than this many days are removed. */
  keepLists: number;
  /** `--restart`: a paginated feed starts at its first page, wherever an earlier run stopped. */
  restart?: boolean;
  /** `--refetch`: a URL is fetched whole, without asking whether it changed since the last complete run. */
  refetch?: boolean;
}

/** Opens the source named on the command line; a URL starts as `start` says (resumed, or asked conditionally). */
export type SourceOpener = (source: string, o: ImportOptions, deps: Deps, start?: FeedStart) => Promise<RecordSource>;

export const openFileSource: SourceOpener = async (source, o, deps, start) => {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) || (o.format && o.format !== 'csv') || (!o.format && /\.(ndjson|jsonl|json)(\.gz)?$/i.test(source))) {
    // URLs, and NDJSON or paginated JSON from anywhere (by --format or by the file's extension).
    const { openRemoteSource } = await import('../sources/remote.js');
    return openRemoteSource(source, o, deps, start);
  }
  const input = await openInput(source, deps.stdin as Readable, { maxExpand: o.maxExpand });
  return csvSource(textOnly(input, o.encoding), csvOptions(source, o));
};

export function importCommand(source: string, o: ImportOptions, open: SourceOpener = openFileSource): Command {
  return (deps) => runImport(source, o, deps, open);
}

async function runImport(source: string, o: ImportOptions, deps: Deps, open: SourceOpener): Promise<Outcome> {
  const { report, log, signal } = deps;
  const rows = report.rows;
  for (const k of ['read', 'inserted', 'updated', 'unchanged', 'rejected', 'superseded']) rows[k] = 0;
  if (o.dryRun) rows.valid = 0;

  pruneLists(deps.home, o.keepLists);
  // A URL's state (where a paginated feed resumes, the validators to ask with); a dry run keeps none.
  const url = o.dryRun ? undefined : feedUrl(source);
  const feed = url
    ? await FeedRun.begin(deps.db.sql, report.runId, log, { key: 'import', url, restart: o.restart, refetch: o.refetch, wholeFeed: o.snapshot ? 'a --snapshot reads the whole feed' : undefined })
    : undefined;
  let src: RecordSource;
  try {
    src = await open(source, o, deps, feed?.start);
  } catch (e) {
    const rerun = feed?.rerun();
    if (rerun && e instanceof CarsError && e.code === 'REMOTE_FAILED') throw new CarsError('REMOTE_FAILED', `${e.message}; ${rerun}`, { cause: e });
    throw e;
  }
  feed?.opened(src.feed);
  if (feed?.notModified) {
    // 304: nothing changed since the last complete run; nothing is read.
    await src.close?.();
    report.extra.feed = feed.summary();
    return { status: 'ok' };
  }
  /** The pages of a paginated feed, tracked until committed, so that a rerun resumes where this run stopped. */
  const pages = feed?.paged ? feed : undefined;
  const columns = src.columns;
  let positions: number[];
  const columnMap = src.columnMap ?? new ColumnMap(o.map);
  if (src.columnMap) {
    positions = CAR_COLUMNS.map((_, i) => i); // JSON: keys are mapped as they come
  } else {
    let mapped: ReturnType<typeof mapHeader>;
    try {
      mapped = mapHeader(columns, columnMap, o.columns ? `${src.name}: --columns` : `${src.name}: line ${src.headerLine ?? 1}`, new Set(REJECT_COLUMNS));
    } catch (e) {
      await src.close?.(); // a URL's connection and HTTP figures
      throw e;
    }
    positions = mapped.positions;
    if (mapped.ignored.length) log.warn(`warning: ${src.name}: ignoring column${mapped.ignored.length > 1 ? 's' : ''} ${mapped.ignored.join(', ')} (name a column with --map 'Header=column')`);
  }
  const text = src.text;
  let noted = false;
  /** Says once, when the first bytes have been read, that the encoding was guessed. */
  const noteEncoding = () => {
    if (noted || !text?.decided) return;
    noted = true;
    if (text.detected) log.warn(`note: ${src.name}: not valid UTF-8; reading it as ${text.encoding} (pass --encoding to choose)`);
  };
  noteEncoding();
  const [vinAt, brandAt, modelAt, yearAt, priceAt, mileageAt, conditionAt, colorAt, listedAt] = positions;

  const runLabel = listLabel(report.runId, o.dryRun ? null : deps.db.target.display);
  // A rejects file is UTF-8; with a BOM when the input was in another encoding, so Excel reads it right.
  const bom = { bom: () => !!text && text.encoding !== 'utf-8' };
  const rejects = o.rejects ? new RejectsFile(o.rejects, columns, !!o.overwrite, bom) : new RejectsFile(defaultListPath(deps.home, 'rejects', runLabel, source, 'rejects'), columns, false, bom);
  // A snapshot lists what the input holds, refused rows too (a refused row is no proof of a sale).
  // (A dry run has no run id: its listed VINs go under a key of its own, its process id negated.)
  const listKey = o.dryRun ? -process.pid : report.runId;
  const listed = o.snapshot && listKey !== null ? new ListedVins(deps.db.sql, listKey) : undefined;
  const reject = async (values: Array<string | undefined>, where: number | string, error: string, raw = '') => {
    rows.rejected++;
    await rejects.add(values, where, error, raw);
    if (listed && vinAt >= 0) await listed.add(values[vinAt]);
  };

  const progress = await createProgress({ enabled: deps.progress.enabled, tty: deps.progress.tty, totalBytes: src.totalBytes, stream: deps.progress.stream, label: 'import' });
  const validation = { maxYear: nextYear(), decimal: o.decimal ?? '.' };
  const encoder = new RowEncoder([vinAt, brandAt, modelAt, yearAt, priceAt, mileageAt, conditionAt, colorAt, listedAt], validation.maxYear, validation.decimal);
  let committedRows = 0;
  let stopReason: 'interrupted' | 'max-rejects' | undefined;
  let snapshotRefused: CarsError | undefined;

  const sql = o.dryRun ? undefined : deps.db.sql;
  const counted = async (batch: RowBatch, r: BatchResult) => {
    rows.inserted += r.inserted;
    rows.updated += r.updated;
    rows.unchanged += r.unchanged;
    rows.superseded += r.superseded;
    committedRows += r.inserted + r.updated + r.unchanged + r.superseded;
    for (const f of r.refused) await reject(f.fields, f.where, f.error);
    pages?.batchCommitted(batch);
  };
  const sink = sql && importSink(sql, { runId: report.runId, source: o.source, seenRun: listed ? report.runId! : undefined }, counted);
  // Lanes by VIN hash, two batches each (one filling, one being written): memory is bounded by
  // 2 x workers x batch size rows, whatever the input.
  const pool =
    sink &&
    new WriterPool<RowBatch, LaneHint>(sink, {
      lanes: o.workers,
      batchesPerLane: 2,
      newBatch: () => new RowBatch(o.batchSize),
      firstHint: { expectUnchanged: false, expectNew: false },
      retry: { waitMs: o.dbRetryWait },
      warn: log.warn,
      measure: () => {
        const t0 = performance.now();
        const r0 = report.sample();
        return () => report.add('write', performance.now() - t0, report.sample() - r0);
      },
    });

  // The bar stays up until the end: its last steps (the last batches, ANALYZE) are named on it.
  try {
  let ord = 0;
  let remoteFailure: CarsError | undefined;
  let fatal: unknown;
  /** One record: rejected, or into its lane's batch; a promise when it must wait for a writer. */
  const handle = (item: SourceItem): Promise<void> | undefined => {
    rows.read++;
    if (item.kind === 'malformed') return reject(item.values ?? [], item.where, item.error, item.raw);
    let lane: number;
    if (item instanceof CsvRow && item.count === columns.length && encoder.encode(item)) {
      // The fast path: a plain CSV record, from its bytes to its COPY line.
      if (o.dryRun) {
        rows.valid++;
        return listed?.add(encoder.out.toString('latin1', 0, 17));
      }
      lane = pool!.lane(encoder.vinHash);
      pool!.batch(lane).addEncoded(ord++, item, encoder);
    } else {
      // Never stored with U+FFFD: the row is refused, and kept in the rejects file as Windows-1252 read it.
      if (item instanceof CsvRow && !item.isUtf8()) return reject(item.fieldsAs('windows-1252'), item.where, notUtf8(item, text));
      const values = item.values;
      if (values.length !== columns.length) return reject(values, item.where, `wrong number of fields: expected ${columns.length}, got ${values.length}`, values.join(','));
      // (An absent column's index is -1, and values[-1] is undefined: absent means empty.)
      const v = validateFields(values[vinAt], values[brandAt], values[modelAt], values[yearAt], values[priceAt], values[mileageAt], values[conditionAt], values[colorAt], values[listedAt], validation);
      if (!v.ok) return reject(values, item.where, v.error);
      if (o.dryRun) {
        rows.valid++;
        return listed?.add(v.row.vin);
      }
      const hash = fnv1a(v.row.vin);
      lane = pool!.lane(hash);
      pool!.batch(lane).add(ord++, item.where, v.row, values, hash);
    }
    pages?.rowAdded(pool!.batch(lane));
    return pool!.added(lane);
  };
  try {
    const stop = await readLoop({
      items: src.items as AsyncIterable<SourceItem[]>,
      report,
      signal,
      handle,
      afterRead: noteEncoding,
      afterChunk: () => {
        progress.update(rows.read, src.bytesRead());
        if (pool?.failed) return 'failed'; // (its failure is thrown once every lane has stopped, below)
        if (signal.aborted) return 'interrupted';
        if (o.maxRejects !== undefined && rows.rejected > o.maxRejects) return 'max-rejects';
        return undefined;
      },
    });
    if (stop === 'interrupted' || stop === 'max-rejects') stopReason = stop;
  } catch (e) {
    // A feed that broke: the rows read before it are still written (below), then it is reported
    // with the count of rows committed, so the operator knows that running again finishes the job.
    // A writer's failure is reported below, once every writer has stopped.
    if (e instanceof CarsError && e.code === 'REMOTE_FAILED') remoteFailure = e;
    else if (!pool?.failed) throw e;
  } finally {
    // Rows already read are written, so that every record read has its outcome.
    progress.step('writing the last batches');
    const t0 = performance.now();
    try {
      // Every writer stopped (after a failure too): from here on the counts are final.
      await pool?.close();
    } catch (e) {
      fatal = e;
    } finally {
      report.add('flush', performance.now() - t0);
      report.span('flush', t0);
      progress.update(rows.read, src.bytesRead());
      await feed?.settle();
      if (feed?.summary()) report.extra.feed = feed.summary();
      await src.close?.();
      await rejects.close(); // (last: a rejects file that could not be written fails the run, exit 2)
    }
  }
  if (fatal !== undefined) throw fatal instanceof BatchFailure ? failureMessage(fatal, committedRows, pool!.inDoubt) : fatal;
  if (remoteFailure) {
    const rerun = feed?.rerun() ?? 'run the same command again to finish';
    throw new CarsError('REMOTE_FAILED', `${remoteFailure.message}; ${committedRows} rows were committed before it; ${rerun}`, { cause: remoteFailure });
  }

  if (!o.dryRun && rows.inserted + rows.updated > 0) await analyzeIfNeeded(sql!, rows.inserted + rows.updated, report, () => progress.step('ANALYZE cars'));
  if (listed) {
    // Only a run that read and committed its whole input may mark cars sold.
    if (stopReason) report.extra.snapshot = { source: o.source, skipped: `the run stopped early (${stopReason}): nothing was marked` };
    else {
      progress.step('marking the cars the export no longer lists');
      await listed.flush();
      try {
        report.extra.snapshot = await report.phase('snapshot', () => finishSnapshot(deps.db.sql, o.source!, listKey!, o.maxMissing ?? 20, !!o.dryRun));
      } catch (e) {
        if (!(e instanceof CarsError && e.code === 'MAX_MISSING')) throw e;
        report.extra.snapshot = (e as unknown as { figures: unknown }).figures;
        snapshotRefused = e;
      }
    }
  }
  } finally {
    progress.stop();
    if (listed) await forgetListed(deps.db.sql, listKey!).catch(() => undefined);
  }

  const outcomes = o.dryRun ? rows.valid + rows.rejected : rows.inserted + rows.updated + rows.unchanged + rows.rejected + rows.superseded;
  const balanced = outcomes === rows.read;
  report.extra.accounting = o.dryRun
    ? `read ${rows.read} = valid ${rows.valid} + rejected ${rows.rejected}${balanced ? ' ✓' : ' ✗ MISMATCH'}`
    : `read ${rows.read} = inserted ${rows.inserted} + updated ${rows.updated} + unchanged ${rows.unchanged} + rejected ${rows.rejected} + superseded ${rows.superseded}${balanced ? ' ✓' : ' ✗ MISMATCH'}`;
  report.extra.rejects_file = rejects.written ? path.resolve(rejects.path) : null;
  if (text) {
    report.extra.encoding = encodingLabel(text);
    if (text.delimiter !== undefined) report.extra.delimiter = text.delimiter;
  }
  report.extra.columns = columnMap.columns();
  report.extra.ignored_columns = [...columnMap.ignored].filter((h) => !(REJECT_COLUMNS as readonly string[]).includes(normalizeHeader(h)));
  report.extra.dry_run = !!o.dryRun;
  if (!o.dryRun) report.extra.writers = o.workers;
  const secs = report.elapsedMs() / 1000;
  report.extra.rows_per_second = secs > 0 ? Math.round(rows.read / secs) : 0;
  if (!balanced) return { status: 'failed', error: new CarsError('INTERNAL', `row accounting does not add up: ${report.extra.accounting}`) };
  if (stopReason === 'interrupted') return { status: 'interrupted', error: new CarsError('INTERRUPTED', `interrupted after ${rows.read} rows; ${committedRows} committed`) };
  if (stopReason === 'max-rejects') {
    return { status: 'threshold', error: new CarsError('MAX_REJECTS', `stopped after ${rows.rejected} rejected rows (more than --max-rejects ${o.maxRejects}); rejects in ${rejects.path}`) };
  }
  if (rows.read > 0 && rows.rejected === rows.read) return { status: 'threshold', error: allRejected(rows.read, rejects) };
  if (snapshotRefused) return { status: 'threshold', error: snapshotRefused };
  await feed?.completed();
  return { status: 'ok' };
}

/** Why a record of a file read as UTF-8 is refused when its bytes are not UTF-8. */
function notUtf8(row: CsvRow, text: TextFacts | undefined): string {
  if (text && text.encoding !== 'utf-8') return `not valid ${text.encoding}: it holds a code unit that is not a character`;
  return notUtf8Message(row.firstInvalidByte());
}

/** Every row of a non-empty input was rejected: exit 3 rather than an "ok" that loaded nothing. */
export function allRejected(read: number, rejects: RejectsFile): CarsError {
  const first = rejects.first;
  const where = first && (/^\d+$/.test(first.where) ? `line ${first.where}` : first.where);
  const eg = first ? `; the first: ${where}: ${first.error}` : '';
  return new CarsError('ALL_REJECTED', `all ${read} row${read === 1 ? ' was' : 's were'} rejected, nothing was loaded; rejects in ${path.resolve(rejects.path)}${eg}`);
}

/**
 * The operator's message for a batch that could not be written, given once every writer has
 * stopped (another writer's batch may commit after this one failed): the rows committed by all
 * of them, and those in doubt.
 */
function failureMessage(f: BatchFailure, committed: number, inDoubt: number): CarsError {
  const maybe = inDoubt ? ` (and ${inDoubt} more rows were being committed as their connection dropped: they may have been committed too)` : '';
  return new CarsError(f.code, `${f.reason}: ${committed} rows were committed before it${maybe}; run the same command again to finish`, { cause: f.cause });
}

/**
 * ANALYZE after a load that changed a large share of the table, so plans see the new data. The
 * `analyze` phase is in the report only when it ran.
 */
async function analyzeIfNeeded(sql: Sql, changed: number, report: Deps['report'], onStart: () => void): Promise<void> {
  if (changed < 1000) return;
  const [r] = await sql`select greatest(reltuples, 0)::bigint as n from pg_class where oid = 'cars'::regclass`;
  const estimate = Number(r?.n ?? 0);
  if (changed <= 0.1 * Math.max(estimate, 1)) return;
  onStart();
  await report.phase('analyze', () => sql`analyze cars`);
}
