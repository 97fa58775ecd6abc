// The HTTP layer, one client per run: one undici Agent (keep-alive pool), a run-wide token bucket
// for requests per second, p-limit for requests in flight, our own retry loop (full-jitter backoff,
// Retry-After honoured and never undercut), redirects followed by hand (so every hop takes a token
// and counts), gzip decoded, size limits on bodies held whole. Everything that fails for good
// becomes CarsError('REMOTE_FAILED') naming the URL and the last error.

import { Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import pLimit from 'p-limit';
import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';
import { CarsError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HttpFigures } from '../report.js';
import { AdaptiveRate } from './adaptive-rate.js';
import { FAULT_BACKOFF, THROTTLE_BACKOFF, retryDelay } from './backoff.js';
import { parseRetryAfter } from './retry-after.js';
import { TokenBucket } from './token-bucket.js';

export interface HttpOptions {
  /**
   * The ceiling of requests per second for the whole run (every attempt and every redirect hop
   * counts). The rate used adapts below it: a 429 or 503 halves it, successes raise it again.
   */
  rate: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Retries after the first attempt. */
  retries: number;
  /** Statuses retried (as long as retries last). Default DEFAULT_RETRY_STATUSES. */
  retryOn?: readonly number[];
  /** Limit on waiting for response headers, and on a body stalling between two chunks. */
  timeoutMs: number;
  /** Bodies held whole (getText/getJson) larger than this fail. Default 32 MiB. */
  maxBodyBytes?: number;
  /** A Retry-After longer than this fails the request instead of sleeping for hours. Default 120 s. */
  maxRetryAfterMs?: number;
  /** Delay ceiling of the first retry after a fault without Retry-After (5xx, a broken connection). Default FAULT_BACKOFF's. */
  backoffBaseMs?: number;
  /** The same after a 429 without Retry-After: the server says we are too fast. Default THROTTLE_BACKOFF's. */
  throttleBaseMs?: number;
  /** No computed delay is longer (a Retry-After may be). Default 30 s. */
  backoffCapMs?: number;
  userAgent: string;
  random?: () => number;
}

/** What a caller may ask of one GET besides its URL. */
export interface GetOptions {
  /**
   * The caller no longer wants the answer: a wait for a token, a slot or a retry ends at once and
   * the call rejects with the signal's reason. A request already on the wire is not cut short.
   */
  signal?: AbortSignal;
  /** Told when a retry starts waiting out its backoff (true) and when the wait ends (false). */
  onBackoff?: (waiting: boolean) => void;
  /**
   * A conditional GET: If-None-Match / If-Modified-Since from what an earlier answer said. Then a
   * 304 Not Modified is an answer (status 304, an empty body), not a failure.
   */
  ifChanged?: Validators;
}

/** What an answer said about its content's version (ETag, Last-Modified), as sent. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

/** The validators of an answer's headers; undefined when it has neither. */
export function validatorsOf(headers: ResponseHeaders): Validators | undefined {
  const etag = firstHeader(headers.etag);
  const lastModified = firstHeader(headers['last-modified']);
  return etag || lastModified ? { etag: etag || undefined, lastModified: lastModified || undefined } : undefined;
}

/** The request headers of a conditional GET (none when there is nothing to ask with). */
function conditionalHeaders(v: Validators | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v?.etag) out['if-none-match'] = v.etag;
  if (v?.lastModified) out['if-modified-since'] = v.lastModified;
  return out;
}

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export interface TextResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
  /** The final URL after redirects. */
  url: string;
}

export interface StreamResponse {
  status: number;
  contentType: string | undefined;
  url: string;
  /** Decoded body; throws CarsError('REMOTE_FAILED') when the transfer breaks. Iterate it to the end or break out of it: that frees the connection. */
  body: AsyncIterable<Buffer>;
  /** Bytes received so far on the wire (before gunzip), for progress against Content-Length. */
  bytesSoFar(): number;
  /** The final response's headers (Content-Length for progress). */
  headers: ResponseHeaders;
}

export interface HttpClient {
  /** GET a whole body: retried. 2xx and 404 resolve (the caller decides about 404), and 304 to a conditional GET; any other final status rejects. */
  getText(url: string, options?: GetOptions): Promise<TextResponse>;
  /** getText + JSON.parse of a 2xx body; `data` is undefined for 404. */
  getJson<T = unknown>(url: string): Promise<{ status: number; data: T | undefined; url: string }>;
  /** A streaming body. Retried only until its first byte has arrived; a non-2xx status rejects (a 304 resolves when `ifChanged` was given). */
  stream(url: string, options?: GetOptions): Promise<StreamResponse>;
  stats(): HttpFigures;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const DEFAULTS = { maxBodyBytes: 32 * MiB, maxRetryAfterMs: 120_000 };
const MAX_REDIRECTS = 5;
/** How much of a failed attempt's body we read to keep its connection; beyond this we drop the socket. */
const DRAIN_LIMIT = 64 * 1024;
/** See catchUpTokens. */
const CATCH_UP_MS = 100;

/** What got and ky retry for a GET, less 413 (a page too large stays too large). */
export const DEFAULT_RETRY_STATUSES: readonly number[] = [408, 429, 500, 502, 503, 504];
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RETRY_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  // gunzip reached the end of a body that stopped mid-stream
  'Z_BUF_ERROR',
]);

/** Why one attempt failed, and whether another attempt may help. */
class AttemptFailure extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  /** A 429: the server asked for fewer requests (the retry backs off from the throttle base). */
  readonly throttled: boolean;
  /** A 429 or a 503: the adaptive rate went down for it. */
  readonly slowDown: boolean;
  constructor(message: string, retryable: boolean, options: { cause?: unknown; retryAfterMs?: number; throttled?: boolean; slowDown?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.retryable = retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.throttled = options.throttled ?? false;
    this.slowDown = this.throttled || (options.slowDown ?? false);
  }
}

interface Reply {
  status: number;
  statusText: string;
  headers: ResponseHeaders;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

function errorCode(err: unknown): string | undefined {
  // Walk causes and AggregateErrors (happy eyeballs) for the first code we know.
  const seen = new Set<unknown>();
  const stack = [err];
  let first: string | undefined;
  while (stack.length > 0) {
    const e = stack.pop();
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (RETRY_ERROR_CODES.has(code)) return code;
      first ??= code;
    }
    if (e instanceof AggregateError) stack.push(...e.errors);
    stack.push((e as { cause?: unknown }).cause);
  }
  return first;
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof AttemptFailure || err instanceof CarsError) return err.message;
  const code = errorCode(err);
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no response within ${timeoutMs} ms (${code})`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `the body stalled for more than ${timeoutMs} ms (${code})`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `could not connect within ${timeoutMs} ms (${code})`;
    case 'Z_BUF_ERROR':
      return `the gzip body was cut short (${code})`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

function classify(err: unknown, timeoutMs: number): AttemptFailure {
  if (err instanceof AttemptFailure) return err;
  const code = errorCode(err);
  return new AttemptFailure(describe(err, timeoutMs), code !== undefined && RETRY_ERROR_CODES.has(code), { cause: err });
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function statusLine(reply: { status: number; statusText: string }): string {
  return `HTTP ${reply.status}${reply.statusText ? ` ${reply.statusText}` : ''}`;
}

function plural(n: number, word: string): string {
  if (n === 1) return `${n} ${word}`;
  return `${n} ${word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`}`;
}

function formatBytes(n: number): string {
  return n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`;
}

function checkOptions(opts: HttpOptions): void {
  const need = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(message);
  };
  need(typeof opts.rate === 'number' && Number.isFinite(opts.rate) && opts.rate > 0, `Expected \`rate\` to be a number above 0, got ${opts.rate}`);
  need(Number.isInteger(opts.concurrency) && opts.concurrency >= 1, `Expected \`concurrency\` to be an integer from 1 and up, got ${opts.concurrency}`);
  need(Number.isInteger(opts.retries) && opts.retries >= 0, `Expected \`retries\` to be an integer from 0 and up, got ${opts.retries}`);
  need(Number.isFinite(opts.timeoutMs) && opts.timeoutMs > 0, `Expected \`timeoutMs\` to be a number above 0, got ${opts.timeoutMs}`);
  for (const key of ['maxBodyBytes', 'maxRetryAfterMs', 'backoffBaseMs', 'throttleBaseMs', 'backoffCapMs'] as const) {
    const v = opts[key];
    need(v === undefined || (Number.isFinite(v) && v >= 0), `Expected \`${key}\` to be a number from 0 and up, got ${v}`);
  }
  need(typeof opts.userAgent === 'string' && opts.userAgent.length > 0, 'Expected `userAgent` to be a non-empty string');
}

/** Sleeps at least `ms` by the monotonic clock (timers may fire a little early); `signal` ends it early, rejecting. */
async function sleepAtLeast(ms: number, signal?: AbortSignal): Promise<void> {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) {
    try {
      await sleep(Math.min(Math.ceil(left), 2 ** 31 - 1), undefined, { signal });
    } catch (err) {
      throw signal?.aborted ? signal.reason : err;
    }
  }
}

/**
 * Tokens the rate limit may grant at once to get back on its schedule after a stall while requests
 * were waiting (the event loop busy parsing a page or starting a write, a garbage collection), so a
 * stall of up to CATCH_UP_MS is made up instead of lost. Idle time earns nothing, and the bucket's
 * hard cap keeps every 1 s window of the server within the rate.
 */
function catchUpTokens(rate: number): number {
  return Math.floor((rate * CATCH_UP_MS) / 1000);
}

/** The decoded body; errors from the transfer and from gunzip both surface from the iteration. */
function decoded(raw: AsyncIterable<Buffer>, encoding: 'gzip' | 'identity'): AsyncIterable<Buffer> {
  if (encoding === 'identity') return raw;
  // pipeline destroys every stage on error or early exit, and gunzip fails on a cut-off stream.
  return pipeline(Readable.from(raw, { objectMode: false }), createGunzip(), () => {});
}

/**
 * undici, loaded by the first client rather than at start: reading it takes 50 ms of a start of
 * about 200, which every command paid, most of them (files, the database) without a request.
 */
let undici: typeof import('undici') | undefined;
function loadUndici(): typeof import('undici') {
  return (undici ??= createRequire(import.meta.url)('undici') as typeof import('undici'));
}

export function createHttpClient(opts: HttpOptions, log: Logger): HttpClient {
  checkOptions(opts);
  return new Client(opts, log);
}

/**
 * The HTTP client: a GET goes through a concurrency slot (p-limit), the rate limit (a token bucket
 * whose rate adapts to throttling) and redirects (`send`), and is retried as a whole with backoff
 * (`withRetries`); bodies are read whole (`getText`) or streamed (`stream`).
 */
class Client implements HttpClient {
  private readonly maxBodyBytes: number;
  private readonly maxRetryAfterMs: number;
  // Faults and throttling back off differently (backoff.ts); a Retry-After overrides both.
  private readonly backoff: typeof FAULT_BACKOFF;
  private readonly throttleBackoff: typeof THROTTLE_BACKOFF;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly retryStatuses: Set<number>;
  private readonly agent: Agent;
  private readonly bucket: TokenBucket;
  private readonly adaptive: AdaptiveRate;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly requestHeaders: Record<string, string>;
  private readonly figures: Omit<HttpFigures, 'throttled' | 'rate'> = { requests: 0, retries: 0, statuses: {}, bytes: 0, rate_wait_ms: 0, backoff_wait_ms: 0 };
  private closed = false;

  constructor(
    private readonly opts: HttpOptions,
    private readonly log: Logger,
  ) {
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs;
    this.backoff = { ...FAULT_BACKOFF, baseMs: opts.backoffBaseMs ?? FAULT_BACKOFF.baseMs, capMs: opts.backoffCapMs ?? FAULT_BACKOFF.capMs };
    this.throttleBackoff = { ...THROTTLE_BACKOFF, baseMs: opts.throttleBaseMs ?? THROTTLE_BACKOFF.baseMs, capMs: opts.backoffCapMs ?? THROTTLE_BACKOFF.capMs };
    this.random = opts.random ?? Math.random;
    this.timeoutMs = opts.timeoutMs;
    this.retryStatuses = new Set(opts.retryOn ?? DEFAULT_RETRY_STATUSES);
    const { Agent: UndiciAgent } = loadUndici();
    this.agent = new UndiciAgent({
      connections: opts.concurrency,
      pipelining: 1,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connectTimeout: opts.timeoutMs,
    });
    this.bucket = new TokenBucket(opts.rate, { catchUp: catchUpTokens(opts.rate) });
    this.adaptive = new AdaptiveRate({ ceiling: opts.rate });
    this.limit = pLimit(opts.concurrency);
    this.requestHeaders = { 'user-agent': opts.userAgent, 'accept-encoding': 'gzip', accept: '*/*' };
  }

  /**
   * Takes a slot among the `concurrency` in flight; call the returned function to give it back. A
   * caller whose signal fires while it waits rejects, and the slot it would have had is given back
   * as soon as it comes.
   */
  private acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((granted, refused) => {
      signal?.throwIfAborted();
      let gaveUp = false;
      const giveUp = () => {
        gaveUp = true;
        refused(signal!.reason);
      };
      signal?.addEventListener('abort', giveUp, { once: true });
      void this.limit(
        () =>
          new Promise<void>((release) => {
            signal?.removeEventListener('abort', giveUp);
            if (gaveUp) release();
            // Releasing twice (error paths) must not free two slots; `release` is idempotent.
            else granted(() => release());
          }),
      );
    });
  }

  private checkUrl(url: string): URL {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new CarsError('USAGE', `not a valid URL: ${url}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new CarsError('USAGE', `only http and https URLs can be fetched, not ${url}`);
    }
    if (this.closed) throw new CarsError('INTERNAL', `GET ${url}: the HTTP client is already closed`);
    return u;
  }

  /**
   * Counts an answer and adapts the rate: a 429 or a 503 (with or without Retry-After: a server
   * shedding load often sends a bare 503, and slowing down is what it needs) lowers it; any other
   * answer below 500 raises it.
   */
  private countStatus(status: number, sentAt: number): void {
    const key = String(status);
    this.figures.statuses[key] = (this.figures.statuses[key] ?? 0) + 1;
    // The adaptive rate: the server asks for fewer requests, or took one well.
    if (status === 429 || status === 503) this.bucket.setRate(this.adaptive.onThrottled(sentAt, performance.now()));
    else if (status < 500 && status !== 408) this.bucket.setRate(this.adaptive.onSuccess());
  }

  /** Raw body chunks, counted as they arrive. */
  private async *counted(body: Reply['body'], onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      this.figures.bytes += chunk.length;
      onBytes?.(chunk.length);
      yield chunk;
    }
  }

  /** Reads a little of a body we do not want (keeps the connection), else drops the connection. */
  private async discard(body: Reply['body']): Promise<void> {
    let read = 0;
    try {
      for await (const chunk of this.counted(body)) {
        read += chunk.length;
        if (read > DRAIN_LIMIT) break; // leaving the loop destroys the body and its socket
      }
    } catch {
      // The attempt has already failed for a better reason.
    }
  }

  private encodingOf(reply: Reply): 'gzip' | 'identity' {
    const enc = (firstHeader(reply.headers['content-encoding']) ?? '').trim().toLowerCase();
    if (enc === '' || enc === 'identity') return 'identity';
    if (enc === 'gzip' || enc === 'x-gzip') return 'gzip';
    throw new AttemptFailure(`the server sent content-encoding "${enc}", which cars does not decode (it asks for gzip only)`, false);
  }

  /** One request, following redirects by hand. Runs inside a concurrency slot. */
  private async send(start: URL, signal?: AbortSignal, ifChanged?: Validators): Promise<Reply> {
    const headers = ifChanged ? { ...this.requestHeaders, ...conditionalHeaders(ifChanged) } : this.requestHeaders;
    let url = start;
    const chain = [url.href];
    for (let hop = 0; ; hop++) {
      const grant = await this.bucket.take(signal);
      this.figures.rate_wait_ms += grant.waitedMs;
      this.figures.requests++;
      const sentAt = performance.now();
      let res: Dispatcher.ResponseData;
      try {
        res = await this.agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'GET',
          headers,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
      } catch (err) {
        throw classify(err, this.timeoutMs);
      } finally {
        // Answered or failed: the server has seen it by now, if it ever will; it holds its place in
        // the rate window for 1 s from now (token-bucket.ts).
        grant.answered();
      }
      this.countStatus(res.statusCode, sentAt);
      const reply: Reply = { status: res.statusCode, statusText: res.statusText, headers: res.headers, body: res.body, url: url.href };
      if (!REDIRECT_STATUSES.has(reply.status)) return reply;

      await this.discard(reply.body);
      const location = firstHeader(reply.headers.location);
      if (!location) throw new AttemptFailure(`${statusLine(reply)} without a Location header`, false);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new AttemptFailure(`${statusLine(reply)} to an invalid location "${location}"`, false);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new AttemptFailure(`redirected to ${next.href}, which is not an http or https URL`, false);
      }
      chain.push(next.href);
      if (chain.indexOf(next.href) < chain.length - 1) {
        throw new AttemptFailure(`redirect loop: ${chain.join(' -> ')}`, false);
      }
      if (hop + 1 > MAX_REDIRECTS) {
        throw new AttemptFailure(`more than ${MAX_REDIRECTS} redirects: ${chain.join(' -> ')}`, false);
      }
      url = next;
    }
  }

  /** Turns a retried status into an attempt failure, after freeing its connection. */
  private async statusFailure(reply: Reply): Promise<AttemptFailure> {
    await this.discard(reply.body);
    const retryable = this.retryStatuses.has(reply.status);
    const retryAfterMs = retryable ? parseRetryAfter(reply.headers['retry-after'], Date.now()) : undefined;
    return new AttemptFailure(statusLine(reply), retryable, { retryAfterMs, throttled: reply.status === 429, slowDown: reply.status === 503 });
  }

  /** `throttled`: the retries ran out on 429s; the message says which --rate would have fit. */
  private remoteFailed(url: string, attempts: number, reason: string, cause?: unknown, throttled = false): CarsError {
    const hint = throttled
      ? `; the server throttled ${plural(this.adaptive.throttled, 'answer')} while cars went down to ${this.adaptive.figures().lowest} req/s: --rate ${this.adaptive.suggestedRate()} would fit (or more --retries)`
      : '';
    return new CarsError('REMOTE_FAILED', `GET ${url} failed after ${plural(attempts, 'attempt')}: ${reason}${hint}`, { cause });
  }

  private async withRetries<T>(url: string, attemptOnce: () => Promise<T>, get: GetOptions = {}): Promise<T> {
    const attempts = this.opts.retries + 1;
    const { signal } = get;
    for (let attempt = 1; ; attempt++) {
      let failure: AttemptFailure;
      try {
        return await attemptOnce();
      } catch (err) {
        // Given up by the caller: nothing to retry, nothing to report.
        if (signal?.aborted) throw signal.reason;
        failure = classify(err, this.timeoutMs);
      }
      if (!failure.retryable || attempt >= attempts) {
        throw this.remoteFailed(url, attempt, failure.message, failure.cause ?? failure, failure.throttled && failure.retryable);
      }
      const after = failure.retryAfterMs;
      if (after !== undefined && after > this.maxRetryAfterMs) {
        throw this.remoteFailed(
          url,
          attempt,
          `${failure.message} with Retry-After ${Math.ceil(after / 1000)} s, longer than the ${Math.round(this.maxRetryAfterMs / 1000)} s cars waits at most`,
          failure,
        );
      }
      const delay = retryDelay(attempt, after, failure.throttled ? this.throttleBackoff : this.backoff, this.random);
      this.figures.retries++;
      this.log.once(
        `http-retry:${failure.message}`,
        `GET ${url}: ${failure.message}; retrying (up to ${plural(this.opts.retries, 'retry')} per request; the report counts them all)`,
      );
      const t0 = performance.now();
      get.onBackoff?.(true);
      try {
        await sleepAtLeast(delay, signal);
      } finally {
        this.figures.backoff_wait_ms += performance.now() - t0;
        get.onBackoff?.(false);
      }
    }
  }

  private async readWhole(reply: Reply): Promise<Buffer> {
    const encoding = this.encodingOf(reply);
    const tooBig = () =>
      new AttemptFailure(`the response body is larger than the limit of ${formatBytes(this.maxBodyBytes)} (maxBodyBytes)`, false);
    const declared = Number(firstHeader(reply.headers['content-length']));
    if (encoding === 'identity' && declared > this.maxBodyBytes) {
      reply.body.destroy();
      throw tooBig();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of decoded(this.counted(reply.body), encoding)) {
      size += chunk.length;
      if (size > this.maxBodyBytes) throw tooBig(); // leaving the loop destroys the body
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  async getText(url: string, get: GetOptions = {}): Promise<TextResponse> {
    const u = this.checkUrl(url);
    return this.withRetries(
      url,
      async () => {
        const release = await this.acquire(get.signal);
        try {
          const reply = await this.send(u, get.signal, get.ifChanged);
          if (reply.status === 304 && get.ifChanged) {
            await this.discard(reply.body);
            return { status: 304, headers: reply.headers, text: '', url: reply.url };
          }
          if (!(reply.status >= 200 && reply.status < 300) && reply.status !== 404) throw await this.statusFailure(reply);
          const text = (await this.readWhole(reply)).toString('utf8');
          return { status: reply.status, headers: reply.headers, text, url: reply.url };
        } finally {
          release();
        }
      },
      get,
    );
  }

  async getJson<T = unknown>(url: string): Promise<{ status: number; data: T | undefined; url: string }> {
    const res = await this.getText(url);
    if (res.status === 404) return { status: res.status, data: undefined, url: res.url };
    try {
      return { status: res.status, data: JSON.parse(res.text) as T, url: res.url };
    } catch (err) {
      throw new CarsError('REMOTE_FAILED', `GET ${url} returned a body that is not JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  async stream(url: string, get: GetOptions = {}): Promise<StreamResponse> {
    const u = this.checkUrl(url);
    return this.withRetries(url, async () => {
      const release = await this.acquire(get.signal);
      let handedOver = false;
      try {
        const reply = await this.send(u, get.signal, get.ifChanged);
        if (reply.status === 304 && get.ifChanged) {
          await this.discard(reply.body);
          return { status: 304, contentType: undefined, headers: reply.headers, url: reply.url, body: (async function* () {})(), bytesSoFar: () => 0 };
        }
        if (!(reply.status >= 200 && reply.status < 300)) throw await this.statusFailure(reply);
        const encoding = this.encodingOf(reply);
        let received = 0;
        const raw = this.counted(reply.body, (n) => (received += n));
        // Wait for the first byte here, so a failure before it is still retried.
        let first: IteratorResult<Buffer>;
        try {
          first = await raw.next();
        } catch (err) {
          throw classify(err, this.timeoutMs);
        }
        async function* rest(): AsyncGenerator<Buffer> {
          try {
            if (first.done) return;
            yield first.value;
            yield* raw;
          } finally {
            await raw.return(undefined);
          }
        }
        const { timeoutMs } = this;
        async function* body(): AsyncGenerator<Buffer> {
          try {
            yield* decoded(rest(), encoding);
          } catch (err) {
            throw new CarsError(
              'REMOTE_FAILED',
              `GET ${url} failed while streaming its body, after ${received} bytes: ${describe(err, timeoutMs)}`,
              { cause: err },
            );
          } finally {
            release();
          }
        }
        handedOver = true;
        return {
          status: reply.status,
          contentType: firstHeader(reply.headers['content-type']),
          headers: reply.headers,
          url: reply.url,
          body: body(),
          bytesSoFar: () => received,
        };
      } finally {
        if (!handedOver) release();
      }
    }, get);
  }


  stats(): HttpFigures {
    const f = this.figures;
    return {
      ...f,
      statuses: { ...f.statuses },
      rate_wait_ms: Math.round(f.rate_wait_ms),
      backoff_wait_ms: Math.round(f.backoff_wait_ms),
      throttled: this.adaptive.throttled,
      rate: this.adaptive.figures(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.destroy();
  }
}

