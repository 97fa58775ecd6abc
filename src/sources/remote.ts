// `cars import <url>` and `--format ndjson|json`: a URL (CSV, NDJSON or a paginated JSON API) or a
// file / stdin in NDJSON or page form, as a RecordSource. One HTTP client per run; when the source
// closes, its figures go into the run report and the client is closed.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGunzip } from 'node:zlib';
import { CarsError } from '../errors.js';
import { FAULT_BACKOFF, retryDelay } from '../http/backoff.js';
import { createHttpClient, validatorsOf, type HttpClient, type StreamResponse, type Validators } from '../http/client.js';
import { CAR_COLUMNS } from '../car.js';
import type { HttpFigures } from '../report.js';
import type { Logger } from '../logger.js';
import { detectFormat, formatFromPath, type Detected } from './feed-format.js';
import { limitExpansion, openInput, type Input } from './input.js';
import { pageItems, parsePage, type Page } from './json-pages.js';
import { ndjsonSource } from './ndjson.js';
import { csvOptions, csvSource, type CsvOptions, type FeedFacts, type RecordSource } from './records.js';
import { ColumnMap, type HeaderMaps } from './column-map.js';

const MiB = 1024 * 1024;
/**
 * A page is held whole (with the pages fetched ahead, see AHEAD_BYTES in json-pages.ts) and parsed. Real APIs
 * send far smaller pages.
 */
export const MAX_PAGE_BYTES = 8 * MiB;
/** Unknown keys are named in a warning up to this many; then once more, without names. */
const MAX_KEY_WARNINGS = 10;

/**
 * How a URL's run starts, as the importer decided from what the database keeps about the feed:
 * a page to resume at, or validators to ask with (If-None-Match / If-Modified-Since).
 */
export interface FeedStart {
  /** A paginated feed resumes at this page (its number counts from the feed's first page, 1). */
  resume?: { url: string; page: number };
  /** Asked with these; a 304 Not Modified gives a source without items, `feed.notModified`. */
  ifChanged?: Validators;
  /** Told as each page of a paginated feed has been read: the URL of the page after it, or null at the end. */
  onPageRead?: (next: string | null) => void;
}

/** What opening a remote or JSON source takes from the command's options. */
export interface RemoteOptions extends CsvOptions {
  format?: 'csv' | 'ndjson' | 'json';
  map?: HeaderMaps;
  maxExpand?: number;
  concurrency: number;
  rate: number;
  retries: number;
  retryOn?: number[];
  timeout: number;
}

/** What a remote source needs of the run: a logger, stdin, and the report for its HTTP figures. */
export interface RemoteDeps {
  log: Logger;
  stdin: NodeJS.ReadableStream;
  report: { http?: HttpFigures };
}

/** A page over HTTP, with what its answer said about its version. */
type HttpPage = Page & { validators?: Validators; notModified?: boolean };

let version: string | undefined;
function userAgent(): string {
  version ??= (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return `cars/${version}`;
}

function isUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
}

function plural(n: number, word: string): string {
  if (n === 1) return `${n} ${word}`;
  return `${n} ${word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`}`;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function remoteFailed(message: string, cause?: unknown): CarsError {
  return new CarsError('REMOTE_FAILED', message, cause === undefined ? undefined : { cause });
}

/** What a run's fetching shares: the HTTP client (made on first use), figures, warnings. */
class RemoteSession {
  private client: HttpClient | undefined;
  private closed = false;
  /** Fetches of a page repeated here because its body was not JSON (the client counts the rest). */
  private pageRetries = 0;
  private pageBackoffMs = 0;
  private localBytes = 0;
  private readonly warnedKeys = new Set<string>();

  constructor(
    private readonly o: RemoteOptions,
    private readonly deps: RemoteDeps,
    private readonly name: string,
  ) {}

  http(): HttpClient {
    if (this.closed) throw new CarsError('INTERNAL', `${this.name}: the feed is already closed`);
    this.client ??= createHttpClient(
      { rate: this.o.rate, concurrency: this.o.concurrency, retries: this.o.retries, retryOn: this.o.retryOn, timeoutMs: this.o.timeout, maxBodyBytes: MAX_PAGE_BYTES, userAgent: userAgent() },
      this.deps.log,
    );
    return this.client;
  }

  readonly onUnknownKey = (key: string): void => {
    if (this.warnedKeys.has(key) || this.warnedKeys.size > MAX_KEY_WARNINGS) return;
    this.warnedKeys.add(key);
    if (this.warnedKeys.size > MAX_KEY_WARNINGS) this.deps.log.warn(`warning: ${this.name}: ignoring further keys that are not car columns`);
    else this.deps.log.warn(`warning: ${this.name}: ignoring key "${key}" (not a car column)`);
  };

  /** JSON keys to car columns (aliases, --map), warning once per unknown key. */
  get keys(): ColumnMap {
    return (this.keyMap ??= new ColumnMap(this.o.map, this.onUnknownKey));
  }
  private keyMap: ColumnMap | undefined;

  bytesRead(): number {
    return (this.client?.stats().bytes ?? 0) + this.localBytes;
  }

  figures(): HttpFigures | undefined {
    if (!this.client) return undefined;
    const s = this.client.stats();
    return { ...s, retries: s.retries + this.pageRetries, backoff_wait_ms: s.backoff_wait_ms + Math.round(this.pageBackoffMs) };
  }

  /** Records the HTTP figures in the report and closes the client; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const figures = this.figures();
    if (figures) this.deps.report.http = figures;
    await this.client?.close();
  }

  /**
   * A page over HTTP. A body that is not JSON is fetched again, like a failed transfer would be.
   * `signal` calls the page off (it was fetched ahead and is no longer wanted): waits for a token or
   * a retry end at once; `onBackoff` hears when the page waits to retry.
   */
  async loadHttpPage(url: string, firstTry?: { text: string; url: string }, signal?: AbortSignal, onBackoff?: (waiting: boolean) => void, ifChanged?: Validators): Promise<HttpPage> {
    const attempts = this.o.retries + 1;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const res = attempt === 1 && firstTry ? { status: 200, headers: {}, ...firstTry } : await this.http().getText(url, { signal, onBackoff, ifChanged });
      if (res.status === 404) throw remoteFailed(`GET ${url} failed: HTTP 404 Not Found`);
      if (res.status === 304) return { url, base: res.url, next: null, items: () => [], notModified: true, validators: validatorsOf(res.headers) };
      const p = parsePage(res.text, url, this.keys);
      if (p.ok) return { url, base: res.url, next: p.next, items: p.items, size: p.size, count: p.count, validators: validatorsOf(res.headers) };
      if (!p.invalidJson || attempt >= attempts) {
        throw remoteFailed(`GET ${url} failed${p.invalidJson ? ` after ${plural(attempt, 'attempt')}` : ''}: ${p.error}`);
      }
      // Not JSON is often a proxy's error page, or a close-delimited body cut short: try again.
      this.deps.log.once(`page-not-json:${url}`, `GET ${url}: ${p.error}; fetching it again (up to ${plural(this.o.retries, 'retry')})`);
      this.pageRetries++;
      const t0 = performance.now();
      onBackoff?.(true);
      try {
        // A body that is not JSON is a fault: it backs off as the HTTP client's own retries of faults do.
        await sleep(retryDelay(attempt, undefined, FAULT_BACKOFF), undefined, { signal });
      } finally {
        this.pageBackoffMs += performance.now() - t0;
        onBackoff?.(false);
      }
    }
  }

  /** The first page, already answering a streamed GET: read it whole, or fetch it again if that breaks. */
  async firstPageFromStream(url: string, res: StreamResponse): Promise<HttpPage> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += chunk.length;
        if (size > MAX_PAGE_BYTES) throw remoteFailed(`GET ${url} failed: the page is larger than the limit of ${MAX_PAGE_BYTES / MiB} MiB`);
        chunks.push(chunk);
      }
    } catch (e) {
      if (size > MAX_PAGE_BYTES) throw e;
      // The transfer broke: a fresh GET gets the client's retries.
      this.pageRetries++;
      this.deps.log.once(`page-broke:${url}`, `${(e as Error).message}; fetching it again`);
      return this.loadHttpPage(url);
    }
    const page = await this.loadHttpPage(url, { text: Buffer.concat(chunks, size).toString('utf8'), url: res.url });
    return { ...page, validators: page.validators ?? validatorsOf(res.headers) };
  }

  /** A page in a local file (a first page given as a path may point to more). */
  async loadFilePage(href: string): Promise<Page> {
    const file = fileURLToPath(href);
    const text = await readWhole(file, () => fs.createReadStream(file), (n) => (this.localBytes += n));
    return localPage(text, file, href, this.keys);
  }

  readonly load = (url: string, signal?: AbortSignal, onBackoff?: (waiting: boolean) => void): Promise<Page> =>
    url.startsWith('file:') ? this.loadFilePage(url) : this.loadHttpPage(url, undefined, signal, onBackoff);

  /**
   * Page fetches at once for a feed that starts with `first`: over HTTP --concurrency, so predicted
   * pages can be fetched ahead (what they may hold is bounded by json-pages.ts's AHEAD_BYTES, and those still
   * waiting for a token when the end shows are never sent); files are read one by one.
   */
  pageFetches(first: Page): number {
    return /^https?:/i.test(first.base) ? Math.max(1, this.o.concurrency) : 1;
  }
}

function localPage(text: string, name: string, base: string, keys: ColumnMap): Page {
  const p = parsePage(text, name, keys);
  if (!p.ok) throw new CarsError('INPUT_UNREADABLE', `${name}: ${p.error}`);
  return { url: name, base, next: p.next, items: p.items, size: p.size, count: p.count };
}

async function readWhole(name: string, open: () => AsyncIterable<Buffer>, onBytes: (n: number) => void): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of open()) {
      size += chunk.length;
      onBytes(chunk.length);
      if (size > MAX_PAGE_BYTES) throw new CarsError('INPUT_UNREADABLE', `${name}: a page may hold at most ${MAX_PAGE_BYTES / MiB} MiB; this one is larger`);
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof CarsError) throw e;
    throw new CarsError('INPUT_UNREADABLE', `cannot read ${name}: ${(e as Error).message}`, { cause: e });
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Where a page's `next` leads: http(s) from anywhere, files only from a page that is a file. */
function resolveNext(next: string, page: Page): string {
  if (!page.base) {
    if (!/^https?:\/\//i.test(next)) {
      throw remoteFailed(`${page.url}: next "${next}" is relative, and stdin has no URL to resolve it against; write absolute URLs`);
    }
  }
  let u: URL;
  try {
    u = new URL(next, page.base || undefined);
  } catch {
    throw remoteFailed(`page ${page.url}: next "${next}" is not a URL`);
  }
  u.hash = '';
  if (u.protocol === 'http:' || u.protocol === 'https:') return u.href;
  if (u.protocol === 'file:' && page.base.startsWith('file:')) return u.href;
  throw remoteFailed(`page ${page.url}: next ${u.href} is not an http or https URL`);
}

function pagedSource(name: string, first: HttpPage | Page, feed: RemoteSession, start?: FeedStart, firstNumber?: number): RecordSource {
  const validators = 'validators' in first ? first.validators : undefined;
  return {
    name,
    columns: [...CAR_COLUMNS],
    items: pageItems(first, { load: feed.load, resolve: resolveNext, parallel: feed.pageFetches(first), firstNumber, onPageRead: start?.onPageRead }),
    columnMap: feed.keys,
    totalBytes: undefined,
    bytesRead: () => feed.bytesRead(),
    close: () => feed.close(),
    feed: { paged: true, notModified: false, validators },
  };
}

/** The server answered 304 Not Modified: a source without items. */
function notModifiedSource(name: string, feed: RemoteSession, validators: Validators | undefined): RecordSource {
  return {
    name,
    columns: [...CAR_COLUMNS],
    items: (async function* () {})(),
    columnMap: feed.keys,
    totalBytes: undefined,
    bytesRead: () => feed.bytesRead(),
    close: () => feed.close(),
    feed: { paged: false, notModified: true, validators },
  };
}

/**
 * The decoded body, gunzipped when it starts with the gzip magic bytes (a `.csv.gz` served as a
 * file, without content-encoding). A body that breaks throws; a partial last record is never
 * handed on, because the splitters only see the end of input after a clean end.
 */
async function* gunzipIfGzipped(body: AsyncIterable<Buffer>, url: string): AsyncGenerator<Buffer> {
  const it = body[Symbol.asyncIterator]();
  try {
    const head: Buffer[] = [];
    let size = 0;
    let done = false;
    while (size < 2) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      head.push(r.value);
      size += r.value.length;
    }
    async function* all(): AsyncGenerator<Buffer> {
      yield* head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    }
    const first = head[0]!.length >= 2 ? head[0]! : Buffer.concat(head);
    if (!(size >= 2 && first[0] === 0x1f && first[1] === 0x8b)) {
      yield* all();
      return;
    }
    try {
      let packed = 0;
      async function* counted(): AsyncGenerator<Buffer> {
        for await (const c of all()) {
          packed += c.length;
          yield c;
        }
      }
      const unpacked = pipeline(Readable.from(counted()), createGunzip(), () => {}) as AsyncIterable<Buffer>;
      for await (const chunk of limitExpansion(unpacked, () => packed, (m) => remoteFailed(`GET ${url} failed: ${m}`))) yield chunk;
    } catch (e) {
      if (e instanceof CarsError) throw e;
      throw remoteFailed(`GET ${url} failed: the gzip body is corrupt or cut short (${(e as Error).message})`, e);
    }
  } finally {
    await it.return?.();
  }
}

/** The source, which also closes the feed (its HTTP client and figures) when it is closed. */
function closingFeed(src: RecordSource, feed: RemoteSession): RecordSource {
  return {
    ...src,
    close: async () => {
      await src.close?.();
      await feed.close();
    },
  };
}

/** A streamed response as an Input: gunzipped by content, progress against its Content-Length. */
export function httpInput(name: string, url: string, res: StreamResponse): Input {
  // Content-Length counts bytes on the wire, as bytesSoFar() does (gzip or not).
  const length = Number(firstHeader(res.headers?.['content-length']));
  // With a Content-Length or chunked encoding, a body that ends early is an error; without either,
  // the end of the connection ends the body, and a cut one looks complete.
  const chunked = /chunked/i.test(firstHeader(res.headers?.['transfer-encoding']) ?? '');
  return {
    name,
    stream: gunzipIfGzipped(res.body, url),
    totalBytes: Number.isFinite(length) && length > 0 ? length : undefined,
    bytesRead: () => res.bytesSoFar(),
    mayBeCut: !(Number.isFinite(length) && length >= 0 && firstHeader(res.headers?.['content-length']) !== undefined) && !chunked,
  };
}

async function openUrl(source: string, o: RemoteOptions, feed: RemoteSession, start: FeedStart = {}): Promise<RecordSource> {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new CarsError('USAGE', `${source} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CarsError('USAGE', `${source}: only http:// and https:// URLs can be imported (or a path, or - for stdin)`);
  }
  url.hash = '';
  // Resuming: the page is a paginated feed's, whatever its format would have been taken for.
  if (start.resume) return pagedSource(source, await feed.loadHttpPage(start.resume.url), feed, start, start.resume.page);
  if (o.format === 'json') {
    const first = await feed.loadHttpPage(url.href, undefined, undefined, undefined, start.ifChanged);
    return first.notModified ? notModifiedSource(source, feed, first.validators) : pagedSource(source, first, feed, start);
  }

  const res = await feed.http().stream(url.href, { ifChanged: start.ifChanged });
  if (res.status === 304) return notModifiedSource(source, feed, validatorsOf(res.headers));
  const facts: FeedFacts = { paged: false, notModified: false, validators: validatorsOf(res.headers) };
  const hint = detectFormat(res.contentType, url.pathname);
  const detected: Detected | undefined = o.format ? { format: o.format, delimiter: hint?.format === 'csv' ? hint.delimiter : undefined } : hint;
  if (!detected) {
    throw new CarsError(
      'USAGE',
      `cannot tell the format of ${source}: Content-Type is ${res.contentType ? `"${res.contentType}"` : 'missing'} and the path has no .csv, .tsv, .ndjson, .jsonl or .json extension; pass --format csv, ndjson or json`,
    );
  }
  switch (detected.format) {
    case 'csv':
      return { ...closingFeed(await csvSource(httpInput(source, url.href, res), csvOptions(source, o, detected.delimiter)), feed), feed: facts };
    case 'ndjson':
      return { ...closingFeed(ndjsonSource(httpInput(source, url.href, res), { keys: feed.keys, encoding: o.encoding, acceptUnterminated: o.acceptUnterminated, maxLineChars: o.maxRecordBytes }), feed), feed: facts };
    case 'json':
      return pagedSource(source, await feed.firstPageFromStream(url.href, res), feed, start);
  }
}

async function openLocal(source: string, o: RemoteOptions, deps: RemoteDeps, feed: RemoteSession): Promise<RecordSource> {
  const format = o.format ?? formatFromPath(source)?.format ?? 'csv';
  const input = await openInput(source, deps.stdin as Readable, { maxExpand: o.maxExpand });
  switch (format) {
    case 'csv':
      return closingFeed(await csvSource(input, csvOptions(source, o)), feed);
    case 'ndjson':
      return closingFeed(ndjsonSource(input, { keys: feed.keys, encoding: o.encoding, acceptUnterminated: o.acceptUnterminated, maxLineChars: o.maxRecordBytes }), feed);
    case 'json': {
      const text = await readWhole(input.name, () => input.stream, () => undefined);
      const base = source === '-' ? '' : pathToFileURL(path.resolve(source)).href;
      const first = localPage(text, input.name, base, feed.keys);
      const src = pagedSource(input.name, first, feed);
      // The first page's bytes come from the input; later ones are counted by the feed.
      return { ...src, totalBytes: input.totalBytes, bytesRead: () => input.bytesRead() + feed.bytesRead() };
    }
  }
}

/** Opens a URL (resumed or asked conditionally as `start` says), or a path / stdin read as NDJSON or pages. */
export async function openRemoteSource(source: string, o: RemoteOptions, deps: RemoteDeps, start?: FeedStart): Promise<RecordSource> {
  const feed = new RemoteSession(o, deps, source === '-' ? 'stdin' : source);
  try {
    return isUrl(source) ? await openUrl(source, o, feed, start) : await openLocal(source, o, deps, feed);
  } catch (e) {
    await feed.close();
    throw e;
  }
}
