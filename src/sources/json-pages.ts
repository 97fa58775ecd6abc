// A paginated JSON API (README, Remote feeds): `{"items": [...], "next": url-or-null}`, `next` relative or
// absolute, resolved against the page's URL. Pages are consumed strictly in order; each item's
// provenance is `<page url>#<index>` (0-based).
//
// Fetching ahead: the page the current one names is always fetched while the current page's items
// are consumed. When the first page's URL and the URL its `next` leads to differ by one decimal
// integer that grew by a step d (`/page/1` -> `/page/2`, `?offset=0` -> `?offset=50`), and more
// than one fetch at once is allowed, the pages after it are predicted and fetched ahead too, a few
// at once, within a budget of bytes held ahead. A page waiting to retry does not count among the
// fetches at once: the pages after it go on being fetched (within the budget) while it waits. A
// predicted page is used only when the page before it names exactly its URL; the first page that
// does not discards every page fetched ahead and ends the predicting for the run (the pages are then
// followed one by one, as named). A predicted page past the end (404, an empty page, any failure) is
// never loaded and fails nothing, unless the feed turns out to need it; once a page fetched ahead
// shows where the feed ends (its next is null, another URL, or it failed), the fetches of pages after
// it are called off, so the ones still waiting for their turn are never sent.
import { CarsError } from '../errors.js';
import type { ColumnMap } from './column-map.js';
import { carValues, hasCarNumber, isJsonObject, jsonKind, parseKeepingNumbers, rawJson } from './car-json.js';
import type { SourceItem } from './records.js';

/** A page as the source hands it on: its `next` as written, its items converted on demand. */
export interface Page {
  /** The URL the page was asked for: what `where` and messages name. */
  url: string;
  /** What a relative `next` resolves against: the URL after redirects. */
  base: string;
  /** `next` as the page wrote it; null or absent means the last page. */
  next: string | null;
  /** The length of the page's text, when known: what a page held ahead costs (the read-ahead budget counts it). */
  size?: number;
  /** How many items the page has, when known: an empty page is taken for the end when predicting. */
  count?: number;
  /**
   * The items as source items. Converting waits until the next page has been asked for, so the
   * requests of a sequential feed follow each other as closely as they can.
   */
  items(): SourceItem[];
}

export type PageParse =
  | { ok: true; next: string | null; items: () => SourceItem[]; size: number; count: number }
  | { ok: false; error: string; invalidJson: boolean };

/** Items are converted in chunks of this many, so the import sees progress within big pages. */
const CHUNK = 1000;

/** Parses a page's text; `url` names it in `where` and in errors. Pure. */
export function parsePage(text: string, url: string, keys?: ColumnMap): PageParse {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { ok: false, invalidJson: true, error: `the page is not valid JSON (${(e as Error).message})` };
  }
  if (!isJsonObject(data)) {
    return { ok: false, invalidJson: false, error: `the page is ${jsonKind(data)}, not an object {"items": [...], "next": ...}` };
  }
  if (!Array.isArray(data.items)) {
    const what = 'items' in data ? `its "items" is ${jsonKind(data.items)}` : 'it has no "items"';
    return { ok: false, invalidJson: false, error: `the page is not {"items": [...], "next": ...}: ${what}` };
  }
  const next = data.next;
  if (next !== undefined && next !== null && typeof next !== 'string') {
    return { ok: false, invalidJson: false, error: `the page's "next" is ${jsonKind(next)}; expected a URL or null` };
  }
  const parsed = data.items as unknown[];
  // Numbers keep their text: a page whose car columns hold one is parsed again, keeping them, when
  // its items are converted. Then the first parse is not kept: a page held ahead costs its text.
  const keepNumbers = parsed.some((it) => isJsonObject(it) && hasCarNumber(it, keys));
  const items = keepNumbers ? lazyItems(text, undefined, url, keys) : lazyItems(undefined, parsed, url, keys);
  return { ok: true, items, next: next === undefined || next === '' ? null : next, size: text.length, count: parsed.length };
}

/** A closure holding the text or the parsed items, never both (a closure of its own scope). */
function lazyItems(text: string | undefined, parsed: unknown[] | undefined, url: string, keys?: ColumnMap): () => SourceItem[] {
  return () => convertItems(parsed ?? (parseKeepingNumbers(text!) as { items: unknown[] }).items, url, keys);
}

function convertItems(items: unknown[], url: string, keys?: ColumnMap): SourceItem[] {
  const out: SourceItem[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const where = `${url}#${i}`;
    if (!isJsonObject(item)) {
      out[i] = { kind: 'malformed', where, error: `item ${i} of page ${url} is ${jsonKind(item)}, not an object`, raw: rawJson(item) };
      continue;
    }
    const r = carValues(item, keys);
    out[i] = r.error ? { kind: 'malformed', where, error: r.error, raw: rawJson(item), values: r.values } : { kind: 'record', where, values: r.values };
  }
  return out;
}

/**
 * How page URLs step, from the first page's URL and the URL its `next` leads to: when the two have
 * the same scheme, host and port and differ in exactly one decimal integer of the path or query,
 * which grew by some d > 0 (`/page/1` -> `/page/2`, `?page=1&size=50` -> `?page=2&size=50`,
 * `?offset=0` -> `?offset=50`), a function giving the URL `n` pages after the first (0 = the
 * first, 1 = the second); otherwise undefined. Zero-padded numbers keep their width. Pure.
 */
export function pageStep(first: string, second: string): ((n: number) => string) | undefined {
  const u = splitUrl(first);
  const v = splitUrl(second);
  if (!u || !v || u.head !== v.head) return undefined;
  // Split keeping the digit runs: even indices are the text around them, odd ones the runs.
  const a = u.rest.split(/(\d+)/);
  const b = v.rest.split(/(\d+)/);
  if (a.length !== b.length) return undefined;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (i % 2 === 0 || at >= 0) return undefined; // the text around the numbers differs, or two numbers do
    at = i;
  }
  if (at < 0) return undefined;
  const x = a[at]!;
  const y = b[at]!;
  const start = BigInt(x);
  const d = BigInt(y) - start;
  if (d <= 0n) return undefined;
  const padded = (s: string) => s.length > 1 && s.startsWith('0');
  if ((padded(x) || padded(y)) && x.length !== y.length) return undefined;
  const width = padded(x) ? x.length : 0;
  return (n) => {
    const parts = a.slice();
    parts[at] = (start + BigInt(n) * d).toString().padStart(width, '0');
    return u.head + parts.join('');
  };
}

/** An http(s) URL, normalised and without its fragment, as what comes before its path, and the rest. */
export function splitUrl(url: string): { head: string; rest: string } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  u.hash = '';
  const href = u.href;
  const path = href.indexOf('/', u.protocol.length + 2); // http(s) paths always start with '/'
  return path < 0 ? undefined : { head: href.slice(0, path), rest: href.slice(path) };
}

const MiB = 1024 * 1024;
/**
 * What pages fetched ahead of the one being loaded may hold, together (text length; a page in
 * flight counts as the largest page seen). A page held ahead keeps its text alone. Measured with a
 * real import under `bin/cars`'s heap: pages of 3.6 MiB ran out of heap with 16 MiB ahead and went
 * through with 8; pages of 4 MiB went through with 8, where the one page of prefetch held with its
 * parse (before predicting) ran out. Small pages get hundreds of pages.
 */
const AHEAD_BYTES = 8 * MiB;
/** Default cap on pages held or in flight ahead of the current one. */
const AHEAD_PAGES = 1000;

export interface PagesOptions {
  /**
   * Fetches and parses one page (retries are its business); rejects with a CarsError. `signal` is
   * aborted when the page is no longer wanted (a prediction that failed, or the end of the run);
   * the load may stop early then, and whatever it settles with is ignored. `onBackoff(true)` says
   * the load is waiting to retry (it is then not counted among the fetches at once), and
   * `onBackoff(false)` that it is fetching again.
   */
  load: (url: string, signal: AbortSignal, onBackoff: (waiting: boolean) => void) => Promise<Page>;
  /** Turns a page's `next` into the URL to load, or throws a CarsError. */
  resolve: (next: string, page: Page) => string;
  /**
   * Page fetches at once (a page waiting to retry is not counted). 1 (the default): only the page
   * the current one names is fetched ahead. More: when the page URLs step (pageStep), predicted
   * pages are fetched ahead, this many at once.
   */
  parallel?: number;
  /**
   * What pages ahead of the current one may hold, held or in flight (a page in flight counts as the
   * largest page seen so far), by Page.size. The page the current one names is fetched regardless.
   */
  aheadBytes?: number;
  /** Pages ahead of the current one, held or in flight, at most (with `parallel` above 1). */
  aheadPages?: number;
  /** The number of `first` in the feed (a run that resumes starts past page 1); messages use it. Default 1. */
  firstNumber?: number;
  /**
   * Called once every item of a page has been consumed (the reader asked for more after its last
   * chunk): `next` is the URL of the page after it, or null when it was the last. Not called for a
   * page whose next link is refused, nor for one the reader stopped inside.
   */
  onPageRead?: (next: string | null) => void;
}

/** A page fetched ahead. */
interface Slot {
  /** The page's number (the first page is 1). */
  n: number;
  url: string;
  state: 'pending' | 'ok' | 'failed';
  page?: Page;
  error?: unknown;
  /** No longer wanted: whatever the load settles with is dropped. */
  dropped: boolean;
  /** Waiting to retry: not counted among the fetches at once. */
  backingOff: boolean;
  controller: AbortController;
  /** Settles when the load does; never rejects. */
  done: Promise<void>;
}

/**
 * The pages fetched ahead of the current one: which to fetch (a predicted step, within fetches,
 * pages and bytes), which to call off (a prediction that failed, the end), and what failed.
 */
class AheadWindow {
  readonly parallel: number;
  private readonly aheadBytes: number;
  private readonly aheadPages: number;
  /** URL -> page number, for the loop check. */
  readonly seen: Map<string, number>;
  /** Pages number+1, number+2, ... fetched ahead, in order. */
  readonly ahead: Slot[] = [];
  /** Loads not settled yet, wanted or dropped. */
  readonly pending = new Set<Slot>();
  /** The URL of the page `n` after the first, while predicting. */
  step: ((n: number) => string) | undefined;
  /** No page after this one is predicted: it failed, is empty, is the last or names another next. */
  stopAt = Infinity;
  private largest: number;
  finished = false;
  /** The current page's number (the first is 1). */
  number = 1;

  constructor(
    private readonly opts: PagesOptions,
    first: Page,
  ) {
    this.parallel = Math.max(1, Math.floor(opts.parallel ?? 1));
    this.aheadBytes = opts.aheadBytes ?? AHEAD_BYTES;
    this.aheadPages = Math.max(1, opts.aheadPages ?? AHEAD_PAGES);
    this.seen = new Map<string, number>([[first.url, 1]]);
    this.largest = first.size ?? 0;
  }

  /** Page numbers as the feed counts them, for messages. */
  shown(n: number): number {
    return n + (this.opts.firstNumber ?? 1) - 1;
  }

  /** Loads in `pending` that are not waiting to retry: at most `parallel` of them are speculative. */
  private fetching(): number {
    let n = 0;
    for (const slot of this.pending) if (!slot.backingOff) n++;
    return n;
  }

  private aheadSize(): number {
    return this.ahead.reduce((sum, s) => sum + (s.state === 'ok' ? (s.page!.size ?? 0) : s.state === 'pending' ? this.largest : 0), 0);
  }

  /**
   * A predicted page that arrived: does it go on the way predicted? If not, predict nothing after it,
   * and call off the pages fetched after it unless the feed may still need them.
   */
  private check(slot: Slot): void {
    const page = slot.page!;
    if (!this.step || page.next === null) {
      this.stopAt = Math.min(this.stopAt, slot.n);
      this.dropAfter(slot.n); // the end: nothing after it is ever read
      return;
    }
    let next: string | undefined;
    try {
      next = this.opts.resolve(page.next, page);
    } catch {
      // Raised when (if) the feed gets to this page.
    }
    if (next !== this.step(slot.n)) {
      this.stopAt = Math.min(this.stopAt, slot.n);
      this.dropAfter(slot.n); // the feed goes on elsewhere, if it gets here at all
    } else if (page.count === 0) {
      // Taken for the end while predicting, but it names the page predicted after it: the pages
      // already fetched after it are kept, in case the feed does go on.
      this.stopAt = Math.min(this.stopAt, slot.n);
    }
  }

  /** A load waits to retry (true) or fetches again (false); the window slides past a waiting one. */
  private backingOff(slot: Slot, waiting: boolean): void {
    if (!this.pending.has(slot) || slot.backingOff === waiting) return;
    slot.backingOff = waiting;
    if (waiting) this.topUp();
  }

  launch(n: number, url: string): void {
    const slot: Slot = { n, url, state: 'pending', dropped: false, backingOff: false, controller: new AbortController(), done: Promise.resolve() };
    this.ahead.push(slot);
    this.pending.add(slot);
    let loading: Promise<Page>;
    try {
      loading = this.opts.load(url, slot.controller.signal, (waiting) => this.backingOff(slot, waiting));
    } catch (e) {
      loading = Promise.reject(e);
    }
    slot.done = loading.then(
      (page) => {
        this.pending.delete(slot);
        if (!slot.dropped) {
          slot.state = 'ok';
          slot.page = page;
          this.largest = Math.max(this.largest, page.size ?? 0);
          this.check(slot);
        }
        this.topUp();
      },
      (err: unknown) => {
        this.pending.delete(slot);
        if (!slot.dropped) {
          // Only an error if the feed needs this page; then it ends there, so nothing after it is needed.
          slot.state = 'failed';
          slot.error = err;
          this.stopAt = Math.min(this.stopAt, slot.n);
          this.dropAfter(slot.n);
        }
        this.topUp();
      },
    );
  }

  /** Fetches predicted pages while fetches, pages and bytes ahead allow. */
  topUp(): void {
    while (!this.finished && this.step && this.fetching() < this.parallel && this.ahead.length < this.aheadPages) {
      const n = this.number + this.ahead.length + 1;
      if (n > this.stopAt) return;
      if (this.ahead.length > 0 && this.aheadSize() + this.largest > this.aheadBytes) return;
      this.launch(n, this.step(n - 1));
    }
  }

  private drop(slot: Slot): void {
    slot.dropped = true;
    slot.page = undefined;
    slot.controller.abort();
  }

  /** Drops every page fetched ahead (a load in flight is asked to stop, and awaited at the end). */
  dropAhead(): void {
    for (const slot of this.ahead.splice(0)) this.drop(slot);
  }

  /** Drops the pages fetched ahead after page `n`. */
  private dropAfter(n: number): void {
    const at = this.ahead.findIndex((s) => s.n > n);
    if (at >= 0) for (const slot of this.ahead.splice(at)) this.drop(slot);
  }

  /** The URL the page names next, checked for a loop; a failure is raised once its items are consumed. */
  nextOf(page: Page): { nextUrl?: string; stop?: CarsError } {
    if (page.next === null) return {};
    try {
      const url = this.opts.resolve(page.next, page);
      const earlier = this.seen.get(url);
      if (earlier !== undefined) {
        throw new CarsError(
          'REMOTE_FAILED',
          `pagination loop: page ${this.shown(this.number)} (${page.url}) has next ${url}, which is page ${this.shown(earlier)}; the feed would never end`,
        );
      }
      this.seen.set(url, this.number + 1);
      return { nextUrl: url };
    } catch (e) {
      return { stop: e instanceof CarsError ? e : new CarsError('REMOTE_FAILED', `page ${page.url}: ${(e as Error).message}`, { cause: e }) };
    }
  }

  /** After the current page named `nextUrl`: fetch it (unless predicted already), and predict on. */
  follow(first: Page, nextUrl: string | undefined): void {
    if (this.number === 1 && this.parallel > 1 && nextUrl !== undefined) this.step = pageStep(first.url, nextUrl);
    if (nextUrl === undefined) {
      this.dropAhead(); // the end (or a failure): pages predicted past it are not loaded
      return;
    }
    if (this.ahead[0]?.url !== nextUrl) {
      // Not the page predicted (or none was fetched ahead): follow `next` as written from now on.
      this.dropAhead();
      if (this.step && this.step(this.number) !== nextUrl) this.step = undefined;
      this.launch(this.number + 1, nextUrl);
    }
    // This page names the page predicted after it (it is empty, say): predict past it again.
    if (this.step && this.number >= this.stopAt) this.stopAt = Infinity;
    this.topUp();
  }

  /** The next page, once loaded. */
  async advance(): Promise<Page> {
    const slot = this.ahead[0]!;
    await slot.done;
    this.ahead.shift();
    if (slot.state === 'failed') throw slot.error;
    const page = slot.page!;
    slot.page = undefined;
    this.number++;
    return page;
  }

  /** Nothing outlives the feed: loads still running are asked to stop and awaited. */
  async close(): Promise<void> {
    this.finished = true;
    this.dropAhead();
    while (this.pending.size > 0) await Promise.all([...this.pending].map((s) => s.done));
  }
}

/** The items of `first` and of every page after it, in order; pages are fetched ahead (see above). */
export async function* pageItems(first: Page, opts: PagesOptions): AsyncGenerator<SourceItem[]> {
  const w = new AheadWindow(opts, first);
  let page: Page | undefined = first;
  try {
    while (page) {
      // Name the next page now; any failure of it is raised once this page's items are consumed,
      // so every page before a failure is loaded.
      const { nextUrl, stop } = w.nextOf(page);
      w.follow(first, nextUrl);
      const items = page.items();
      page = undefined; // the items alone are held while they are consumed
      for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
      if (stop) throw stop;
      opts.onPageRead?.(nextUrl ?? null);
      if (nextUrl === undefined) return;
      page = await w.advance();
    }
  } finally {
    // (Loads predicted past the end, dropped, or ahead of a failure: so the HTTP client closes with nothing in flight.)
    await w.close();
  }
}
