// cars sync-prices --feed <url|path> | --api <base-url>: bring prices in line with a price source.
// The advisory lock first (one run per shard), then the feed rows or the cars through the price
// writers, then the counts, the lists and the exit status. See src/sync/ for the parts.
import path from 'node:path';
import type { Readable } from 'node:stream';
import postgres from 'postgres';
import { CarsError, isCarsError } from '../errors.js';
import { databaseError, isConnectionError } from '../db/pool.js';
import { createHttpClient, type HttpClient } from '../http/client.js';
import { RejectsFile } from '../import/rejects.js';
import { allRejected } from './import.js';
import { createProgress, noProgress, type Progress } from '../progress.js';
import type { Command, Deps, Outcome } from '../runner.js';
import type { HttpFigures } from '../report.js';
import type { SyncOptions } from './contracts.js';
import { priceUrl, syncFromApi, type ApiTally } from '../sync/from-api.js';
import { syncFromFeed, type FeedTally } from '../sync/from-feed.js';
import { isUrl, openFeed } from '../sync/feed.js';
import { CsvList, defaultListPath, listLabel, pruneLists } from '../csv-list.js';
import { encodingLabel } from '../sources/encoding.js';
import { acquireSyncLock, type SyncLock } from '../sync/lock.js';
import { effectiveShard, shardLabel } from '../sync/shard.js';
import { PriceWriter } from '../sync/writer.js';
import { collapseRepeats, type Collapsed } from '../sync/repeats.js';
import { namedQuery } from '../db/queries.js';
import { stopRefetchingTypes } from '../sync/driver.js';
import { FeedRun, feedUrl } from './feed-run.js';

export const SYNC_ROWS = ['checked', 'changed', 'unchanged', 'unknown', 'failed', 'rejected', 'superseded'] as const;

/** How many unknown VINs, failures and dry-run changes the report shows (the files hold them all). */
const SHOW = 10;

export function syncPricesCommand(o: SyncOptions): Command {
  return (deps) => runSync(o, deps);
}

/** The price service's base URL, checked at the door; no trailing slash. */
export function apiBase(api: string): string {
  let u: URL;
  try {
    u = new URL(api);
  } catch {
    throw new CarsError('USAGE', `--api ${api} is not a URL (expected http(s)://host[:port][/path])`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CarsError('USAGE', `--api ${api}: only http and https URLs can be used`);
  if (u.search || u.hash) throw new CarsError('USAGE', `--api ${api}: give the base URL without ?query or #fragment; cars adds /cars/<vin>/price`);
  return u.href.replace(/\/+$/, '');
}

/** The steps of a sync; each is a method of SyncRun below. */
async function runSync(o: SyncOptions, deps: Deps): Promise<Outcome> {
  for (const k of SYNC_ROWS) deps.report.rows[k] = 0;
  if (!o.feed === !o.api) throw new CarsError('USAGE', 'cars sync-prices needs exactly one of --feed <url|path> or --api <base-url>');
  if (o.feed && o.condition) throw new CarsError('USAGE', '--condition narrows the cars asked with --api; a --feed names its own cars');
  const run = new SyncRun(o, deps);
  await run.sync();
  run.tell();
  return run.outcome();
}

/** One sync: the lock, the prices through the writers, the lists, the counts that add up. */
class SyncRun {
  private readonly base: string | undefined;
  private readonly source: string;
  private readonly shard: ReturnType<typeof effectiveShard>;
  private readonly dryRun: boolean;
  private readonly runLabel: string;
  private readonly failures: CsvList;
  private readonly unknown: CsvList;
  private rejects: RejectsFile | undefined;
  private http: HttpClient | undefined;
  private readonly writerSql: ReturnType<Deps['db']['extraPool']>;
  private readonly writer: PriceWriter;
  private readonly feedTally: FeedTally = { checked: 0, rejected: 0, skipped: 0, interrupted: false };
  private readonly apiTally: ApiTally = { checked: 0, answered: 0, unknown: 0, failed: 0, skipped: 0, stop: undefined };
  /** A VIN the feed listed in two batches: one history row, the earlier counted superseded (see repeats.ts). */
  private collapsed: Collapsed = { superseded: 0, backToStart: 0 };
  private progress: Progress = noProgress; // made once the feed is open (its size is known then)
  private feedRun: FeedRun | undefined;
  private balanced = false;
  private failureRate = 0;

  constructor(
    private readonly o: SyncOptions,
    private readonly deps: Deps,
  ) {
    const { report, db, log } = deps;
    this.base = o.api ? apiBase(o.api) : undefined;
    this.source = (o.feed ?? o.api)!;
    this.shard = effectiveShard(o.shard);
    this.dryRun = !!o.dryRun;
    stopRefetchingTypes(db.sql);
    report.extra.dry_run = this.dryRun;
    report.extra.mode = o.feed ? 'feed' : 'api';
    report.extra.shard = shardLabel(this.shard);
    pruneLists(deps.home, o.keepLists);
    this.runLabel = listLabel(report.runId, db.target);
    this.failures = new CsvList(o.failures ?? defaultListPath(deps.home, 'failures', this.runLabel, this.source, 'failures'), ['vin', 'url', 'error'], SHOW, !!o.failures && !!o.overwrite);
    this.unknown = new CsvList(defaultListPath(deps.home, 'unknown', this.runLabel, this.source, 'unknown'), o.feed ? ['vin', 'price', 'line'] : ['vin', 'url'], SHOW);
    // The writers' own connections, which start with price_update's settings (see its "Plan"):
    // startup settings rather than SET LOCAL keep each batch one statement, with no transaction to
    // open or roll back (see PriceWriter.update()). Connected in sync().
    this.writerSql = db.extraPool(o.workers, namedQuery('price_update').settings);
    this.writer = new PriceWriter(
      this.writerSql,
      { workers: o.workers, batchSize: o.batchSize, runId: report.runId, dryRun: this.dryRun, maxBatchAgeMs: o.api ? 5000 : undefined, keepChanges: SHOW, retryWaitMs: o.dbRetryWait },
      {
        log,
        unknown: (vin, price, line) => this.unknown.add(o.feed ? [vin, price, String(line)] : [vin, priceUrl(this.base!, vin)]),
        timing: (ms) => report.add(this.dryRun ? 'compare' : 'write', ms),
      },
    );
  }

  /** Takes the lock (dry runs write nothing: they neither take nor wait for it), syncs, closes everything. */
  async sync(): Promise<void> {
    const { o, deps } = this;
    const { report, db, log } = deps;
    const lock: SyncLock | undefined = this.dryRun
      ? undefined
      : await report.phase('lock', () => acquireSyncLock(db.target, this.shard, { runId: report.runId })).catch(async (e) => {
          await this.writerSql.end({ timeout: 0 }).catch(() => undefined); // (never connected)
          throw e;
        });
    let listError: unknown;
    try {
      await this.writerSql`select 1`;
      stopRefetchingTypes(this.writerSql);
      if (o.api || isUrl(this.source)) {
        this.http = createHttpClient({ rate: o.rate, concurrency: o.concurrency, retries: o.retries, retryOn: o.retryOn, timeoutMs: o.timeout, userAgent: 'cars sync-prices' }, log);
      }
      if (o.feed) await this.fromFeed();
      else await this.fromApi();
    } catch (e) {
      // A connection lost outside the writers' retries, or a statement refused: exit 5 with the
      // target, and what was committed (the writers have settled: every exit path closes them first).
      if (!isCarsError(e) && (isConnectionError(e) || e instanceof postgres.PostgresError)) {
        const d = databaseError(e, db.target);
        throw this.dryRun ? d : new CarsError(d.code, `${d.message}; ${this.writer.committedSoFar()}`, { cause: e });
      }
      throw e;
    } finally {
      this.tally();
      this.progress.stop();
      await this.writer.cleanup();
      await this.writerSql.end({ timeout: 5 }).catch(() => undefined);
      // A list that could not be written fails the run (exit 2), once everything else is closed.
      for (const list of [this.rejects, this.failures, this.unknown]) await list?.close().catch((e) => (listError ??= e));
      if (this.http) {
        report.http = this.http.stats();
        await this.http.close().catch(() => undefined);
      }
      if (lock) {
        if (!(await lock.stillHeld())) log.warn('warning: the connection holding the sync lock was lost during the run; another sync may have overlapped this one');
        await lock.release();
      }
      report.extra.rejects_file = this.rejects?.written ? path.resolve(this.rejects.path) : null;
      report.extra.failures_file = this.failures.written;
      report.extra.unknown_file = this.unknown.written;
    }
    if (listError) throw listError;
  }

  /** The rows of a feed (a file, stdin or a URL, asked whether it changed since the last complete run). */
  private async fromFeed(): Promise<void> {
    const { o, deps, shard, writer } = this;
    const { report, db, log } = deps;
    // A feed URL is asked whether it changed since the last complete run (per shard: each shard's run completes on its own).
    const url = !this.dryRun ? feedUrl(o.feed!) : undefined;
    if (url) this.feedRun = await FeedRun.begin(db.sql, report.runId, log, { key: shard ? `sync-prices ${shardLabel(shard)}` : 'sync-prices', url, refetch: o.refetch });
    const feed = await report.phase('open', () =>
      openFeed(this.source, { stdin: deps.stdin as Readable, http: this.http, warn: log.warn, encoding: o.encoding, delimiter: o.delimiter, map: o.map, decimal: o.decimal, strictQuotes: o.strictQuotes, maxRecordBytes: o.maxRecordBytes, acceptUnterminated: o.acceptUnterminated, ifChanged: this.feedRun?.start.ifChanged }),
    );
    // (A 304 gives a feed without rows: the run ends at once, every count 0.)
    this.feedRun?.opened({ paged: false, notModified: !!feed.notModified, validators: feed.validators });
    if (this.feedRun?.notModified) report.extra.feed = this.feedRun.summary();
    const text = feed.text;
    const bom = { bom: () => text.encoding !== 'utf-8' };
    this.rejects = o.rejects ? new RejectsFile(o.rejects, feed.columns, !!o.overwrite, bom) : new RejectsFile(defaultListPath(deps.home, 'rejects', this.runLabel, this.source, 'rejects'), feed.columns, false, bom);
    this.progress = await createProgress({ ...deps.progress, totalBytes: feed.totalBytes, label: 'sync-prices' });
    try {
      await syncFromFeed({ feed, remote: isUrl(this.source), shard, writer, rejects: this.rejects, report, progress: this.progress, signal: deps.signal }, this.feedTally);
      if (!o.dryRun && report.runId !== null && writer.changed > 1) {
        // Tidying the history is not worth failing a run whose prices are committed: on an error
        // it is left as it is (a row per batch), and the counts say what the writers did.
        this.collapsed = await report.phase('history', () => collapseRepeats(db.sql, report.runId!)).catch((e) => {
          log.warn(`warning: the history rows of VINs the feed repeated were left one per batch (${(e as Error)?.message ?? e})`);
          return { superseded: 0, backToStart: 0 };
        });
      }
    } finally {
      if (text.decided) report.extra.encoding = encodingLabel(text);
      if (text.detected) log.warn(`note: ${feed.name}: not valid UTF-8; read as ${text.encoding} (pass --encoding to choose)`);
    }
  }

  /** Every car of the table (of this shard, in this condition), asked of the price service. */
  private async fromApi(): Promise<void> {
    const { o, deps } = this;
    const { report, db } = deps;
    const [{ n }] = await report.phase('count', () => (o.condition ? db.sql`select count(*)::bigint as n from cars where condition = ${o.condition}` : db.sql`select count(*)::bigint as n from cars`));
    const total = Number(n);
    report.extra.cars_in_table = total;
    this.progress = await createProgress({ ...deps.progress, totalBytes: undefined, label: 'sync-prices' });
    const t0 = performance.now();
    try {
      await syncFromApi(
        {
          base: this.base!,
          sql: db.sql,
          http: this.http!,
          condition: o.condition,
          shard: this.shard,
          writer: this.writer,
          failures: this.failures,
          unknown: this.unknown,
          // Over this many failures the rate is over the limit however the rest goes (total >= checked).
          maxFailures: Math.floor((total * o.maxFailureRate) / 100),
          // Twice the requests in flight keeps the client busy while answers are written; no more, so
          // an interrupt waits for little.
          maxInFlight: 2 * o.concurrency,
          report,
          progress: this.progress,
          signal: deps.signal,
        },
        this.apiTally,
      );
    } finally {
      report.add('fetch', performance.now() - t0);
    }
  }

  /** The counts from the tallies and the writers (also after a failure, for the report). */
  private tally(): void {
    const { o, writer, feedTally, apiTally, collapsed } = this;
    const { rows, extra } = this.deps.report;
    rows.checked = o.feed ? feedTally.checked : apiTally.checked;
    rows.changed = writer.changed - collapsed.superseded - collapsed.backToStart;
    rows.unknown = writer.unknown + apiTally.unknown;
    rows.failed = apiTally.failed;
    rows.rejected = feedTally.rejected;
    rows.superseded = writer.superseded + collapsed.superseded;
    rows.unchanged = rows.checked - rows.changed - rows.unknown - rows.failed - rows.superseded;
    extra.skipped_other_shards = o.feed ? feedTally.skipped : apiTally.skipped;
    extra.committed_changes = writer.committed;
  }

  /** The accounting in the report, and what the operator should know: the dry run's changes, unknown cars, failures. */
  tell(): void {
    const { o, deps, writer, unknown, failures } = this;
    const { report, log } = deps;
    const rows = report.rows;
    const secs = report.elapsedMs() / 1000;
    report.extra.rows_per_second = secs > 0 ? Math.round(rows.checked / secs) : 0;
    this.balanced = rows.unchanged >= 0 && writer.done + this.apiTally.unknown + this.apiTally.failed === rows.checked;
    report.extra.accounting =
      `checked ${rows.checked} = changed ${rows.changed} + unchanged ${rows.unchanged} + unknown ${rows.unknown} + failed ${rows.failed} + superseded ${rows.superseded}${this.balanced ? ' ✓' : ' ✗ MISMATCH'}` +
      (o.feed ? `; ${rows.rejected} feed row${rows.rejected === 1 ? '' : 's'} rejected` : '');
    const failedForRate = o.feed ? rows.rejected : rows.failed;
    const outOf = o.feed ? rows.checked + rows.rejected : rows.checked;
    this.failureRate = outOf > 0 ? (100 * failedForRate) / outOf : 0;
    report.extra.failure_rate_percent = Math.round(this.failureRate * 1000) / 1000;

    if (this.dryRun) {
      report.extra.first_changes = writer.firstChanges;
      if (writer.firstChanges.length) {
        log.info(`dry run: ${rows.changed} price${rows.changed === 1 ? '' : 's'} would change, nothing was written; ${rows.changed > SHOW ? `the first ${SHOW}` : 'they are'}:`);
        const w = Math.max(...writer.firstChanges.map((c) => c.old.length));
        for (const c of writer.firstChanges) log.info(`  ${c.vin}  ${c.old.padStart(w)} -> ${c.new}`);
      } else log.info('dry run: no price would change, nothing was written');
    }
    if (unknown.count) {
      report.extra.first_unknown = unknown.firstRows();
      const what = o.feed ? 'feed VINs are not in the table' : 'cars are unknown to the price service (404)';
      const eg = unknown.first.slice(0, 5).map((c) => (o.feed ? `${c[0]} (line ${c[2]})` : c[0]));
      log.info(`${unknown.count} ${what}, e.g. ${eg.join(', ')}${unknown.count > eg.length ? ', ...' : ''}; all of them in ${unknown.written}`);
    }
    if (failures.count) {
      report.extra.first_failures = failures.firstRows();
      log.info(`${failures.count} car${failures.count === 1 ? '' : 's'} kept their price because it could not be fetched, e.g.:`);
      for (const [vin, url, error] of failures.first.slice(0, 5)) log.info(`  ${vin}  ${url}: ${error}`);
    }
  }

  /** The run's status and exit: interrupted, the service down, rows over a threshold, or ok. */
  async outcome(): Promise<Outcome> {
    const { o, writer, apiTally, rejects } = this;
    const { rows, extra } = this.deps.report;
    if (!this.balanced) return { status: 'failed', error: new CarsError('INTERNAL', `the counts do not add up: ${extra.accounting}`) };
    if (this.feedTally.interrupted || apiTally.stop === 'interrupted') {
      return { status: 'interrupted', error: new CarsError('INTERRUPTED', `interrupted after ${rows.checked} checked; ${writer.committed} price change${writer.committed === 1 ? '' : 's'} committed`) };
    }
    if (o.api && rows.failed > 0 && apiTally.answered === 0) {
      // Not one answer: the price service itself failed (exit 4), not some cars (exit 3).
      const [vin, url, error] = this.failures.first[0];
      return { status: 'failed', error: new CarsError('REMOTE_FAILED', `the price service answered none of the ${rows.failed} cars asked${apiTally.stop === 'down' ? ' (stopped early)' : ''}; e.g. ${vin}: ${url}: ${error}; all of them in ${extra.failures_file}`) };
    }
    if (o.feed && rejects && rows.rejected > 0 && rows.checked === 0) return { status: 'threshold', error: allRejected(rows.rejected, rejects) };
    if (apiTally.stop === 'failures' || this.failureRate > o.maxFailureRate) {
      const early = apiTally.stop === 'failures' ? ' (stopped early: the rate could no longer end below the limit)' : '';
      const where = o.feed ? `bad rows are in ${extra.rejects_file}` : `the failures are in ${extra.failures_file}`;
      const outOf = o.feed ? rows.checked + rows.rejected : rows.checked;
      const noun = o.feed ? `of ${outOf} feed rows were rejected` : `of ${outOf} cars failed`;
      return {
        status: 'threshold',
        error: new CarsError('MAX_FAILURE_RATE', `${extra.failure_rate_percent}% ${noun}, more than --max-failure-rate ${o.maxFailureRate}%${early}; ${where}${o.api ? apiAdvice(this.deps.report.http, o) : ''}`),
      };
    }
    await this.feedRun?.completed();
    return { status: 'ok' };
  }
}

/**
 * What to change when cars of the price API failed: a lower --rate when the service said 429 (too
 * many requests), else more --retries. (A bare 503 lowers the rate too, but a car whose price
 * answers 503 for good is no sign of a rate that is too high.)
 */
function apiAdvice(http: HttpFigures | undefined, o: SyncOptions): string {
  if (http && http.throttled > 0 && (http.statuses['429'] ?? 0) > 0) {
    return `; the service throttled ${http.throttled} answers while the rate went down to ${http.rate.lowest} req/s: try --rate ${Math.max(1, Math.floor(http.rate.lowest))} (or more --retries than ${o.retries})`;
  }
  return `; if the service fails now and then, more --retries than ${o.retries} may ride it out`;
}
