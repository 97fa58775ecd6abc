// Where a remote feed stands (sql/010_feed_state.sql): the page a rerun resumes at, and the
// validators (ETag, Last-Modified) of the last complete run. One row per command and URL.
import type { Sql } from './pool.js';
import type { Validators } from '../http/client.js';

export interface FeedState {
  /** The first page the last run did not commit, when it stopped before the feed's end. */
  resume?: { url: string; page: number; run: number | null; validators?: Validators };
  /** The validators of the last complete run, and that run. */
  validators?: Validators;
  validatedRun: number | null;
}

/** Where a feed resumes: the first page not committed (the first page is 1). */
export interface ResumePoint {
  url: string;
  page: number;
}

function validators(etag: string | null, lastModified: string | null): Validators | undefined {
  return etag || lastModified ? { etag: etag ?? undefined, lastModified: lastModified ?? undefined } : undefined;
}

export async function loadFeedState(sql: Sql, command: string, url: string): Promise<FeedState | undefined> {
  const [r] = await sql<
    Array<{ resume_url: string | null; resume_page: number | null; resume_run: string | null; resume_etag: string | null; resume_last_modified: string | null; etag: string | null; last_modified: string | null; validated_run: string | null }>
  >`select resume_url, resume_page, resume_run, resume_etag, resume_last_modified, etag, last_modified, validated_run
    from feed_state where command = ${command} and url = ${url}`;
  if (!r) return undefined;
  return {
    resume: r.resume_url && r.resume_page ? { url: r.resume_url, page: r.resume_page, run: r.resume_run === null ? null : Number(r.resume_run), validators: validators(r.resume_etag, r.resume_last_modified) } : undefined,
    validators: validators(r.etag, r.last_modified),
    validatedRun: r.validated_run === null ? null : Number(r.validated_run),
  };
}

/**
 * Records where the run stands: `at` is the first page not committed (null, or the first page:
 * the next run starts at the first page). `first` are the validators of the first page of the
 * pages being resumed, kept until a run reaches the feed's end.
 */
export async function saveResumePoint(sql: Sql, command: string, url: string, at: ResumePoint | null, run: number | null, first: Validators | undefined): Promise<void> {
  const keep = at !== null && at.page > 1;
  const resumeUrl = keep ? at.url : null;
  const page = keep ? at.page : null;
  const runId = keep ? run : null;
  const etag = keep ? (first?.etag ?? null) : null;
  const lastModified = keep ? (first?.lastModified ?? null) : null;
  await sql`insert into feed_state as f (command, url, resume_url, resume_page, resume_run, resume_etag, resume_last_modified)
    values (${command}, ${url}, ${resumeUrl}, ${page}, ${runId}, ${etag}, ${lastModified})
    on conflict (command, url) do update set resume_url = excluded.resume_url, resume_page = excluded.resume_page,
      resume_run = excluded.resume_run, resume_etag = excluded.resume_etag, resume_last_modified = excluded.resume_last_modified, updated_at = now()`;
}

/** A complete run: its (first page's) validators are the feed's from now on; nothing to resume. */
export async function saveValidators(sql: Sql, command: string, url: string, v: Validators | undefined, run: number | null): Promise<void> {
  const etag = v?.etag ?? null;
  const lastModified = v?.lastModified ?? null;
  const runId = v ? run : null;
  await sql`insert into feed_state as f (command, url, etag, last_modified, validated_run)
    values (${command}, ${url}, ${etag}, ${lastModified}, ${runId})
    on conflict (command, url) do update set etag = excluded.etag, last_modified = excluded.last_modified, validated_run = excluded.validated_run,
      resume_url = null, resume_page = null, resume_run = null, resume_etag = null, resume_last_modified = null, updated_at = now()`;
}

/**
 * Writes resume points as the run commits pages, one statement at a time: a point that comes while
 * one is being written waits, and only the latest is written then. A point that lags behind the
 * truth is safe (the rerun reads a committed page again and finds it unchanged); one ahead of it
 * never happens, since a point is only given once its pages are committed.
 */
export class ResumeRecorder {
  private writing: Promise<void> | undefined;
  private wanted: { at: ResumePoint | null } | undefined;
  private written: string | undefined;
  private failure: unknown;

  constructor(
    private readonly save: (at: ResumePoint | null) => Promise<void>,
    private readonly warn: (message: string) => void,
  ) {}

  record(at: ResumePoint | null): void {
    const key = at ? `${at.page} ${at.url}` : '';
    if (key === this.written && !this.writing) return;
    this.wanted = { at };
    this.writing ??= this.drain();
  }

  /** Waits for the last point given to be written; says so (once) if a write failed. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.wanted) {
        const { at } = this.wanted;
        this.wanted = undefined;
        const key = at ? `${at.page} ${at.url}` : '';
        if (key === this.written) continue;
        try {
          await this.save(at);
          this.written = key;
        } catch (e) {
          if (this.failure === undefined) this.warn(`warning: could not record where the feed stands (${(e as Error)?.message ?? e}); a rerun may read pages already committed again`);
          this.failure ??= e;
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
