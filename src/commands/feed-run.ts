// What the database keeps about a remote feed, applied to one run of `cars import <url>` or
// `cars sync-prices --feed <url>`: where a paginated feed resumes after a run that stopped early,
// and the validators (ETag, Last-Modified) of the last complete run, asked with so that a 304
// ends the run at once. Dry runs neither use nor keep any of it (the caller makes no FeedRun).
import { splitUrl } from '../sources/json-pages.js';
import { loadFeedState, ResumeRecorder, saveResumePoint, saveValidators, type FeedState } from '../db/feed-state.js';
import type { Sql } from '../db/pool.js';
import type { Validators } from '../http/client.js';
import type { Logger } from '../logger.js';
import { PageLedger } from '../pipeline/page-ledger.js';
import type { FeedStart } from '../sources/remote.js';
import type { FeedFacts } from '../sources/records.js';

export interface FeedRunOptions {
  /** What the state is kept under: 'import', or 'sync-prices' with its shard. */
  key: string;
  /** The feed's URL, normalised (see feedUrl). */
  url: string;
  /** --restart: start at the first page whatever an earlier run left. */
  restart?: boolean;
  /** --refetch: ask without the stored validators. */
  refetch?: boolean;
  /** Why this run must read the whole feed (a snapshot), if it must: it does not resume. */
  wholeFeed?: string;
}

/** The URL a feed's state is kept under: an http(s) URL without its #fragment; undefined for anything else. */
export function feedUrl(source: string): string | undefined {
  const u = splitUrl(source);
  return u && u.head + u.rest;
}

/** The `feed` object of the JSON summary. */
export interface FeedSummary {
  /** The server answered 304: nothing was read. */
  not_modified?: true;
  /** The complete run whose validators were asked with (null: pruned from the history). */
  since_run?: number | null;
  resumed_at_page?: number;
  resumed_from_run?: number | null;
  /** This run stopped before the feed's end: the page a rerun resumes at. */
  resume_at_page?: number;
}

export class FeedRun {
  /** How the source starts: the page to resume at, or the validators to ask with. */
  readonly start: FeedStart;
  private readonly ledger: PageLedger;
  private readonly recorder: ResumeRecorder;
  private facts: FeedFacts | undefined;
  /** The first page's validators of the pages this run reads to the end (an earlier run's, when resuming). */
  private firstValidators: Validators | undefined;
  private readonly resumedFrom: { page: number; run: number | null } | undefined;

  static async begin(sql: Sql, runId: number | null, log: Logger, o: FeedRunOptions): Promise<FeedRun> {
    return new FeedRun(sql, runId, log, o, await loadFeedState(sql, o.key, o.url));
  }

  private constructor(
    private readonly sql: Sql,
    private readonly runId: number | null,
    private readonly log: Logger,
    private readonly o: FeedRunOptions,
    private readonly state: FeedState | undefined,
  ) {
    const r = state?.resume;
    const byRun = (run: number | null) => (run === null ? 'an earlier run' : `run ${run}`);
    let resume = r;
    if (r && o.restart) {
      log.warn(`note: ${o.url}: starting over at its first page (--restart; ${byRun(r.run)} had stopped at page ${r.page})`);
      resume = undefined;
    } else if (r && o.wholeFeed) {
      log.warn(`note: ${o.url}: ${byRun(r.run)} stopped at page ${r.page}, but ${o.wholeFeed}: starting at its first page`);
      resume = undefined;
    } else if (r) {
      log.warn(`note: resuming ${o.url} at page ${r.page} (${byRun(r.run)} stopped there); --restart starts over`);
    }
    this.resumedFrom = resume && { page: resume.page, run: resume.run };
    this.firstValidators = resume?.validators;
    this.ledger = new PageLedger(resume ? { url: resume.url, page: resume.page } : { url: o.url, page: 1 });
    this.recorder = new ResumeRecorder((at) => saveResumePoint(sql, o.key, o.url, at, runId, this.firstValidators), log.warn);
    this.start = {
      resume: resume && { url: resume.url, page: resume.page },
      ifChanged: resume || o.refetch ? undefined : state?.validators,
      onPageRead: (next) => {
        if (this.ledger.pageRead(next)) this.recorder.record(this.ledger.point());
      },
    };
  }

  /** The source is open: what it said about the feed. */
  opened(facts: FeedFacts | undefined): void {
    this.facts = facts;
    if (!this.resumedFrom) this.firstValidators = facts?.validators;
  }

  /** A paginated feed: its rows are tracked by page (rowAdded, batchCommitted). */
  get paged(): boolean {
    return !!this.facts?.paged;
  }

  get notModified(): boolean {
    return !!this.facts?.notModified;
  }

  /** A row of the page being read went into `batch` (paginated feeds). */
  rowAdded(batch: object): void {
    this.ledger.rowAdded(batch);
  }

  /** `batch` was committed (paginated feeds). */
  batchCommitted(batch: object): void {
    if (this.ledger.batchCommitted(batch)) this.recorder.record(this.ledger.point());
  }

  /**
   * For the report and the JSON summary (`feed`): not modified since which run, or resumed at which
   * page, and where a rerun resumes; undefined when there is nothing to say.
   */
  summary(): FeedSummary | undefined {
    if (this.notModified) return { not_modified: true, since_run: this.state?.validatedRun ?? null };
    const out: FeedSummary = {};
    if (this.resumedFrom) Object.assign(out, { resumed_at_page: this.resumedFrom.page, resumed_from_run: this.resumedFrom.run });
    const next = this.rerunPoint();
    if (next) out.resume_at_page = next.page;
    return Object.keys(out).length ? out : undefined;
  }

  /** Where a rerun resumes, when this run stopped past the first page of a paginated feed. */
  private rerunPoint(): { url: string; page: number } | undefined {
    if (!this.paged && !this.resumedFrom) return undefined;
    const p = this.ledger.point();
    return p && p.page > 1 ? p : undefined;
  }

  /** What a rerun of the same command does, for a failure's message; undefined when it simply starts again. */
  rerun(): string | undefined {
    const p = this.rerunPoint();
    return p && `a rerun of the same command resumes at page ${p.page} (${p.url}); --restart starts over`;
  }

  /**
   * Once every writer has stopped, however the run ended: records where a rerun starts (nothing
   * to resume once the feed was read to its end). Never throws: a failure to record is a warning.
   */
  async settle(): Promise<void> {
    if (!this.paged) return;
    this.recorder.record(this.ledger.point());
    await this.recorder.flush();
  }

  /** The run completed (status ok): its validators are the feed's from now on. Never throws. */
  async completed(): Promise<void> {
    if (this.notModified || (this.paged && !this.ledger.complete)) return;
    const v = this.paged ? this.firstValidators : this.facts?.validators;
    if (!v && !this.state) return; // nothing kept, nothing to keep
    try {
      await saveValidators(this.sql, this.o.key, this.o.url, v, this.runId);
    } catch (e) {
      this.log.warn(`warning: could not record the validators of ${this.o.url} (${(e as Error)?.message ?? e}); the next run fetches it whole`);
    }
  }

}
