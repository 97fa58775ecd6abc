// feed: `cars import <url>` of a paginated JSON API (200 pages of 50 generated cars) from a local
// server capped at R = 200 requests/s (fixed 1 s windows; over the cap it answers 429 and counts
// it), with 5 % transient faults (500 or a connection reset, chosen by a seeded PRNG, so every
// run sees the same faults). Targets: achieved rate >= 0.95 R, zero requests over the cap,
// every item loaded. A run without faults is shown next to it, to separate the cost of the
// pagination itself from the cost of the retries. The page URLs step (/page/1 -> /page/2), so cars
// fetches predicted pages ahead; the requests that prediction wasted (pages past the end, a page
// answered twice) are counted from the server's side, and they count in the achieved rate too.
// A third scenario throttles below --rate as nginx `limit_req rate=50r/s burst=5 nodelay` does
// (429 without Retry-After): 300 pages at --rate 200 must all load, with 429s at most 15 % of the
// requests, by the adaptive rate.
import http from 'node:http';
import { cars, freshDatabase, fmt, prng, rateCap, table } from './harness.mjs';

const R = 200;
const PAGES = 200;
const PER_PAGE = 50;
const FAULTS = 0.05;
const SEED = 7;
const THROTTLE = { rate: 50, burst: 5, pages: 300 };

const MODELS = [['Volkswagen', 'Golf'], ['Toyota', 'Corolla'], ['BMW', '320d'], ['Skoda', 'Octavia'], ['Ford', 'Focus'], ['Volvo', 'XC60'], ['Audi', 'A4'], ['Kia', 'Ceed']];
const COLORS = ['Black', 'White', 'Silver', 'Blue', 'Red', 'Gray'];
const CONDITIONS = ['available', 'available', 'available', 'sold', 'reserved'];

/** Page p (1-based) as JSON text, the same on every call. */
function pageBody(p, pages = PAGES) {
  const rand = prng(SEED * 100_003 + p);
  const items = [];
  for (let i = 0; i < PER_PAGE; i++) {
    const n = (p - 1) * PER_PAGE + i;
    const [brand, model] = MODELS[Math.floor(rand() * MODELS.length)];
    items.push({
      vin: `FED${String(n).padStart(14, '0')}`,
      brand,
      model,
      year: 2008 + Math.floor(rand() * 17),
      price: Math.round(3000 + rand() * 60000) + (rand() < 0.3 ? 0.5 : 0),
      mileage: Math.floor(rand() * 250_000),
      condition: CONDITIONS[Math.floor(rand() * CONDITIONS.length)],
      color: COLORS[Math.floor(rand() * COLORS.length)],
      listed_at: `2025-${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`,
    });
  }
  return JSON.stringify({ items, next: p < pages ? `/page/${p + 1}` : null });
}

/** The capped, faulty API. Records arrival times on its own clock. */
async function startApi(faultRate, throttle) {
  const cap = rateCap(R);
  const pages = throttle?.pages ?? PAGES;
  // nginx limit_req (nodelay): the excess drains at throttle.rate/s; beyond the burst, 429.
  let excess = 0;
  let lastAt = 0;
  const limited = () => {
    if (!throttle) return false;
    const now = performance.now();
    const next = Math.max(0, excess - ((now - lastAt) * throttle.rate) / 1000) + 1;
    if (next > throttle.burst + 1) return true;
    excess = next;
    lastAt = now;
    return false;
  };
  // firstPageAt: when page 1 was answered (nothing can be predicted before it).
  const counts = { throttled: 0, overCap: 0, s500: 0, resets: 0, pages: 0, pastEnd: 0, again: 0, firstPageAt: undefined };
  const served = new Set();
  const faults = prng(SEED);
  const server = http.createServer((req, res) => {
    if (limited()) {
      counts.throttled++;
      res.writeHead(429, { 'content-type': 'text/html' }).end('<html><title>429 Too Many Requests</title></html>\n');
      return;
    }
    const admitted = cap.admit();
    const at = cap.arrivals.at(-1);
    if (!admitted) {
      counts.overCap++;
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' }).end('over the cap\n');
      return;
    }
    const m = /^\/page\/(\d+)$/.exec(req.url ?? '');
    if (!m || Number(m[1]) < 1 || Number(m[1]) > pages) {
      if (m && Number(m[1]) > pages) counts.pastEnd++;
      res.writeHead(404).end();
      return;
    }
    const f = faults();
    if (f < faultRate / 2) {
      counts.s500++;
      res.writeHead(500, { 'content-type': 'text/plain' }).end('try again\n');
      return;
    }
    if (f < faultRate) {
      counts.resets++;
      req.socket.destroy();
      return;
    }
    counts.pages++;
    if (served.has(m[1])) counts.again++;
    if (m[1] === '1') counts.firstPageAt ??= at;
    served.add(m[1]);
    const body = pageBody(Number(m[1]), pages);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    arrivals: cap.arrivals,
    counts,
    busiestFixed: cap.busiestFixed,
    busiestSliding: cap.busiestSliding,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

async function once(server, faultRate, throttle) {
  const api = await startApi(faultRate, throttle);
  const db = await freshDatabase(server.admin);
  try {
    const r = await cars(['import', `${api.url}/page/1`, '--rate', String(R), '--concurrency', '16', '--json'], db.url);
    if (r.code !== 0 && !throttle) throw new Error(`cars import exited ${r.code}:\n${r.stderr}`);
    const summary = JSON.parse(r.stdout);
    const sql = db.sql();
    const [{ n }] = await sql`select count(*)::int as n from cars`;
    await sql.end();
    const requests = api.arrivals.length + api.counts.throttled;
    const fetchMs = api.arrivals.at(-1) - api.arrivals[0];
    return {
      faultRate,
      requests,
      fetchMs,
      rate: ((requests - 1) * 1000) / fetchMs,
      busiestFixed: api.busiestFixed(),
      busiestSliding: api.busiestSliding(),
      overCap: api.counts.overCap,
      pastEnd: api.counts.pastEnd,
      again: api.counts.again,
      // The requests a strictly sequential import would have made too: each page's, and each retry.
      needed: requests - api.counts.pastEnd - api.counts.again,
      beforeFirstPage: api.arrivals.filter((t) => t < api.counts.firstPageAt).length,
      firstPageMs: api.counts.firstPageAt - api.arrivals[0],
      faults: api.counts.s500 + api.counts.resets,
      s500: api.counts.s500,
      resets: api.counts.resets,
      code: r.code,
      throttled: api.counts.throttled,
      effective: summary.http.rate,
      retries: summary.http.retries,
      backoffMs: summary.http.backoff_wait_ms,
      rateWaitMs: summary.http.rate_wait_ms,
      rows: n,
      read: summary.rows.read,
      totalMs: r.ms,
      peakRssMb: r.peakRssMb,
    };
  } finally {
    await api.close();
    await db.drop();
  }
}

export default async function (server) {
  console.log(`paginated import: ${PAGES} pages x ${PER_PAGE} cars, server cap R = ${R} req/s (fixed 1 s windows), --rate ${R} --concurrency 16`);
  const clean = await once(server, 0);
  const faulty = await once(server, FAULTS);
  const rows = [['', 'no faults', `${FAULTS * 100}% faults`]];
  const both = (label, f) => rows.push([label, f(clean), f(faulty)]);
  both('requests (server side)', (x) => fmt.n(x.requests));
  both('faults served (500 / reset)', (x) => `${x.s500} / ${x.resets}`);
  both('retries (cars report)', (x) => fmt.n(x.retries));
  both('fetch phase (first to last request)', (x) => fmt.s(x.fetchMs));
  both('achieved rate, req/s', (x) => x.rate.toFixed(1));
  both('achieved rate / R', (x) => (x.rate / R).toFixed(3));
  both('busiest fixed 1 s window', (x) => fmt.n(x.busiestFixed));
  both('busiest sliding 1 s window', (x) => fmt.n(x.busiestSliding));
  both('requests over the cap (429)', (x) => fmt.n(x.overCap));
  both('wasted: past the end (404) / page again', (x) => `${x.pastEnd} / ${x.again}`);
  both('rate of the needed requests, req/s', (x) => (((x.needed - 1) * 1000) / x.fetchMs).toFixed(1));
  both('waited for backoff (summed over fetches)', (x) => fmt.s(x.backoffMs));
  both('waited for the rate limit (summed)', (x) => fmt.s(x.rateWaitMs));
  // Page 1 is fetched alone (its retries too): only its answer tells what to predict.
  both('until page 1 was answered', (x) => fmt.s(x.firstPageMs));
  both('rate from page 1 answered to the last, req/s', (x) => (((x.requests - x.beforeFirstPage - 1) * 1000) / (x.fetchMs - x.firstPageMs)).toFixed(1));
  both('rows in the table / expected', (x) => `${fmt.n(x.rows)} / ${fmt.n(PAGES * PER_PAGE)}`);
  both('total time (process)', (x) => fmt.s(x.totalMs));
  both('peak RSS', (x) => fmt.mb(x.peakRssMb));
  console.log(table(rows));

  const rateOk = faulty.rate >= 0.95 * R;
  const capOk = faulty.overCap === 0 && clean.overCap === 0;
  const rowsOk = faulty.rows === PAGES * PER_PAGE && clean.rows === PAGES * PER_PAGE;
  console.log(`targets (with faults): rate >= ${0.95 * R} req/s ${rateOk ? 'met' : 'MISSED'}; 0 over the cap ${capOk ? 'met' : 'MISSED'}; every item loaded ${rowsOk ? 'met' : 'MISSED'}`);
  if (!rateOk) {
    console.log(
      'note: page 1 is fetched alone, retries and backoff included (nothing can be predicted before its answer);\n' +
        '      after it, compare "rate from page 1 answered to the last" with R: what is left is pacing and a busy event loop.',
    );
  }
  const t = await once(server, 0, THROTTLE);
  const share = t.throttled / t.requests;
  const done = t.code === 0 && t.rows === THROTTLE.pages * PER_PAGE;
  console.log(
    `\nthrottled: ${THROTTLE.pages} pages, server limit_req ${THROTTLE.rate} r/s burst ${THROTTLE.burst} (429 without Retry-After), --rate ${R} --concurrency 16\n` +
      `  completion: exit ${t.code}, ${fmt.n(t.rows)} / ${fmt.n(THROTTLE.pages * PER_PAGE)} rows; ${fmt.n(t.requests)} requests, ${fmt.n(t.throttled)} x 429 (${(share * 100).toFixed(1)} %)\n` +
      `  effective rate (cars): start ${t.effective?.start}, lowest ${t.effective?.lowest}, end ${t.effective?.end} req/s; achieved ${((t.requests - 1) * 1000 / t.fetchMs).toFixed(1)} req/s at the server; ${fmt.s(t.totalMs)} total`,
  );
  const throttleOk = done && share <= 0.15;
  console.log(`targets (throttled): every item once ${done ? 'met' : 'MISSED'}; 429s <= 15 % ${share <= 0.15 ? 'met' : 'MISSED'}`);
  return rateOk && capOk && rowsOk && throttleOk;
}
