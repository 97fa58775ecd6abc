// Which pages of a paginated feed are committed, so a rerun can resume at the first one that is
// not. The batch writers commit rows out of page order (several lanes at once), so a page counts
// as committed only when every row of it and of every page before it has been: the ledger keeps
// the pages from the lowest one not committed on, each with its rows still waiting for a commit,
// and for each batch the pages its rows came from. Pure: the import tells it what happened.

/** Where a feed resumes: the first page not committed (the first page is 1). */
export interface PagePoint {
  url: string;
  page: number;
}

interface LedgerPage {
  page: number;
  url: string;
  /** Rows of the page handed to a writer and not committed yet. */
  pending: number;
  /** Every item of the page has been handed on (to a writer, or to the rejects). */
  read: boolean;
}

export class PageLedger {
  /** From the lowest page not committed to the page being read, in order. */
  private readonly pages: LedgerPage[];
  /** Per batch: page, rows, page, rows, ... (its rows' pages, in order). */
  private readonly batches = new Map<object, number[]>();
  private lastBatch: object | undefined;
  private lastRuns: number[] | undefined;
  private ended = false;

  constructor(first: PagePoint) {
    this.pages = [{ page: first.page, url: first.url, pending: 0, read: false }];
  }

  /** A row of the page being read went into `batch`. */
  rowAdded(batch: object): void {
    const page = this.pages[this.pages.length - 1];
    if (!page || this.ended) throw new Error('a row after the end of the feed');
    page.pending++;
    let runs = batch === this.lastBatch ? this.lastRuns : this.batches.get(batch);
    if (!runs) {
      runs = [];
      this.batches.set(batch, runs);
    }
    this.lastBatch = batch;
    this.lastRuns = runs;
    const n = runs.length;
    if (n > 0 && runs[n - 2] === page.page) runs[n - 1]++;
    else runs.push(page.page, 1);
  }

  /** `batch` was committed (its rows written or rejected). Returns whether the resume point moved. */
  batchCommitted(batch: object): boolean {
    const runs = this.batches.get(batch);
    if (!runs) return false;
    this.batches.delete(batch);
    if (this.lastBatch === batch) this.lastBatch = this.lastRuns = undefined;
    const low = this.pages[0]?.page ?? Infinity;
    for (let i = 0; i < runs.length; i += 2) {
      const p = this.pages[runs[i] - low];
      if (p) p.pending -= runs[i + 1];
    }
    return this.advance();
  }

  /**
   * Every item of the page being read was handed on; `next` is the URL of the page after it, or
   * null when it was the last. Returns whether the resume point moved.
   */
  pageRead(next: string | null): boolean {
    const page = this.pages[this.pages.length - 1];
    if (!page || this.ended) throw new Error('a page after the end of the feed');
    page.read = true;
    if (next === null) this.ended = true;
    else this.pages.push({ page: page.page + 1, url: next, pending: 0, read: false });
    return this.advance();
  }

  /** The first page not committed; null once every page to the feed's end is. */
  point(): PagePoint | null {
    const p = this.pages[0];
    return p ? { url: p.url, page: p.page } : null;
  }

  /** Every page to the feed's end is committed. */
  get complete(): boolean {
    return this.ended && this.pages.length === 0;
  }

  private advance(): boolean {
    let moved = false;
    // A page read but not the last always has the next one after it, so only the end empties this.
    while (this.pages.length > 0 && this.pages[0].read && this.pages[0].pending === 0) {
      this.pages.shift();
      moved = true;
    }
    return moved;
  }
}
