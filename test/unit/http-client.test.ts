// The HTTP client against a real local server that misbehaves on purpose; assertions are made
// from the server's side wherever the rule is about what the server sees.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CarsError } from '../../src/errors.js';
import { createHttpClient, validatorsOf, type HttpClient, type HttpOptions } from '../../src/http/client.js';
import type { Logger } from '../../src/logger.js';
import { MisbehavingServer, startMisbehavingServer } from '../support/misbehaving-server.js';

let server: MisbehavingServer;
let clients: HttpClient[] = [];
let logged: string[] = [];
const log: Logger = { info: (m) => logged.push(m), warn: (m) => logged.push(m), once: (_k, m) => logged.push(m) };

function client(overrides: Partial<HttpOptions> = {}): HttpClient {
  const c = createHttpClient(
    { rate: 1000, concurrency: 4, retries: 3, timeoutMs: 2000, backoffBaseMs: 10, backoffCapMs: 50, userAgent: 'cars/0.0.0-test', ...overrides },
    log,
  );
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<CarsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CarsError);
  return err as CarsError;
}

async function drain(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

const csv = 'vin,price\n' + Array.from({ length: 2000 }, (_, i) => `VIN${String(i).padStart(14, '0')},${1000 + i}`).join('\n') + '\n';

beforeEach(async () => {
  server = await startMisbehavingServer();
  logged = [];
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await server.close();
});

describe('retries', () => {
  it('waits out a 429 Retry-After in seconds, never earlier', async () => {
    server.route('/page', [{ status: 429, retryAfter: 1 }, { json: { ok: true } }]);
    const http = client();
    const t0 = performance.now();
    const res = await http.getJson<{ ok: boolean }>(server.url('/page'));
    expect(res).toEqual({ status: 200, data: { ok: true }, url: server.url('/page') });
    const [first, second] = server.requestsTo('/page');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
    expect(server.retryAfterViolations()).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(1800); // Retry-After replaces the backoff, it is not added to it
    const stats = http.stats();
    expect(stats).toMatchObject({ requests: 2, retries: 1, statuses: { '429': 1, '200': 1 } });
    expect(stats.backoff_wait_ms).toBeGreaterThanOrEqual(1000);
    expect(logged.join('\n')).toMatch(/HTTP 429 Too Many Requests; retrying/);
  });

  it('waits out a 429 Retry-After given as an HTTP-date, never earlier', async () => {
    const until = new Date(Date.now() + 2000); // sent with 1 s resolution: 1-2 s from now
    server.route('/dated', [{ status: 429, retryAfter: until }, { body: 'done' }]);
    const res = await client().getText(server.url('/dated'));
    expect(res.text).toBe('done');
    const [, second] = server.requestsTo('/dated');
    expect(second!.wallAt).toBeGreaterThanOrEqual(Math.floor(until.getTime() / 1000) * 1000);
    expect(server.retryAfterViolations()).toEqual([]);
  });

  it('honours Retry-After on a 503 too', async () => {
    server.route('/busy', [{ status: 503, retryAfter: '1' }, { body: 'ok' }]);
    await client().getText(server.url('/busy'));
    expect(server.retryAfterViolations()).toEqual([]);
    const [a, b] = server.requestsTo('/busy');
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(1000);
  });

  it.each([408, 500, 502, 503, 504])('retries a %i by default', async (status) => {
    server.route('/blip', [{ status }, { body: 'fine' }]);
    expect(await client().getText(server.url('/blip'))).toMatchObject({ status: 200, text: 'fine' });
    expect(server.requestsTo('/blip')).toHaveLength(2);
    expect(logged.join('\n')).toContain('retrying (up to 3 retries per request');
    expect(logged.join('\n')).not.toContain('retrys');
  });

  it('rides out a burst of 503, 502 and 504 with backoff', async () => {
    server.route('/flaky', [{ status: 503 }, { status: 502 }, { status: 504 }, { body: 'finally' }]);
    const http = client({ retries: 3 });
    const res = await http.getText(server.url('/flaky'));
    expect(res.text).toBe('finally');
    expect(server.requestsTo('/flaky')).toHaveLength(4);
    expect(http.stats()).toMatchObject({ requests: 4, retries: 3, statuses: { '503': 1, '502': 1, '504': 1, '200': 1 } });
  });

  it('backs off from the throttle base after a 429 without Retry-After, from the fault base after a 503', async () => {
    server.route('/fault', [{ status: 503 }, { body: 'ok' }]);
    server.route('/throttled', [{ status: 429 }, { body: 'ok' }]);
    // random 0.999: each delay is its ceiling, the base.
    const http = client({ backoffBaseMs: 20, throttleBaseMs: 400, backoffCapMs: 30_000, random: () => 0.999 });
    await http.getText(server.url('/fault'));
    await http.getText(server.url('/throttled'));
    const gap = (path: string) => {
      const [a, b] = server.requestsTo(path);
      return b!.at - a!.at;
    };
    expect(gap('/fault')).toBeGreaterThanOrEqual(19);
    expect(gap('/fault')).toBeLessThan(300);
    expect(gap('/throttled')).toBeGreaterThanOrEqual(399);
  });

  it('tells when a retry waits and when the wait ends', async () => {
    server.route('/twice', [{ status: 503 }, { reset: true }, { body: 'ok' }]);
    const told: boolean[] = [];
    await client().getText(server.url('/twice'), { onBackoff: (waiting) => told.push(waiting) });
    expect(told).toEqual([true, false, true, false]);
  });

  it('a caller that calls a request off while it waits to retry: no further attempt, its reason', async () => {
    server.route('/unwanted', [{ status: 503 }, { body: 'too late' }]);
    const http = client({ backoffBaseMs: 5000, backoffCapMs: 30_000, random: () => 0.999 });
    const off = new AbortController();
    const reason = new Error('no longer wanted');
    const got = http.getText(server.url('/unwanted'), {
      signal: off.signal,
      onBackoff: (waiting) => {
        if (waiting) off.abort(reason);
      },
    });
    const t0 = performance.now();
    await expect(got).rejects.toBe(reason);
    expect(performance.now() - t0).toBeLessThan(1000); // not the 5 s backoff
    expect(server.requestsTo('/unwanted')).toHaveLength(1);
  });

  it('fails with the URL, the attempts and the last status when the 503s outlast the retries', async () => {
    server.route('/down', { status: 503 });
    const err = await failure(client({ retries: 2 }).getText(server.url('/down')));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toBe(`GET ${server.url('/down')} failed after 3 attempts: HTTP 503 Service Unavailable`);
    expect(server.requestsTo('/down')).toHaveLength(3);
  });

  it('retries a connection reset', async () => {
    server.route('/reset', [{ reset: true }, { reset: true }, { body: 'after resets' }]);
    const res = await client().getText(server.url('/reset'));
    expect(res.text).toBe('after resets');
    expect(server.requestsTo('/reset')).toHaveLength(3);
  });

  it('retries a body cut short when the body is held whole', async () => {
    server.route('/cut', [{ body: csv, truncatedChunked: true }, { body: csv, contentLengthShort: true }, { body: csv, resetMidBody: true }, { body: csv }]);
    const res = await client().getText(server.url('/cut'));
    expect(res.text).toBe(csv);
    expect(server.requestsTo('/cut')).toHaveLength(4);
  });

  it('retries a refused connection, then names the URL and the error', async () => {
    const gone = await startMisbehavingServer();
    const url = gone.url('/nobody-home');
    await gone.close();
    const err = await failure(client({ retries: 2 }).getText(url));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toContain(`GET ${url} failed after 3 attempts:`);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('times out a server that never answers, retries, then fails naming the URL', async () => {
    server.route('/stall', { stall: 'all' });
    const http = client({ timeoutMs: 300, retries: 1 });
    const t0 = performance.now();
    const err = await failure(http.getText(server.url('/stall')));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toBe(`GET ${server.url('/stall')} failed after 2 attempts: no response within 300 ms (UND_ERR_HEADERS_TIMEOUT)`);
    expect(server.requestsTo('/stall')).toHaveLength(2);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(600);
  });

  it('counts a stalled body as a timeout and retries it', async () => {
    server.route('/slow-body', [{ stall: 'headers' }, { body: 'whole' }]);
    const res = await client({ timeoutMs: 300 }).getText(server.url('/slow-body'));
    expect(res.text).toBe('whole');
    expect(server.requestsTo('/slow-body')).toHaveLength(2);
  });

  it('fails fast on a Retry-After longer than the limit, saying so', async () => {
    server.route('/later', { status: 429, retryAfter: 3600 });
    const t0 = performance.now();
    const err = await failure(client({ maxRetryAfterMs: 120_000 }).getText(server.url('/later')));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toBe(
      `GET ${server.url('/later')} failed after 1 attempt: HTTP 429 Too Many Requests with Retry-After 3600 s, longer than the 120 s cars waits at most`,
    );
    expect(server.requestsTo('/later')).toHaveLength(1);
  });
});

describe('statuses that are not retried', () => {
  it('resolves a 404 for the caller to decide, without retrying', async () => {
    server.route('/cars/:vin/price', (req) => (req.params.vin === 'KNOWN' ? { json: { price: 12_500 } } : { status: 404, body: 'no such car' }));
    const http = client();
    expect(await http.getJson(server.url('/cars/UNKNOWN/price'))).toEqual({ status: 404, data: undefined, url: server.url('/cars/UNKNOWN/price') });
    expect(await http.getJson(server.url('/cars/KNOWN/price'))).toMatchObject({ status: 200, data: { price: 12_500 } });
    const text = await http.getText(server.url('/cars/UNKNOWN/price'));
    expect(text).toMatchObject({ status: 404, text: 'no such car' });
    expect(server.requestsTo('/cars/UNKNOWN/price')).toHaveLength(2);
  });

  it.each([
    [400, 'Bad Request'],
    [401, 'Unauthorized'],
    [403, 'Forbidden'],
    [413, 'Payload Too Large'],
  ])('fails on %i at once', async (status, text) => {
    server.route('/no', [{ status, body: 'nope' }, { body: 'would have worked' }]);
    const err = await failure(client().getText(server.url('/no')));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toBe(`GET ${server.url('/no')} failed after 1 attempt: HTTP ${status} ${text}`);
    expect(server.requestsTo('/no')).toHaveLength(1);
  });

  it('fails on a 500 at once when --retry-on leaves it out, and retries what it names', async () => {
    server.route('/blip', [{ status: 500 }, { body: 'fine' }]);
    const err = await failure(client({ retryOn: [503] }).getText(server.url('/blip')));
    expect(err.message).toBe(`GET ${server.url('/blip')} failed after 1 attempt: HTTP 500 Internal Server Error`);
    server.route('/teapot', [{ status: 418 }, { body: 'tea' }]);
    expect(await client({ retryOn: [418] }).getText(server.url('/teapot'))).toMatchObject({ status: 200, text: 'tea' });
  });

  it('says so when a 2xx body is not JSON', async () => {
    server.route('/html', { body: '<html>', contentType: 'text/html' });
    const err = await failure(client().getJson(server.url('/html')));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toContain(`GET ${server.url('/html')} returned a body that is not JSON`);
  });
});

describe('bodies', () => {
  it('sends gzip and the user agent, and decodes gzip bodies', async () => {
    server.route('/gz', { body: csv, gzip: true, contentType: 'text/csv' });
    const http = client();
    const res = await http.getText(server.url('/gz'));
    expect(res.text).toBe(csv);
    expect(res.headers['content-encoding']).toBe('gzip');
    const [req] = server.requestsTo('/gz');
    expect(req!.headers['accept-encoding']).toBe('gzip');
    expect(req!.headers['user-agent']).toBe('cars/0.0.0-test');
    expect(http.stats().bytes).toBeLessThan(csv.length / 2); // bytes on the wire, compressed

    const s = await http.stream(server.url('/gz'));
    expect((await drain(s.body)).toString()).toBe(csv);
    expect(s.bytesSoFar()).toBe(Number(res.headers['content-length']));
  });

  it.each([
    ['with content-length', { body: Buffer.alloc(1024 * 1024, 'a') }],
    ['chunked', { body: Buffer.alloc(1024 * 1024, 'a'), chunked: true }],
    ['gzip (the decoded size counts)', { body: Buffer.alloc(1024 * 1024, 'a'), gzip: true }],
  ])('refuses a page over maxBodyBytes (%s), without retrying', async (_name, behaviour) => {
    server.route('/huge', behaviour);
    const err = await failure(client({ maxBodyBytes: 64 * 1024 }).getText(server.url('/huge')));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toBe(`GET ${server.url('/huge')} failed after 1 attempt: the response body is larger than the limit of 65536 bytes (maxBodyBytes)`);
    expect(server.requestsTo('/huge')).toHaveLength(1);
  });

  it('takes a page of exactly maxBodyBytes', async () => {
    server.route('/exact', { body: Buffer.alloc(4096, 'b') });
    expect((await client({ maxBodyBytes: 4096 }).getText(server.url('/exact'))).text).toHaveLength(4096);
  });
});

describe('streams', () => {
  it('streams a feed and retries failures that come before its first byte', async () => {
    server.route('/feed.csv', [{ status: 503 }, { status: 429, retryAfter: '1' }, { reset: true }, { stall: 'headers' }, { body: csv, contentType: 'text/csv' }]);
    const http = client({ timeoutMs: 300, retries: 5 });
    const res = await http.stream(server.url('/feed.csv'));
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('text/csv');
    expect(res.url).toBe(server.url('/feed.csv'));
    expect((await drain(res.body)).toString()).toBe(csv);
    expect(res.bytesSoFar()).toBe(Buffer.byteLength(csv));
    expect(server.requestsTo('/feed.csv')).toHaveLength(5);
    expect(server.retryAfterViolations()).toEqual([]);
  });

  it.each([
    ['a truncated chunked body', { truncatedChunked: true }, /other side closed|UND_ERR_SOCKET/],
    ['a body shorter than its content-length', { contentLengthShort: true }, /other side closed|UND_ERR_SOCKET|length/],
    ['a reset mid-body', { resetMidBody: true }, /ECONNRESET|other side closed/],
    ['a gzip body cut short without framing', { gzip: true, closeDelimitedShort: true }, /the gzip body was cut short \(Z_BUF_ERROR\)/],
  ])('surfaces %s as an error, never as a short body, and does not retry once streaming', async (_name, behaviour, reason) => {
    server.route('/broken.csv', [{ body: csv, ...behaviour }, { body: csv }]);
    const res = await client().stream(server.url('/broken.csv'));
    const err = await failure(drain(res.body));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toContain(`GET ${server.url('/broken.csv')} failed while streaming its body, after `);
    expect(err.message).toMatch(reason);
    expect(server.requestsTo('/broken.csv')).toHaveLength(1);
  });

  it('surfaces a body that stalls mid-stream as a timeout, without retrying', async () => {
    server.route('/stalls.csv', [{ body: csv, stall: 'midBody' }, { body: csv }]);
    const res = await client({ timeoutMs: 300 }).stream(server.url('/stalls.csv'));
    const err = await failure(drain(res.body));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toMatch(
      new RegExp(`^GET ${server.url('/stalls.csv')} failed while streaming its body, after \\d+ bytes: the body stalled for more than 300 ms`),
    );
    expect(res.bytesSoFar()).toBeGreaterThan(0);
    expect(server.requestsTo('/stalls.csv')).toHaveLength(1);
  });

  it('fails a stream whose headers come but never a byte, once its retries are spent', async () => {
    server.route('/empty.csv', { stall: 'headers' });
    const err = await failure(client({ timeoutMs: 300, retries: 0 }).stream(server.url('/empty.csv')));
    expect(err.message).toBe(`GET ${server.url('/empty.csv')} failed after 1 attempt: the body stalled for more than 300 ms (UND_ERR_BODY_TIMEOUT)`);
    expect(server.requestsTo('/empty.csv')).toHaveLength(1);
  });

  it('rejects a feed that answers 404', async () => {
    const err = await failure(client().stream(server.url('/missing.csv')));
    expect(err.message).toBe(`GET ${server.url('/missing.csv')} failed after 1 attempt: HTTP 404 Not Found`);
  });

  it.each([
    ['plain', { body: csv, chunked: true }],
    ['gzip', { body: csv + csv + csv, chunked: true, gzip: true }],
  ])('frees its connection slot when the reader stops early (%s)', async (_name, behaviour) => {
    server.route('/big.csv', behaviour);
    const http = client({ concurrency: 1 });
    const res = await http.stream(server.url('/big.csv'));
    for await (const _ of res.body) break;
    // With one slot, this would hang if breaking out had not released it.
    expect((await http.getText(server.url('/big.csv'))).text).toBe(behaviour.body);
  });
});

describe('conditional requests', () => {
  const modified = new Date('2026-11-30T08:00:00Z');

  it('sends If-None-Match and If-Modified-Since; a 304 resolves, for getText and stream alike', async () => {
    server.route('/v', { body: 'vin,price\n', contentType: 'text/csv', etag: '"abc"', lastModified: modified });
    const http = client();
    const full = await http.getText(server.url('/v'));
    expect(full.status).toBe(200);
    const v = validatorsOf(full.headers);
    expect(v).toEqual({ etag: '"abc"', lastModified: modified.toUTCString() });

    const text = await http.getText(server.url('/v'), { ifChanged: v });
    expect(text).toMatchObject({ status: 304, text: '' });
    const stream = await http.stream(server.url('/v'), { ifChanged: { lastModified: modified.toUTCString() } });
    expect(stream.status).toBe(304);
    expect((await drain(stream.body)).length).toBe(0);
    const [plain, byTag, byDate] = server.requestsTo('/v');
    expect(plain!.headers['if-none-match']).toBeUndefined();
    expect(byTag!.headers).toMatchObject({ 'if-none-match': '"abc"', 'if-modified-since': modified.toUTCString() });
    expect(byDate!.headers['if-none-match']).toBeUndefined();
    expect(byDate!.outcome).toBe('304');
    expect(http.stats()).toMatchObject({ requests: 3, retries: 0, statuses: { 200: 1, 304: 2 } });
  });

  it('a changed resource answers 200 to the conditional; a 304 nobody asked for is a failure', async () => {
    server.route('/changed', { body: 'new', etag: '"v2"' });
    server.route('/odd', { status: 304 });
    const http = client();
    expect(await http.getText(server.url('/changed'), { ifChanged: { etag: '"v1"' } })).toMatchObject({ status: 200, text: 'new' });
    const err = await failure(http.getText(server.url('/odd')));
    expect(err.message).toBe(`GET ${server.url('/odd')} failed after 1 attempt: HTTP 304 Not Modified`);
  });
});

describe('redirects and URLs', () => {
  it('follows a redirect and reports the final URL', async () => {
    server.route('/old', { status: 301, redirect: '/new' });
    server.route('/new', { body: 'moved here' });
    const http = client();
    const res = await http.getText(server.url('/old'));
    expect(res).toMatchObject({ status: 200, text: 'moved here', url: server.url('/new') });
    expect(http.stats()).toMatchObject({ requests: 2, retries: 0, statuses: { '301': 1, '200': 1 } });
    const s = await http.stream(server.url('/old'));
    expect(s.url).toBe(server.url('/new'));
    expect((await drain(s.body)).toString()).toBe('moved here');
  });

  it('fails on a redirect loop, naming the URL, without retrying', async () => {
    server.route('/a', { redirect: '/b' });
    server.route('/b', { redirect: server.url('/a') });
    const err = await failure(client().getText(server.url('/a')));
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toBe(
      `GET ${server.url('/a')} failed after 1 attempt: redirect loop: ${server.url('/a')} -> ${server.url('/b')} -> ${server.url('/a')}`,
    );
    expect(server.requests).toHaveLength(2);
  });

  it('fails after more than 5 redirects', async () => {
    server.route('/hop/:n', (req) => ({ redirect: `/hop/${Number(req.params.n) + 1}` }));
    const err = await failure(client().getText(server.url('/hop/0')));
    expect(err.message).toMatch(new RegExp(`^GET ${server.url('/hop/0')} failed after 1 attempt: more than 5 redirects: `));
    expect(server.requests).toHaveLength(6);
  });

  it('refuses a redirect to another scheme', async () => {
    server.route('/ftp', { redirect: 'ftp://example.test/file' });
    const err = await failure(client().getText(server.url('/ftp')));
    expect(err.message).toContain('redirected to ftp://example.test/file, which is not an http or https URL');
  });

  it.each(['ftp://example.test/feed.csv', 'file:///etc/passwd', 'javascript:alert(1)', 'not a url', '/relative/path'])(
    'refuses %s as a usage error, before any request',
    async (url) => {
      const http = client();
      for (const call of [() => http.getText(url), () => http.stream(url), () => http.getJson(url)]) {
        const err = await failure(call());
        expect(err.code).toBe('USAGE');
        expect(err.message).toContain(url);
      }
      expect(http.stats().requests).toBe(0);
    },
  );
});

describe('rate and concurrency, as the server sees them', () => {
  it('paces as a leaky bucket accepts: no 100 ms holds a burst (at most rate/10 + 15 request starts, jitter included)', async () => {
    server.route('/item/:n', (req) => ({ json: { n: Number(req.params.n) } }));
    const http = client({ rate: 200, concurrency: 16, retries: 0 });
    // The first requests of a process wait for their connections and reach the server together,
    // whatever the pacing: open them first, then measure.
    await Promise.all(Array.from({ length: 16 }, (_, i) => http.getJson(server.url(`/item/warm-${i}`))));
    server.resetRecords();
    await Promise.all(Array.from({ length: 150 }, (_, i) => http.getJson(server.url(`/item/${i}`))));
    expect(server.requests).toHaveLength(150);
    // The bucket grants at most 200/10 + 1 per 100 ms (token-bucket.test.ts proves it by a fake
    // clock); seen from the server, requests carry the scheduling jitter of a machine running three
    // test files at once (26 seen, 32 on a slow day). Bursty pacing put 40 and more in 100 ms at this rate.
    expect(server.maxInSlidingWindow(100)).toBeLessThanOrEqual(200 / 10 + 15);
    expect(server.maxInSlidingWindow(1000)).toBeLessThanOrEqual(200);
  });

  it('lowers the rate on 429s without Retry-After (nginx limit_req) and says so in its figures', async () => {
    server.setLimitReq({ rate: 50, burst: 5 });
    server.route('/item/:n', (req) => ({ json: { n: Number(req.params.n) } }));
    // (300 requests, as the target says: the first few throttled answers, while the rate comes
    // down from 400, weigh too much in fewer, and scheduling jitter adds one or two.)
    const http = client({ rate: 400, concurrency: 8, retries: 8 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => http.getJson(server.url(`/item/${i}`))));
    const s = http.stats();
    expect(s.statuses['200']).toBe(300);
    expect(s.throttled).toBe(server.limited);
    expect(s.throttled / s.requests).toBeLessThanOrEqual(0.15);
    expect(s.rate.start).toBe(400);
    expect(s.rate.lowest).toBeLessThanOrEqual(60);
  }, 30_000);

  it('lowers the rate on a 503 without Retry-After too, as on a 429; a 502 or 504 does not', async () => {
    server.route('/shed', [{ status: 503 }, { body: 'ok' }]);
    server.route('/faults', [{ status: 502 }, { status: 504 }, { body: 'ok' }]);
    const http = client({ rate: 100 });
    await http.getText(server.url('/faults'));
    expect(http.stats()).toMatchObject({ throttled: 0, rate: { start: 100, lowest: 100 } });
    await http.getText(server.url('/shed'));
    expect(http.stats()).toMatchObject({ throttled: 1, rate: { start: 100, lowest: 70 } });
  });

  it('a run that fails on 429s names a --rate that would have fit', async () => {
    server.setLimitReq({ rate: 20, burst: 1 });
    server.route('/item/:n', (req) => ({ json: { n: Number(req.params.n) } }));
    const http = client({ rate: 500, concurrency: 8, retries: 0, random: () => 0 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => http.getJson(server.url(`/item/${i}`))));
    const err = results.find((r) => r.status === 'rejected')!.reason as CarsError;
    expect(err.code).toBe('REMOTE_FAILED');
    expect(err.message).toMatch(/failed after 1 attempt: HTTP 429 Too Many Requests; the server throttled \d+ answers? while cars went down to [\d.]+ req\/s: --rate (\d+) would fit \(or more --retries\)$/);
    expect(Number(/--rate (\d+)/.exec(err.message)![1])).toBeLessThan(500);
  });

  it('keeps 80 requests at 40/s under a server cap of 40/s, with at most 8 in flight', async () => {
    server.setRateCap(40);
    server.route('/item/:n', (req) => ({ json: { n: Number(req.params.n) }, delayMs: 40 }));
    const http = client({ rate: 40, concurrency: 8, retries: 0 });
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 80 }, (_, i) => http.getJson<{ n: number }>(server.url(`/item/${i}`))));
    const elapsed = performance.now() - t0;
    expect(results.map((r) => r.data?.n)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(server.overCap).toBe(0);
    expect(server.maxPerFixedSecond()).toBeLessThanOrEqual(40);
    expect(server.maxInSlidingWindow(1000)).toBeLessThanOrEqual(40);
    expect(server.maxInFlight).toBeLessThanOrEqual(8);
    expect(elapsed).toBeGreaterThanOrEqual(79 * 25);
    expect(elapsed).toBeLessThan(79 * 25 * 1.5); // and not needlessly slow
    const stats = http.stats();
    expect(stats).toMatchObject({ requests: 80, retries: 0, statuses: { '200': 80 } });
    expect(stats.rate_wait_ms).toBeGreaterThan(0);
  });

  it('never has more than `concurrency` requests in flight', async () => {
    server.route('/slow/:n', { body: 'x', delayMs: 150 });
    const http = client({ concurrency: 8 });
    await Promise.all(Array.from({ length: 32 }, (_, i) => http.getText(server.url(`/slow/${i}`))));
    expect(server.maxInFlight).toBe(8);
  });

  it('a request called off while it waits for a token is never sent', async () => {
    server.route('/t/:n', { body: 'x' });
    const http = client({ rate: 2 });
    const off = new AbortController();
    const first = http.getText(server.url('/t/1'));
    const second = http.getText(server.url('/t/2'), { signal: off.signal }); // its token: 500 ms later
    await first;
    off.abort();
    await expect(second).rejects.toThrow(/abort/i);
    const third = await http.getText(server.url('/t/3')); // takes the token the second gave up
    expect(third.text).toBe('x');
    expect(server.requests.map((r) => r.path)).toEqual(['/t/1', '/t/3']);
    expect(http.stats().requests).toBe(2);
  });

  it('counts a request from its grant until 1 s after its answer: a slow answer pushes the next one back', async () => {
    // Rate 1: the first answer takes 700 ms, so the second request waits until 1 s after that answer
    // (the client cannot know how late in those 700 ms the server counted the first), not 1 s after
    // the first grant.
    server.route('/s/:n', (req) => ({ body: 'x', delayMs: req.params.n === '1' ? 700 : 0 }));
    const http = client({ rate: 1, concurrency: 2 });
    await Promise.all([1, 2].map((n) => http.getText(server.url(`/s/${n}`))));
    const [a, b] = server.requests.map((r) => r.at);
    expect(b! - a!).toBeGreaterThanOrEqual(1700 - 5);
  });

  it('takes a token for every retry as well', async () => {
    server.route('/r', [{ status: 503 }, { status: 503 }, { body: 'ok' }]);
    const http = client({ rate: 5, backoffBaseMs: 1, backoffCapMs: 1 });
    await http.getText(server.url('/r'));
    const times = server.requestsTo('/r').map((r) => r.at);
    // Sent 200 ms apart; seen by the server with each request's own transit delay (tens of ms on a
    // busy machine). Without a token per retry they would be 1 ms apart.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(170);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(170);
  });
});
