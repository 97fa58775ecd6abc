// A real local HTTP server that misbehaves on purpose, scripted per path, and records what it saw
// so tests can assert from the server's side: request times, in-flight peaks, per-second counts,
// whether a retry came before the Retry-After it was given.
//
//   const server = await startMisbehavingServer();
//   server.route('/feed.csv', [{ status: 503 }, { status: 429, retryAfter: 1 }, { body: 'vin\n...', contentType: 'text/csv' }]);
//   server.route('/cars/:vin/price', (req) => ({ json: { price: prices[req.params.vin!] } }));
//   ... server.url('/feed.csv') ...
//   await server.close();
//
// A route's behaviours are served in order; the last one repeats.

import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface Behaviour {
  /** Default 200 (302 with `redirect`). */
  status?: number;
  body?: string | Buffer;
  /** Serialised as the body, with content-type application/json. */
  json?: unknown;
  contentType?: string;
  headers?: Record<string, string | number | string[]>;
  /** Retry-After: seconds (number or string sent as is) or a Date (sent as an HTTP-date). */
  retryAfter?: number | string | Date;
  /** Gzip the body and send content-encoding: gzip. */
  gzip?: boolean;
  /** Location of a redirect. */
  redirect?: string;
  /** Wait this long before answering (keeps the request in flight). */
  delayMs?: number;
  /** Send the body in pieces with chunked encoding (no content-length). */
  chunked?: boolean;
  /** Destroy the socket before answering. */
  reset?: boolean;
  /** Send headers (with the full content-length) and this many body bytes (default half), then destroy the socket. */
  resetMidBody?: boolean | number;
  /** 'headers': send the headers, then nothing; 'midBody': headers and half the body, then nothing; 'all' or true: nothing at all. */
  stall?: boolean | 'headers' | 'midBody' | 'all';
  /** Chunked encoding, part of the body, then end the socket without the terminating chunk. */
  truncatedChunked?: boolean;
  /** Announce the full content-length, send part of the body, then end the socket. */
  contentLengthShort?: boolean;
  /** No content-length, no chunking, `connection: close`; part of the body, then end the socket. */
  closeDelimitedShort?: boolean;
  /** With truncatedChunked, contentLengthShort, closeDelimitedShort or stall 'midBody': body bytes sent before the cut (default half). */
  cutAt?: number;
  /** Compute the behaviour from the request (dynamic routes such as /cars/:vin/price). */
  handler?: Handler;
  /**
   * Validators, as a server that supports conditional requests sends them: the ETag header (give
   * it quoted, `"v1"`) and Last-Modified. A GET whose If-None-Match names this ETag (or `*`), or,
   * without If-None-Match, whose If-Modified-Since is not before Last-Modified, is answered 304 Not
   * Modified without a body (RFC 9110, 13.1).
   */
  etag?: string;
  lastModified?: Date;
}

export interface RecordedRequest {
  /** performance.now() at arrival. */
  at: number;
  /** Date.now() at arrival. */
  wallAt: number;
  method: string;
  /** Path without the query. */
  path: string;
  /** Path and query. */
  url: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** Route parameters (`:vin`). */
  params: Record<string, string>;
  /** 0-based index of this request among those to the same route pattern. */
  index: number;
  /** What the server answered (status), or a word for a misbehaviour. */
  outcome?: string;
  /** Set when the answer carried a Retry-After: the earliest moment a retry is allowed. */
  notBefore?: { at?: number; wallAt?: number; header: string };
}

export type Handler = (req: RecordedRequest) => Behaviour | Promise<Behaviour>;

export interface ServerOptions {
  /** Answer 429 (Retry-After: 1) to requests beyond this many per fixed 1 s window (since start). */
  rateCap?: number;
  /** Throttle as nginx's `limit_req zone rate=<rate>r/s burst=<burst> nodelay` does: 429 without Retry-After. */
  limitReq?: LimitReq;
}

export interface LimitReq {
  rate: number;
  burst: number;
}

interface Route {
  pattern: string;
  match: (path: string) => Record<string, string> | undefined;
  spec: Behaviour[] | Handler;
  served: number;
}

function compile(pattern: string): Route['match'] {
  const names: string[] = [];
  const source = pattern
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) {
        names.push(part.slice(1));
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  const re = new RegExp(`^${source}$`);
  return (path) => {
    const m = re.exec(path);
    if (!m) return undefined;
    return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
  };
}

const STATUS_TEXT = (status: number) => http.STATUS_CODES[status] ?? 'Unknown';

export class MisbehavingServer {
  readonly requests: RecordedRequest[] = [];
  /** Requests answered 429 by the rate cap. */
  overCap = 0;
  maxInFlight = 0;
  private inFlight = 0;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly routes: Route[] = [];
  private rateCap: number | undefined;
  /** Requests answered 429 by limitReq. */
  limited = 0;
  private limitReq: LimitReq | undefined;
  /** nginx's leaky bucket: requests in excess of the rate (fractional), as of `limitAt`. */
  private excess = 0;
  private limitAt = 0;
  private readonly startedAt = performance.now();
  private readonly windowCounts = new Map<number, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  constructor(opts: ServerOptions = {}) {
    this.rateCap = opts.rateCap;
    this.limitReq = opts.limitReq;
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  /** Scripts a path (`:name` segments match anything). A later route for the same pattern replaces the earlier one. */
  route(pattern: string, spec: Behaviour | Behaviour[] | Handler): this {
    const list = typeof spec === 'function' ? spec : Array.isArray(spec) ? spec : [spec];
    if (Array.isArray(list) && list.length === 0) throw new Error(`route ${pattern}: give at least one behaviour`);
    const existing = this.routes.findIndex((r) => r.pattern === pattern);
    const route: Route = { pattern, match: compile(pattern), spec: list, served: 0 };
    if (existing >= 0) this.routes[existing] = route;
    else this.routes.push(route);
    return this;
  }

  /**
   * nginx limit_req (ngx_http_limit_req_module, nodelay): the excess drains at `rate` per second;
   * a request that would take it beyond `burst` is answered 429 at once, without Retry-After, and
   * is not counted. The whole server shares one zone.
   */
  setLimitReq(limit: LimitReq | undefined): this {
    this.limitReq = limit;
    this.excess = 0;
    return this;
  }

  /** True when limitReq lets a request arriving at `at` through. */
  private admit(at: number): boolean {
    const limit = this.limitReq;
    if (!limit) return true;
    const excess = Math.max(0, this.excess - ((at - this.limitAt) * limit.rate) / 1000) + 1;
    if (excess > limit.burst + 1) return false;
    this.excess = excess;
    this.limitAt = at;
    return true;
  }

  setRateCap(rateCap: number | undefined): this {
    this.rateCap = rateCap;
    return this;
  }

  /** Forgets recorded requests and counters (routes stay). */
  resetRecords(): void {
    this.requests.length = 0;
    this.overCap = 0;
    this.limited = 0;
    this.maxInFlight = this.inFlight;
    this.windowCounts.clear();
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** The most requests that arrived in one fixed 1 s window (windows counted from server start). */
  maxPerFixedSecond(path?: string): number {
    const counts = new Map<number, number>();
    for (const r of this.requests) {
      if (path !== undefined && r.path !== path) continue;
      const w = Math.floor((r.at - this.startedAt) / 1000);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    return Math.max(0, ...counts.values());
  }

  /** The most requests that arrived within any `windowMs` (sliding; stricter than fixed windows). */
  maxInSlidingWindow(windowMs = 1000, path?: string): number {
    const times = this.requests.filter((r) => path === undefined || r.path === path).map((r) => r.at);
    times.sort((a, b) => a - b);
    let best = 0;
    for (let lo = 0, hi = 0; hi < times.length; hi++) {
      while (times[hi]! - times[lo]! >= windowMs) lo++;
      best = Math.max(best, hi - lo + 1);
    }
    return best;
  }

  /**
   * Requests that came before the Retry-After of the previous answer on the same path allowed.
   * Seconds are checked on the monotonic clock from the moment the answer was sent, dates on the
   * wall clock.
   */
  retryAfterViolations(): Array<{ path: string; header: string; earlyByMs: number }> {
    const out: Array<{ path: string; header: string; earlyByMs: number }> = [];
    const last = new Map<string, RecordedRequest>();
    for (const r of this.requests) {
      const prev = last.get(r.path);
      if (prev?.notBefore) {
        const { at, wallAt, header } = prev.notBefore;
        if (at !== undefined && r.at < at) out.push({ path: r.path, header, earlyByMs: at - r.at });
        if (wallAt !== undefined && r.wallAt < wallAt) out.push({ path: r.path, header, earlyByMs: wallAt - r.wallAt });
      }
      last.set(r.path, r);
    }
    return out;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const at = performance.now();
    const parsed = new URL(req.url ?? '/', 'http://x');
    const record: RecordedRequest = {
      at,
      wallAt: Date.now(),
      method: req.method ?? 'GET',
      path: parsed.pathname,
      url: parsed.pathname + parsed.search,
      query: parsed.searchParams,
      headers: req.headers,
      params: {},
      index: 0,
    };
    this.requests.push(record);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let open = true;
    const done = () => {
      if (!open) return;
      open = false;
      this.inFlight--;
      req.socket.off('close', done);
    };
    res.on('close', done);
    req.socket.on('close', done);

    try {
      if (!this.admit(at)) {
        this.limited++;
        await this.respond(req, res, record, { status: 429, body: '<html><head><title>429 Too Many Requests</title></head></html>\n', contentType: 'text/html' });
        return;
      }
      if (this.rateCap !== undefined) {
        const w = Math.floor((at - this.startedAt) / 1000);
        const n = (this.windowCounts.get(w) ?? 0) + 1;
        this.windowCounts.set(w, n);
        if (n > this.rateCap) {
          this.overCap++;
          await this.respond(req, res, record, { status: 429, retryAfter: 1, body: 'rate cap exceeded\n' });
          return;
        }
      }
      let behaviour: Behaviour | undefined;
      for (const route of this.routes) {
        const params = route.match(parsed.pathname);
        if (!params) continue;
        record.params = params;
        record.index = route.served++;
        behaviour = Array.isArray(route.spec) ? route.spec[Math.min(record.index, route.spec.length - 1)] : await route.spec(record);
        break;
      }
      while (behaviour?.handler) behaviour = await behaviour.handler(record);
      if (behaviour && notModified(record, behaviour)) behaviour = { status: 304, headers: validatorHeaders(behaviour) };
      else if (behaviour) behaviour = { ...behaviour, headers: { ...validatorHeaders(behaviour), ...behaviour.headers } };
      await this.respond(req, res, record, behaviour ?? { status: 404, body: 'no route\n' });
    } catch (err) {
      record.outcome = 'server error';
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else req.socket.destroy();
    }
  }

  private async respond(req: http.IncomingMessage, res: http.ServerResponse, record: RecordedRequest, b: Behaviour): Promise<void> {
    const socket = req.socket;
    if (b.delayMs) await this.delay(b.delayMs);
    if (socket.destroyed) return;
    if (b.reset) {
      record.outcome = 'reset';
      socket.destroy();
      return;
    }
    if (b.stall === true || b.stall === 'all') {
      record.outcome = 'stall';
      return;
    }

    const status = b.status ?? (b.redirect !== undefined ? 302 : 200);
    let body: Buffer = Buffer.from(b.json !== undefined ? JSON.stringify(b.json) : (b.body ?? ''));
    const headers: Record<string, string | number | string[]> = {};
    if (b.contentType) headers['content-type'] = b.contentType;
    else if (b.json !== undefined) headers['content-type'] = 'application/json';
    if (b.redirect !== undefined) headers['location'] = b.redirect;
    if (b.gzip) {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    if (b.retryAfter !== undefined) {
      const header = b.retryAfter instanceof Date ? b.retryAfter.toUTCString() : String(b.retryAfter);
      headers['retry-after'] = header;
      // Checked from the moment the answer leaves, which is before the client can see it.
      record.notBefore =
        b.retryAfter instanceof Date
          ? { wallAt: Math.floor(b.retryAfter.getTime() / 1000) * 1000, header }
          : /^\d+$/.test(header)
            ? { at: performance.now() + Number(header) * 1000, header }
            : undefined;
    }
    Object.assign(headers, b.headers);
    record.outcome = String(status);

    const rawHead = (extra: string[]) =>
      [`HTTP/1.1 ${status} ${STATUS_TEXT(status)}`, ...Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`)), ...extra, '', ''].join('\r\n');
    const part = (n: number | boolean | undefined) => (typeof n === 'number' ? n : Math.floor(body.length / 2));

    if (b.truncatedChunked) {
      record.outcome = 'truncatedChunked';
      const sent = body.subarray(0, part(b.cutAt));
      socket.write(rawHead(['transfer-encoding: chunked']));
      socket.write(`${sent.length.toString(16)}\r\n`);
      socket.write(sent);
      socket.write('\r\n');
      socket.end();
      return;
    }
    if (b.contentLengthShort) {
      record.outcome = 'contentLengthShort';
      socket.write(rawHead([`content-length: ${body.length}`]));
      socket.end(body.subarray(0, part(b.cutAt)));
      return;
    }
    if (b.closeDelimitedShort) {
      record.outcome = 'closeDelimitedShort';
      socket.write(rawHead(['connection: close']));
      socket.end(body.subarray(0, part(b.cutAt)));
      return;
    }
    if (b.resetMidBody) {
      record.outcome = 'resetMidBody';
      socket.write(rawHead([`content-length: ${body.length}`]));
      socket.write(body.subarray(0, part(b.resetMidBody)), () => {
        // Give the bytes a moment to leave before the reset.
        setTimeout(() => socket.destroy(), 10);
      });
      return;
    }
    if (b.stall === 'midBody') {
      record.outcome = 'stallMidBody';
      res.writeHead(status, { ...headers, 'content-length': body.length });
      res.write(body.subarray(0, part(b.cutAt)));
      return;
    }
    if (b.stall === 'headers') {
      record.outcome = 'stallAfterHeaders';
      res.writeHead(status, headers);
      res.flushHeaders();
      return;
    }
    if (b.chunked) {
      res.writeHead(status, headers);
      const piece = Math.max(1, Math.ceil(body.length / 4));
      for (let i = 0; i < body.length; i += piece) {
        if (!res.write(body.subarray(i, i + piece))) await once(res, 'drain');
      }
      res.end();
      return;
    }
    headers['content-length'] = body.length;
    res.writeHead(status, headers);
    res.end(body);
  }
}

function validatorHeaders(b: Behaviour): Record<string, string> {
  const out: Record<string, string> = {};
  if (b.etag) out.etag = b.etag;
  if (b.lastModified) out['last-modified'] = b.lastModified.toUTCString();
  return out;
}

/** A conditional GET whose validators still hold (RFC 9110: If-None-Match wins over If-Modified-Since). */
function notModified(req: RecordedRequest, b: Behaviour): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    if (!b.etag) return false;
    const tags = inm.split(',').map((t) => t.trim().replace(/^W\//, ''));
    return tags.includes('*') || tags.includes(b.etag.replace(/^W\//, ''));
  }
  const ims = req.headers['if-modified-since'];
  if (ims === undefined || !b.lastModified) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && Math.floor(b.lastModified.getTime() / 1000) * 1000 <= since;
}

export async function startMisbehavingServer(opts: ServerOptions = {}): Promise<MisbehavingServer> {
  return new MisbehavingServer(opts).listen();
}
