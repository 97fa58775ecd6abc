// The paginated JSON API of DESIGN.md: `{"items": [...], "next": url-or-null}`, `next` relative or
// absolute, resolved against the page's URL. The next page is fetched while the current page's
// items are consumed (one page of prefetch, never more, so memory holds two pages at most).
// Each item's provenance is `<page url>#<index>` (0-based).
import { CarsError } from '../errors.js';
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
  /**
   * The items as source items. Converting waits until the next page has been asked for, so the
   * requests of a sequential feed follow each other as closely as they can.
   */
  items(): SourceItem[];
}

export type PageParse = { ok: true; next: string | null; items: () => SourceItem[] } | { ok: false; error: string; invalidJson: boolean };

/** Items are converted in chunks of this many, so the import sees progress within big pages. */
const CHUNK = 1000;

/** Parses a page's text; `url` names it in `where` and in errors. Pure. */
export function parsePage(text: string, url: string, onUnknownKey?: (key: string) => void): PageParse {
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
  const items = () => convertItems(text, data.items as unknown[], url, onUnknownKey);
  return { ok: true, items, next: next === undefined || next === '' ? null : next };
}

function convertItems(text: string, parsed: unknown[], url: string, onUnknownKey?: (key: string) => void): SourceItem[] {
  // Numbers keep their text: parse again keeping them, only when a car column holds one.
  let items = parsed;
  if (items.some((it) => isJsonObject(it) && hasCarNumber(it))) items = (parseKeepingNumbers(text) as { items: unknown[] }).items;
  const out: SourceItem[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const where = `${url}#${i}`;
    if (!isJsonObject(item)) {
      out[i] = { kind: 'malformed', where, error: `item ${i} of page ${url} is ${jsonKind(item)}, not an object`, raw: rawJson(item) };
      continue;
    }
    const r = carValues(item, onUnknownKey);
    out[i] = r.error ? { kind: 'malformed', where, error: r.error, raw: rawJson(item), values: r.values } : { kind: 'record', where, values: r.values };
  }
  return out;
}

export interface PagesOptions {
  /** Fetches and parses one page (retries are its business); rejects with a CarsError. */
  load: (url: string) => Promise<Page>;
  /** Turns a page's `next` into the URL to load, or throws a CarsError. */
  resolve: (next: string, page: Page) => string;
}

/** The items of `first` and of every page after it, one page of prefetch ahead. */
export async function* pageItems(first: Page, opts: PagesOptions): AsyncGenerator<SourceItem[]> {
  /** URL -> page number, for the loop check. */
  const seen = new Map<string, number>([[first.url, 1]]);
  let page: Page | undefined = first;
  let number = 1;
  while (page) {
    // Start the next page now; any failure of it is raised once this page's items are consumed,
    // so every page before a failure is loaded.
    let pending: Promise<Page> | undefined;
    let stop: CarsError | undefined;
    if (page.next !== null) {
      try {
        const url = opts.resolve(page.next, page);
        const earlier = seen.get(url);
        if (earlier !== undefined) {
          throw new CarsError(
            'REMOTE_FAILED',
            `pagination loop: page ${number} (${page.url}) has next ${url}, which is page ${earlier}; the feed would never end`,
          );
        }
        seen.set(url, number + 1);
        pending = opts.load(url);
        pending.catch(() => undefined); // handled when awaited; never an unhandled rejection meanwhile
      } catch (e) {
        stop = e instanceof CarsError ? e : new CarsError('REMOTE_FAILED', `page ${page.url}: ${(e as Error).message}`, { cause: e });
      }
    }
    const items = page.items();
    page = undefined; // the items alone are held while they are consumed
    for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
    if (stop) throw stop;
    if (!pending) return;
    page = await pending;
    number++;
  }
}
