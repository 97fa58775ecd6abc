// cars import <path|-|url>: records -> read loop -> validate/encode -> writer lanes -> COPY + merge.
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CarsError } from '../errors.js';
import { openInput, textOnly } from '../sources/input.js';
import { csvOptions, csvSource, type RecordSource, type SourceItem } from '../sources/records.js';
import { CAR_COLUMNS, validateFields } from '../car.js';
import { ColumnMap, mapHeader, normalizeHeader, type HeaderMaps } from '../sources/column-map.js';
import { encodingLabel, notUtf8Message, type EncodingOption, type TextFacts } from '../sources/encoding.js';
import { nextYear } from '../car.js';
import { importSink, type BatchResult, type LaneHint } from '../import/writer.js';
import { BatchFailure, WriterPool } from '../pipeline/writer-pool.js';
import { RowBatch } from '../import/batch.js';
import { RowEncoder } from '../import/row-encoder.js';
import { CsvRow } from '../sources/csv-records.js';
import { fnv1a } from '../car.js';
import { RejectsFile, REJECT_COLUMNS } from '../import/rejects.js';
import { finishSnapshot, forgetListed, ListedVins } from '../import/snapshot.js';
import { defaultListPath, listLabel, pruneLists } from '../csv-list.js';
import { createProgress } from '../progress.js';
import { readLoop } from '../pipeline/read-loop.js';
import type { Command, Deps, Outcome } from '../runner.js';
import type { Sql } from '../db/pool.js';
import type { FeedStart } from '../sources/remote.js';
import { FeedRun, feedUrl } from './feed-run.js';
import { buildDeferredIndexes, deferIndexes } from '../db/deferred-indexes.js';

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
  /** `--defer-indexes`: build the secondary indexes of an empty table after the load (auto: a big file). */
  deferIndexes?: 'auto' | 'always' | 'never';
}

/**
 * From this input size (about 100k rows), a load into an empty table builds the secondary indexes
 * afterwards (auto). Measured on 15.20: 200k rows 4.8 / 5.2 s deferred against 8.0 / 5.8 s not,
 * 1M rows 17.6 s against 25.6 s; below it the load is short either way.
 */
export const DEFER_INDEXES_FROM_BYTES = 8 * 1024 * 1024;

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

/** The steps of an import; each is a method of ImportRun below. */
async function runImport(source: string, o: ImportOptions, deps: Deps, open: SourceOpener): Promise<Outcome> {
  const rows = deps.report.rows;
  for (const k of ['read', 'inserted', 'updated', 'unchanged', 'rejected', 'superseded']) rows[k] = 0;
  if (o.dryRun) rows.valid = 0;
  pruneLists(deps.home, o.keepLists);
  const opened = await openSource(source, o, deps, open);
  if (!opened) return { status: 'ok' }; // 304: not modified since the last complete run
  const run = new ImportRun(source, o, deps, opened.src, opened.feed);
  const progress = await createProgress({ enabled: deps.progress.enabled, tty: deps.progress.tty, totalBytes: opened.src.totalBytes, stream: deps.progress.stream, label: 'import' });
  // The bar stays up until the end: its last steps (the last batches, ANALYZE) are named on it.
  try {
    await run.load(progress);
    await run.analyze(progress);
    await run.markSnapshot(progress);
  } finally {
    progress.stop();
    await run.forgetListed();
  }
  return run.outcome();
}

/** The source, with a URL's feed state (where it resumes, what to ask); undefined after a 304. */
async function openSource(source: string, o: ImportOptions, deps: Deps, open: SourceOpener): Promise<{ src: RecordSource; feed: FeedRun | undefined } | undefined> {
  // A URL's state (where a paginated feed resumes, the validators to ask with); a dry run keeps none.
  const url = o.dryRun ? undefined : feedUrl(source);
  const feed = url
    ? await FeedRun.begin(deps.db.sql, deps.report.runId, deps.log, { key: 'import', url, restart: o.restart, refetch: o.refetch, wholeFeed: o.snapshot ? 'a --snapshot reads the whole feed' : undefined })
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
    await src.close?.();
    deps.report.extra.feed = feed.summary();
    return undefined;
  }
  return { src, feed };
}

/** Where each car column is in the source's records (-1: absent), and how headers were mapped. */
async function columnPositions(src: RecordSource, o: ImportOptions, log: Deps['log']): Promise<{ positions: number[]; columnMap: ColumnMap }> {
  if (src.columnMap) return { positions: CAR_COLUMNS.map((_, i) => i), columnMap: src.columnMap }; // JSON: keys are mapped as they come
  const columnMap = new ColumnMap(o.map);
  let mapped: ReturnType<typeof mapHeader>;
  try {
    mapped = mapHeader(src.columns, columnMap, o.columns ? `${src.name}: --columns` : `${src.name}: line ${src.headerLine ?? 1}`, new Set(REJECT_COLUMNS));
  } catch (e) {
    await src.close?.(); // a URL's connection and HTTP figures
    throw e;
  }
  if (mapped.ignored.length) log.warn(`warning: ${src.name}: ignoring column${mapped.ignored.length > 1 ? 's' : ''} ${mapped.ignored.join(', ')} (name a column with --map 'Header=column')`);
  return { positions: mapped.positions, columnMap };
}

type Progress = Awaited<ReturnType<typeof createProgress>>;

/** One import: records in, each rejected or into its lane's batch, the counts that add up. */
class ImportRun {
  private readonly rows: Record<string, number>;
  private positions: number[] = [];
  private columnMap: ColumnMap | undefined;
  private rejects!: RejectsFile;
  /** A snapshot's list of the VINs the input holds (refused rows too: a refused row is no proof of a sale). */
  private listed: ListedVins | undefined;
  /** Whose listed VINs these are: the run, or for a dry run (no run id) its process id negated. */
  private readonly listKey: number | null;
  private readonly validation: { maxYear: number; decimal: '.' | ',' };
  private encoder!: RowEncoder;
  private pool: WriterPool<RowBatch, LaneHint> | undefined;
  /** The pages of a paginated feed, tracked until committed, so that a rerun resumes where this run stopped. */
  private readonly pages: FeedRun | undefined;
  private committed = 0;
  private ord = 0;
  private stopReason: 'interrupted' | 'max-rejects' | undefined;
  private snapshotRefused: CarsError | undefined;
  private encodingNoted = false;
  /** The secondary indexes dropped for the load, built once its rows are in. */
  private deferred: string[] = [];

  constructor(
    private readonly source: string,
    private readonly o: ImportOptions,
    private readonly deps: Deps,
    private readonly src: RecordSource,
    private readonly feed: FeedRun | undefined,
  ) {
    this.rows = deps.report.rows;
    this.listKey = o.dryRun ? -process.pid : deps.report.runId;
    this.validation = { maxYear: nextYear(), decimal: o.decimal ?? '.' };
    this.pages = feed?.paged ? feed : undefined;
  }

  /** Reads the whole input (or up to a reason to stop) and writes what it holds; the counts are final after it. */
  async load(progress: Progress): Promise<void> {
    ({ positions: this.positions, columnMap: this.columnMap } = await columnPositions(this.src, this.o, this.deps.log));
    this.noteEncoding();
    this.encoder = new RowEncoder(this.positions, this.validation.maxYear, this.validation.decimal);
    this.rejects = this.rejectsFile();
    if (this.o.snapshot && this.listKey !== null) this.listed = new ListedVins(this.deps.db.sql, this.listKey);
    if (!this.o.dryRun) {
      if (this.deferWanted()) this.deferred = await this.deps.report.phase('defer', () => deferIndexes(this.deps.db.sql, this.deps.report.runId));
      this.pool = this.writerPool(this.deps.db.sql);
    }
    let remoteFailure: CarsError | undefined;
    let fatal: unknown;
    try {
      await this.read(progress);
    } catch (e) {
      // A feed that broke: the rows read before it are still written (below), then it is reported
      // with the count of rows committed, so the operator knows that running again finishes the job.
      // A writer's failure is reported below, once every writer has stopped.
      if (e instanceof CarsError && e.code === 'REMOTE_FAILED') remoteFailure = e;
      else if (!this.pool?.failed) throw e;
    } finally {
      fatal = await this.finishWrites(progress);
    }
    if (fatal !== undefined) throw fatal instanceof BatchFailure ? failureMessage(fatal, this.committed, this.pool!.inDoubt) : fatal;
    if (remoteFailure) {
      const rerun = this.feed?.rerun() ?? 'run the same command again to finish';
      throw new CarsError('REMOTE_FAILED', `${remoteFailure.message}; ${this.committed} rows were committed before it; ${rerun}`, { cause: remoteFailure });
    }
  }

  /** Whether to build the secondary indexes after the load, should the table be empty (deferIndexes checks). */
  private deferWanted(): boolean {
    const when = this.o.deferIndexes ?? 'auto';
    return when === 'always' || (when === 'auto' && (this.src.totalBytes ?? 0) >= DEFER_INDEXES_FROM_BYTES);
  }

  /** Builds the indexes this run deferred; a failure leaves them to the next cars command. */
  private async buildIndexes(progress: Progress): Promise<void> {
    const { deps } = this;
    progress.step(`building ${this.deferred.length} indexes of cars`);
    await deps.report.phase('indexes', () => buildDeferredIndexes(deps.db.sql)).catch((e) => {
      deps.log.warn(`warning: the indexes of cars deferred for the load were not built (${(e as Error)?.message ?? e}); the next cars command builds them`);
    });
  }

  private rejectsFile(): RejectsFile {
    const { o, deps, src } = this;
    const text = src.text;
    const runLabel = listLabel(deps.report.runId, o.dryRun ? null : deps.db.target);
    // A rejects file is UTF-8; with a BOM when the input was in another encoding, so Excel reads it right.
    const bom = { bom: () => !!text && text.encoding !== 'utf-8' };
    if (o.rejects) return new RejectsFile(o.rejects, src.columns, !!o.overwrite, bom);
    return new RejectsFile(defaultListPath(deps.home, 'rejects', runLabel, this.source, 'rejects'), src.columns, false, bom);
  }

  /** Lanes by VIN hash, two batches each (one filling, one being written): at most 2 x workers x batch size rows in memory. */
  private writerPool(sql: Sql): WriterPool<RowBatch, LaneHint> {
    const { o, deps, rows } = this;
    const report = deps.report;
    const counted = async (batch: RowBatch, r: BatchResult) => {
      rows.inserted += r.inserted;
      rows.updated += r.updated;
      rows.unchanged += r.unchanged;
      rows.superseded += r.superseded;
      this.committed += r.inserted + r.updated + r.unchanged + r.superseded;
      for (const f of r.refused) await this.reject(f.fields, f.where, f.error);
      this.pages?.batchCommitted(batch);
    };
    const sink = importSink(sql, { runId: report.runId, source: o.source, seenRun: this.listed ? report.runId! : undefined }, counted);
    return new WriterPool<RowBatch, LaneHint>(sink, {
      lanes: o.workers,
      batchesPerLane: 2,
      newBatch: () => new RowBatch(o.batchSize),
      firstHint: { expectUnchanged: false, expectNew: false },
      retry: { waitMs: o.dbRetryWait },
      warn: deps.log.warn,
      measure: () => {
        const t0 = performance.now();
        const r0 = report.sample();
        return () => report.add('write', performance.now() - t0, report.sample() - r0);
      },
    });
  }

  /** Says once, when the first bytes have been read, that the encoding was guessed. */
  private noteEncoding = (): void => {
    const text = this.src.text;
    if (this.encodingNoted || !text?.decided) return;
    this.encodingNoted = true;
    if (text.detected) this.deps.log.warn(`note: ${this.src.name}: not valid UTF-8; reading it as ${text.encoding} (pass --encoding to choose)`);
  };

  private async read(progress: Progress): Promise<void> {
    const { o, rows, src } = this;
    const signal = this.deps.signal;
    const stop = await readLoop({
      items: src.items as AsyncIterable<SourceItem[]>,
      report: this.deps.report,
      signal,
      handle: this.handle,
      afterRead: this.noteEncoding,
      afterChunk: () => {
        progress.update(rows.read, src.bytesRead());
        if (this.pool?.failed) return 'failed'; // (its failure is thrown once every lane has stopped)
        if (signal.aborted) return 'interrupted';
        if (o.maxRejects !== undefined && rows.rejected > o.maxRejects) return 'max-rejects';
        return undefined;
      },
    });
    if (stop === 'interrupted' || stop === 'max-rejects') this.stopReason = stop;
  }

  /** One record: rejected, or into its lane's batch; a promise when it must wait for a writer. */
  private handle = (item: SourceItem): Promise<void> | undefined => {
    const { rows, pool, positions: at, encoder } = this;
    rows.read++;
    if (item.kind === 'malformed') return this.reject(item.values ?? [], item.where, item.error, item.raw);
    const columns = this.src.columns;
    let lane: number;
    if (item instanceof CsvRow && item.count === columns.length && encoder.encode(item)) {
      // The fast path: a plain CSV record, from its bytes to its COPY line.
      if (!pool) {
        rows.valid++;
        return this.listed?.add(encoder.out.toString('latin1', 0, 17));
      }
      lane = pool.lane(encoder.vinHash);
      pool.batch(lane).addEncoded(this.ord++, item, encoder);
    } else {
      // Never stored with U+FFFD: the row is refused, and kept in the rejects file as Windows-1252 read it.
      if (item instanceof CsvRow && !item.isUtf8()) return this.reject(item.fieldsAs('windows-1252'), item.where, notUtf8(item, this.src.text));
      const values = item.values;
      if (values.length !== columns.length) return this.reject(values, item.where, `wrong number of fields: expected ${columns.length}, got ${values.length}`, values.join(','));
      // (An absent column's index is -1, and values[-1] is undefined: absent means empty.)
      const v = validateFields(values[at[0]], values[at[1]], values[at[2]], values[at[3]], values[at[4]], values[at[5]], values[at[6]], values[at[7]], values[at[8]], this.validation);
      if (!v.ok) return this.reject(values, item.where, v.error);
      if (!pool) {
        rows.valid++;
        return this.listed?.add(v.row.vin);
      }
      const hash = fnv1a(v.row.vin);
      lane = pool.lane(hash);
      pool.batch(lane).add(this.ord++, item.where, v.row, values, hash);
    }
    this.pages?.rowAdded(pool.batch(lane));
    return pool.added(lane);
  };

  private async reject(values: Array<string | undefined>, where: number | string, error: string, raw = ''): Promise<void> {
    this.rows.rejected++;
    await this.rejects.add(values, where, error, raw);
    const vinAt = this.positions[0];
    if (this.listed && vinAt >= 0) await this.listed.add(values[vinAt]);
  }

  /** Writes the rows already read (every record read has its outcome), then closes the source and lists; returns the writers' failure, if any. */
  private async finishWrites(progress: Progress): Promise<unknown> {
    const { deps, src, feed } = this;
    progress.step('writing the last batches');
    const t0 = performance.now();
    let fatal: unknown;
    try {
      // Every writer stopped (after a failure too): from here on the counts are final.
      await this.pool?.close();
    } catch (e) {
      fatal = e;
    } finally {
      deps.report.add('flush', performance.now() - t0);
      deps.report.span('flush', t0);
      progress.update(this.rows.read, src.bytesRead());
      if (this.deferred.length) await this.buildIndexes(progress);
      await feed?.settle();
      if (feed?.summary()) deps.report.extra.feed = feed.summary();
      await src.close?.();
      await this.rejects?.close(); // (last: a rejects file that could not be written fails the run, exit 2)
    }
    return fatal;
  }

  async analyze(progress: Progress): Promise<void> {
    const changed = this.rows.inserted + this.rows.updated;
    if (!this.o.dryRun && changed > 0) await analyzeIfNeeded(this.deps.db.sql, changed, this.deps.report, () => progress.step('ANALYZE cars'));
  }

  /** A snapshot marks the source's cars the input no longer lists; only a run that read and committed its whole input. */
  async markSnapshot(progress: Progress): Promise<void> {
    const { o, deps, listed } = this;
    if (!listed) return;
    if (this.stopReason) {
      deps.report.extra.snapshot = { source: o.source, skipped: `the run stopped early (${this.stopReason}): nothing was marked` };
      return;
    }
    progress.step('marking the cars the export no longer lists');
    await listed.flush();
    try {
      deps.report.extra.snapshot = await deps.report.phase('snapshot', () => finishSnapshot(deps.db.sql, o.source!, this.listKey!, o.maxMissing ?? 20, !!o.dryRun));
    } catch (e) {
      if (!(e instanceof CarsError && e.code === 'MAX_MISSING')) throw e;
      deps.report.extra.snapshot = (e as unknown as { figures: unknown }).figures;
      this.snapshotRefused = e;
    }
  }

  async forgetListed(): Promise<void> {
    if (this.listed) await forgetListed(this.deps.db.sql, this.listKey!).catch(() => undefined);
  }

  /** The accounting, the report's facts and the run's status. */
  async outcome(): Promise<Outcome> {
    const { o, rows, rejects, deps } = this;
    const extra = deps.report.extra;
    const outcomes = o.dryRun ? rows.valid + rows.rejected : rows.inserted + rows.updated + rows.unchanged + rows.rejected + rows.superseded;
    const balanced = outcomes === rows.read;
    extra.accounting = o.dryRun
      ? `read ${rows.read} = valid ${rows.valid} + rejected ${rows.rejected}${balanced ? ' ✓' : ' ✗ MISMATCH'}`
      : `read ${rows.read} = inserted ${rows.inserted} + updated ${rows.updated} + unchanged ${rows.unchanged} + rejected ${rows.rejected} + superseded ${rows.superseded}${balanced ? ' ✓' : ' ✗ MISMATCH'}`;
    extra.rejects_file = rejects.written ? path.resolve(rejects.path) : null;
    const text = this.src.text;
    if (text) {
      extra.encoding = encodingLabel(text);
      if (text.delimiter !== undefined) extra.delimiter = text.delimiter;
    }
    extra.columns = this.columnMap!.columns();
    extra.ignored_columns = [...this.columnMap!.ignored].filter((h) => !(REJECT_COLUMNS as readonly string[]).includes(normalizeHeader(h)));
    extra.dry_run = !!o.dryRun;
    if (!o.dryRun) extra.writers = o.workers;
    const secs = deps.report.elapsedMs() / 1000;
    extra.rows_per_second = secs > 0 ? Math.round(rows.read / secs) : 0;
    if (!balanced) return { status: 'failed', error: new CarsError('INTERNAL', `row accounting does not add up: ${extra.accounting}`) };
    if (this.stopReason === 'interrupted') return { status: 'interrupted', error: new CarsError('INTERRUPTED', `interrupted after ${rows.read} rows; ${this.committed} committed`) };
    if (this.stopReason === 'max-rejects') {
      return { status: 'threshold', error: new CarsError('MAX_REJECTS', `stopped after ${rows.rejected} rejected rows (more than --max-rejects ${o.maxRejects}); rejects in ${rejects.path}`) };
    }
    if (rows.read > 0 && rows.rejected === rows.read) return { status: 'threshold', error: allRejected(rows.read, rejects) };
    if (this.snapshotRefused) return { status: 'threshold', error: this.snapshotRefused };
    await this.feed?.completed();
    return { status: 'ok' };
  }
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
