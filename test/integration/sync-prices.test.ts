// cars sync-prices through the real binary, against a real PostgreSQL (18, and 15 when it answers
// for the main feed test) and a real local HTTP server that misbehaves on purpose.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempDir, type Result } from '../support/cli.js';
import { connect, freshDatabase, servers, untilCounted, type Server } from '../support/db.js';
import { startMisbehavingServer, type MisbehavingServer } from '../support/misbehaving-server.js';
import { CsvSplitter } from '../../src/sources/csv-records.js';
import { LOCK_CLASS, shardOf, WHOLE_TABLE_KEY } from '../../src/sync/shard.js';
import { createPool, POOL_DEFAULTS } from '../../src/db/pool.js';
import { urlTarget } from '../../src/db/target.js';
import { namedQuery } from '../../src/db/queries.js';

const tmp = tempDir('cars-sync-');
const home = path.join(tmp, 'home');
let bigCsv: string; // 2000 cars
let smallCsv: string; // 300 cars
let big: Car[];
let small: Car[];
const cleanups: Array<() => Promise<unknown>> = [];
let web: MisbehavingServer;

interface Car {
  vin: string;
  price: string;
  condition: string;
}

type Sql = ReturnType<typeof connect>;

beforeAll(async () => {
  web = await startMisbehavingServer();
  for (const [n, seed] of [
    [2000, 3],
    [300, 5],
  ]) {
    const g = await cars(['generate', String(n), '--seed', String(seed)]);
    expect(g.code, g.stderr).toBe(0);
    const file = path.join(tmp, `cars-${n}.csv`);
    fs.writeFileSync(file, g.stdout);
    if (n === 2000) [bigCsv, big] = [file, readCars(file)];
    else [smallCsv, small] = [file, readCars(file)];
  }
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await web.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function readCsv(file: string): Array<Record<string, string>> {
  const s = new CsvSplitter(',');
  const items = s.end(s.push(fs.readFileSync(file, 'utf8')));
  const [head, ...rest] = items.map((i) => (i.kind === 'record' ? i.fields : []));
  return rest.map((f) => Object.fromEntries(head.map((h, i) => [h, f[i]])));
}

function readCars(file: string): Car[] {
  return readCsv(file).map((r) => ({ vin: r.vin, price: r.price, condition: r.condition }));
}

function summary(r: Result) {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`no JSON summary on stdout (exit ${r.code}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

const money = (v: string | number) => Number(v).toFixed(2);

/** A fresh database on `server` with `file` imported; dropped after the file's tests. */
async function seeded(server: Server, file: string): Promise<{ url: string; sql: Sql; run: (args: string[], input?: string | Buffer, onSpawn?: (c: ChildProcess) => void) => Promise<Result> }> {
  const { url, drop } = await freshDatabase(server);
  const sql = connect(url);
  cleanups.push(drop, () => sql.end({ timeout: 5 }));
  const run = (args: string[], input?: string | Buffer, onSpawn?: (c: ChildProcess) => void) =>
    cars(['sync-prices', '--no-progress', ...args], { env: { DATABASE_URL: url, CARS_HOME: home }, input, onSpawn });
  const r = await cars(['import', file, '--no-progress', '--quiet'], { env: { DATABASE_URL: url, CARS_HOME: home } });
  expect(r.code, r.stderr).toBe(0);
  return { url, sql, run };
}

async function prices(sql: Sql): Promise<Map<string, string>> {
  const rows = await sql`select vin, price::text as price from cars`;
  return new Map(rows.map((r) => [r.vin as string, money(r.price as string)]));
}

/** What a feed must do to a table, row by row in order: the model the counts are checked against. */
function model(start: Map<string, string>, feed: Array<{ vin: string; price: string }>) {
  const now = new Map(start);
  const changes: Array<{ vin: string; old: string; new: string }> = [];
  let unchanged = 0;
  let unknown = 0;
  for (const { vin, price } of feed) {
    const old = now.get(vin);
    if (old === undefined) unknown++;
    else if (old !== money(price)) {
      changes.push({ vin, old, new: money(price) });
      now.set(vin, money(price));
    } else unchanged++;
  }
  return { changed: changes.length, unchanged, unknown, changes, final: now };
}

async function history(sql: Sql, runId?: number) {
  const rows = runId
    ? await sql`select c.vin, h.old_price::text as old, h.new_price::text as new, h.run_id from car_price_history h join cars c on c.id = h.car_id where h.run_id = ${runId} order by h.id`
    : await sql`select c.vin, h.old_price::text as old, h.new_price::text as new, h.run_id from car_price_history h join cars c on c.id = h.car_id order by h.id`;
  return rows.map((r) => ({ vin: r.vin as string, old: money(r.old as string), new: money(r.new as string), run_id: Number(r.run_id) }));
}

const sortChanges = (c: Array<{ vin: string; old: string; new: string }>) => [...c].map((x) => `${x.vin} ${x.old} ${x.new}`).sort();

/** Prometheus text -> { 'name{labels}': value }. */
function readMetrics(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

const UNKNOWN_VINS = ['ZZZZZZZZZZZZZZZ01', 'ZZZZZZZZZZZZZZZ02', 'ZZZZZZZZZZZZZZZ03', 'ZZZZZZZZZZZZZZZ04', 'ZZZZZZZZZZZZZZZ05'];

describe.each(servers())('feed mode on $name', (server: Server) => {
  it('counts changed, unchanged and unknown exactly; history rows are the changes; rejects and unknown VINs are listed; metrics', async () => {
    const { sql, run } = await seeded(server, bigCsv);
    // Every 10th car gets a new price; five VINs the table lacks; car 1 twice with two new prices,
    // car 5 twice with the same price; four bad rows.
    const feed: Array<{ vin: string; price: string }> = big.map((c, i) => ({ vin: c.vin, price: i % 10 === 0 ? String(Number(c.price) + 100) : c.price }));
    feed.splice(700, 0, { vin: big[1].vin, price: money(Number(big[1].price) + 1) }, { vin: big[5].vin, price: big[5].price });
    feed.push(...UNKNOWN_VINS.map((vin) => ({ vin, price: '1000' })));
    feed.push({ vin: big[1].vin, price: money(Number(big[1].price) + 2) }, { vin: big[5].vin, price: big[5].price });
    const lines = ['vin,price', ...feed.map((f) => `${f.vin},${f.price}`)];
    const bad = ['BADVIN,100', `${big[2].vin},-5`, '"unclosed,12', `${big[3].vin},12,extra`];
    lines.push(...bad);
    const file = path.join(tmp, `${server.name}-feed.csv`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const before = await prices(sql);
    const want = model(before, feed);
    const metricsFile = path.join(tmp, `${server.name}-sync.prom`);
    const rejects = path.join(tmp, `${server.name}-feed-rejects.csv`);

    const r = await run(['--feed', file, '--batch-size', '150', '--workers', '3', '--json', '--rejects', rejects, '--metrics-file', metricsFile]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.status).toBe('ok');
    // Car 1's price changed in two batches: one change, from its first price to its last; the earlier is superseded.
    expect(s.rows).toEqual({ checked: feed.length, changed: want.changed - 1, unchanged: want.unchanged, unknown: 5, failed: 0, rejected: 4, superseded: 1 });
    expect(want.changed).toBe(202);
    expect(s.accounting).toMatch(/✓; 4 feed rows rejected$/);
    expect(s.failures_file).toBeNull();

    // History: one row per car whose price changed, with the price before the run, the price that
    // stands, and this run (a price that stood only between two batches is not one).
    const h = await history(sql);
    expect(h.every((x) => x.run_id === s.run_id)).toBe(true);
    const collapsed = [...want.changes.filter((c) => c.vin !== big[1].vin), { vin: big[1].vin, old: money(big[1].price), new: money(Number(big[1].price) + 2) }];
    expect(sortChanges(h)).toEqual(sortChanges(collapsed));
    expect(h.filter((x) => x.vin === big[1].vin).map((x) => [x.old, x.new])).toEqual([[money(big[1].price), money(Number(big[1].price) + 2)]]);
    expect(await prices(sql)).toEqual(want.final);

    // The unknown VINs with their line, the bad rows with theirs.
    expect(s.unknown_file).toBeTruthy();
    const unknown = readCsv(s.unknown_file);
    expect(unknown.map((u) => u.vin).sort()).toEqual(UNKNOWN_VINS);
    expect(unknown.map((u) => Number(u.line)).sort((a, b) => a - b)).toEqual([2004, 2005, 2006, 2007, 2008]);
    expect(s.first_unknown).toHaveLength(5);
    expect(s.rejects_file).toBe(rejects);
    const rej = readCsv(rejects);
    expect(rej.map((x) => Number(x.line))).toEqual([2011, 2012, 2013, 2014]);
    expect(rej[0].error).toMatch(/vin "BADVIN" must be 17 characters/);
    expect(rej[1].error).toMatch(/negative/);
    expect(rej[2].error).toMatch(/malformed CSV/);
    expect(rej[3].error).toMatch(/wrong number of fields/);

    // The run is recorded, and the metrics file carries what cron alerts on.
    const [runRow] = await sql`select command, status, counts from runs where id = ${s.run_id}`;
    expect(runRow).toMatchObject({ command: 'sync-prices', status: 'ok' });
    expect(runRow.counts).toEqual(s.rows);
    const m = readMetrics(metricsFile);
    const cmd = 'command="sync-prices"';
    expect(m[`cars_last_success_timestamp_seconds{${cmd}}`]).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(m[`cars_last_run_exit_code{${cmd}}`]).toBe(0);
    expect(m[`cars_last_run_rows{${cmd},outcome="changed"}`]).toBe(201);
    expect(m[`cars_last_run_rows{${cmd},outcome="failed"}`]).toBe(0);
    expect(m[`cars_last_run_rows{${cmd},outcome="unknown"}`]).toBe(5);
    expect(m[`cars_last_run_duration_seconds{${cmd}}`]).toBeGreaterThan(0);
    expect(m[`cars_last_run_rss_peak_bytes{${cmd}}`]).toBeGreaterThan(10 * 1024 * 1024);

    // Again, in one batch per writer: the repeated cars' earlier rows are superseded by their last
    // (as in an import batch), whose prices already stand; nothing is written.
    const again = summary(await run(['--feed', file, '--json', '--rejects', rejects + '.2']));
    expect(again.rows).toEqual({ checked: feed.length, changed: 0, unchanged: feed.length - 5 - 4, unknown: 5, failed: 0, rejected: 4, superseded: 4 });
    expect(await history(sql, again.run_id)).toEqual([]);
  });
});

describe('sync-prices on pg18', () => {
  const pg18 = servers()[0];

  it("the writers' connections plan a batch as large as the table with nested loops over the indexes; unknown VINs still come back", async () => {
    const { url, sql } = await seeded(pg18, bigCsv);
    const batch = [...big.map((c, i) => ({ vin: c.vin, price: i % 10 === 0 ? String(Number(c.price) + 1) : c.price })), { vin: UNKNOWN_VINS[0], price: '100' }];
    const params = ['{' + batch.map((c) => c.vin).join(',') + '}', '{' + batch.map((c) => c.price).join(',') + '}', null, '00000000-0000-4000-8000-000000000001'];
    const text = namedQuery('price_update').text;
    type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };
    const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];
    const label = (n: PlanNode) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`;
    const planOf = async (q: typeof sql) => {
      const [row] = await q.unsafe(`explain (format json) ${text}`, params as never[]);
      return nodes((row['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0].Plan);
    };
    const explain = async (q: typeof sql) => (await planOf(q)).map(label);
    // Without the settings the planner hashes the whole table (what the settings are for).
    expect(await explain(sql)).toContain('Seq Scan on cars');
    const writers = createPool(urlTarget(url, 'test'), { ...POOL_DEFAULTS, max: 1 }, namedQuery('price_update').settings);
    try {
      const [s] = await writers`select current_setting('enable_hashjoin') as hash, current_setting('enable_mergejoin') as merge`;
      expect(s).toEqual({ hash: 'off', merge: 'off' });
      const plan = await planOf(writers as unknown as typeof sql);
      expect(plan.map(label).filter((n) => /Hash|Merge Join|Seq Scan on cars/.test(n))).toEqual([]);
      // Every join probes an index of cars for each outer row (no loop over a whole CTE per row).
      const inner = plan.filter((n) => n['Node Type'] === 'Nested Loop').map((n) => label(n.Plans![1]));
      expect(inner).toEqual(['Index Scan on cars', 'Index Scan on cars', 'Index Scan on cars']);
      // And run: the changes are written, the unknown VIN is named, nothing else.
      const [r] = await writers.unsafe(text, params as never[]);
      expect({ known: r.known, changed: r.changed, unknown: r.unknown }).toEqual({ known: big.length, changed: big.length / 10, unknown: [UNKNOWN_VINS[0]] });
    } finally {
      await writers.end({ timeout: 5 });
    }
    const [h] = await sql`select count(*)::int as n from car_price_history`;
    expect(h.n).toBe(big.length / 10);
  });

  it('NDJSON, gzipped, from stdin; --dry-run compares, shows the first changes and writes nothing', async () => {
    const { sql, run } = await seeded(pg18, smallCsv);
    const feed = small.map((c, i) => ({ vin: c.vin, price: i % 4 === 0 ? String(Number(c.price) + 10) : c.price }));
    feed.push({ vin: UNKNOWN_VINS[0], price: '5' });
    const ndjson = [
      ...feed.map((f, i) => JSON.stringify({ vin: f.vin, price: i % 2 ? Number(f.price) : f.price })),
      '{"vin": "1HGCM82633A004352"',
      JSON.stringify({ vin: small[0].vin, price: 'cheap' }),
      '',
    ].join('\n');
    const gz = zlib.gzipSync(ndjson);
    const before = await prices(sql);
    const want = model(before, feed);
    const runsBefore = (await sql`select count(*)::int as n from runs`)[0].n;

    const dry = await run(['--feed', '-', '--dry-run', '--json'], gz);
    expect(dry.code, dry.stderr).toBe(0);
    const d = summary(dry);
    expect(d.rows).toEqual({ checked: feed.length, changed: want.changed, unchanged: want.unchanged, unknown: 1, failed: 0, rejected: 2, superseded: 0 });
    expect(d.dry_run).toBe(true);
    expect(d.run_id).toBeNull();
    expect(d.first_changes).toHaveLength(10);
    const all = new Set(sortChanges(want.changes));
    for (const c of d.first_changes) expect(all.has(`${c.vin} ${money(c.old)} ${money(c.new)}`)).toBe(true);
    expect(dry.stderr).toMatch(/dry run: 75 prices would change, nothing was written; the first 10:/);
    expect(dry.stderr).toMatch(new RegExp(`${d.first_changes[0].vin} +\\d+(\\.\\d\\d)? -> \\d+`));
    // Nothing written: no history, no prices, no run row.
    expect((await sql`select count(*)::int as n from car_price_history`)[0].n).toBe(0);
    expect(await prices(sql)).toEqual(before);
    expect((await sql`select count(*)::int as n from runs`)[0].n).toBe(runsBefore);

    const real = await run(['--feed', '-', '--json'], gz);
    expect(real.code, real.stderr).toBe(0);
    const s = summary(real);
    expect(s.rows).toEqual(d.rows);
    expect(sortChanges(await history(sql, s.run_id))).toEqual(sortChanges(want.changes));
    expect(await prices(sql)).toEqual(want.final);
    const rej = readCsv(s.rejects_file);
    expect(rej.map((x) => Number(x.line))).toEqual([302, 303]);
    expect(rej[0].error).toMatch(/not valid JSON/);
    expect(rej[1].error).toMatch(/price "cheap"/);
  });

  it('a feed URL is retried through the HTTP layer (gzip by content); one that stays down exits 4', async () => {
    const { sql, run } = await seeded(pg18, smallCsv);
    const feed = small.map((c, i) => ({ vin: c.vin, price: i % 5 === 0 ? String(Number(c.price) + 7) : c.price }));
    const body = zlib.gzipSync(['vin,price', ...feed.map((f) => `${f.vin},${f.price}`)].join('\n') + '\n');
    web.route('/feeds/ok.csv.gz', [{ status: 503 }, { status: 429, retryAfter: 1 }, { body, contentType: 'application/octet-stream' }]);
    web.route('/feeds/down.csv', { status: 503 });
    const want = model(await prices(sql), feed);

    const ok = await run(['--feed', web.url('/feeds/ok.csv.gz'), '--json', '--retries', '3']);
    expect(ok.code, ok.stderr).toBe(0);
    const s = summary(ok);
    expect(s.rows).toEqual({ checked: 300, changed: want.changed, unchanged: want.unchanged, unknown: 0, failed: 0, rejected: 0, superseded: 0 });
    expect(s.http).toMatchObject({ requests: 3, retries: 2 });
    expect(web.retryAfterViolations()).toEqual([]);

    const before = await prices(sql);
    const down = await run(['--feed', web.url('/feeds/down.csv'), '--json', '--retries', '1']);
    expect(down.code, down.stderr).toBe(4);
    const d = summary(down);
    expect(d.status).toBe('failed');
    expect(d.error.code).toBe('REMOTE_FAILED');
    expect(d.error.message).toMatch(/down\.csv failed after 2 attempts: HTTP 503/);
    expect(await prices(sql)).toEqual(before);
    expect((await sql`select status from runs where id = ${d.run_id}`)[0].status).toBe('failed');
  });

  it('API mode: 404 is unknown, failed cars keep their price and are listed with URL and error; exit 3 over --max-failure-rate', async () => {
    const { sql, run } = await seeded(pg18, smallCsv);
    const index = new Map(small.map((c, i) => [c.vin, i]));
    const kind = (i: number) => (i % 50 === 7 ? '404' : i % 100 === 13 ? '503' : i % 100 === 29 ? 'bad' : i % 3 === 0 ? 'new' : 'same');
    web.route('/api/cars/:vin/price', (req) => {
      const i = index.get(req.params.vin!);
      if (i === undefined) return { status: 404 };
      const c = small[i];
      switch (kind(i)) {
        case '404':
          return { status: 404, json: { error: 'no such car' } };
        case '503':
          return { status: 503 };
        case 'bad':
          return { json: { vin: c.vin, price: 'abc' } };
        case 'new':
          return { json: { vin: c.vin, price: Number(c.price) + 25 } };
        default:
          return { json: { vin: c.vin, price: c.price } };
      }
    });
    web.resetRecords();
    const before = await prices(sql);
    const kinds = small.map((_, i) => kind(i));
    const count = (k: string) => kinds.filter((x) => x === k).length;
    const metricsFile = path.join(tmp, 'api.prom');
    const base = web.url('/api');

    const r = await run(['--api', base, '--json', '--rate', '1000', '--concurrency', '8', '--retries', '1', '--batch-size', '40', '--max-failure-rate', '5', '--metrics-file', metricsFile]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toEqual({ checked: 300, changed: count('new'), unchanged: count('same'), unknown: count('404'), failed: count('503') + count('bad'), rejected: 0, superseded: 0 });
    expect(web.maxInFlight).toBeLessThanOrEqual(8);
    // Failed cars keep their price and are in the failures file with their URL and last error.
    const failures = readCsv(s.failures_file);
    expect(failures).toHaveLength(count('503') + count('bad'));
    const after = await prices(sql);
    for (const f of failures) {
      const i = index.get(f.vin)!;
      expect(f.url).toBe(`${base}/cars/${f.vin}/price`);
      expect(f.error).toMatch(kind(i) === '503' ? /failed after 2 attempts: HTTP 503/ : /unusable price: price "abc"/);
      expect(after.get(f.vin)).toBe(before.get(f.vin));
    }
    const unknown = readCsv(s.unknown_file);
    expect(unknown.map((u) => u.vin).sort()).toEqual(small.filter((_, i) => kind(i) === '404').map((c) => c.vin).sort());
    expect(unknown[0].url).toMatch(/\/api\/cars\/.+\/price$/);
    const h = await history(sql, s.run_id);
    expect(h).toHaveLength(count('new'));
    for (const x of h) expect(Number(x.new) - Number(x.old)).toBe(25);
    expect(r.stderr).toMatch(/cars kept their price because it could not be fetched/);
    const m1 = readMetrics(metricsFile);
    const cmd = 'command="sync-prices"';
    expect(m1[`cars_last_run_rows{${cmd},outcome="failed"}`]).toBe(count('503') + count('bad'));
    expect(m1[`cars_last_run_rows{${cmd},outcome="unknown"}`]).toBe(count('404'));
    const success = m1[`cars_last_success_timestamp_seconds{${cmd}}`];

    // The default 1%: 2% failed is over it. The run may stop early once the rate cannot recover.
    const over = await run(['--api', base, '--json', '--rate', '1000', '--concurrency', '8', '--retries', '0', '--metrics-file', metricsFile]);
    expect(over.code, over.stderr).toBe(3);
    const o = summary(over);
    expect(o.status).toBe('threshold');
    expect(o.error.code).toBe('MAX_FAILURE_RATE');
    expect(o.error.message).toMatch(/% of \d+ cars failed, more than --max-failure-rate 1%/);
    expect(o.error.message).toContain('more --retries than 0 may ride it out');
    expect(o.rows.checked).toBe(o.rows.changed + o.rows.unchanged + o.rows.unknown + o.rows.failed);
    const m2 = readMetrics(metricsFile);
    expect(m2[`cars_last_run_exit_code{${cmd}}`]).toBe(3);
    expect(m2[`cars_last_success_timestamp_seconds{${cmd}}`]).toBe(success);

    // A service that answers nothing at all is the remote failing: exit 4, stopped early.
    web.route('/down/cars/:vin/price', { status: 503 });
    const down = await run(['--api', web.url('/down'), '--json', '--rate', '1000', '--retries', '0', '--concurrency', '4', '--max-failure-rate', '100']);
    expect(down.code, down.stderr).toBe(4);
    const dn = summary(down);
    expect(dn.error.code).toBe('REMOTE_FAILED');
    expect(dn.error.message).toMatch(/the price service answered none of the \d+ cars asked \(stopped early\); e\.g\. .*HTTP 503/);
    expect(dn.rows.checked).toBeLessThan(300);
    expect(dn.rows.failed).toBe(dn.rows.checked);

    // --condition narrows the cars asked.
    const sold = small.filter((c) => c.condition === 'sold').length;
    const narrowed = summary(await run(['--api', base, '--json', '--rate', '1000', '--retries', '0', '--condition', 'sold', '--dry-run', '--max-failure-rate', '100']));
    expect(narrowed.rows.checked).toBe(sold);
  });

  it('API mode behind a limit like nginx limit_req (429 without Retry-After): the rate adapts; a run that fails on them names a --rate', async () => {
    const { run } = await seeded(pg18, smallCsv);
    const byVin = new Map(small.map((c) => [c.vin, c]));
    web.route('/limited/cars/:vin/price', (req) => ({ json: { vin: req.params.vin, price: byVin.get(req.params.vin!)?.price ?? 1 } }));
    web.setLimitReq({ rate: 150, burst: 5 });
    web.resetRecords();
    const base = web.url('/limited');
    try {
      const strict = await run(['--api', base, '--json', '--rate', '600', '--concurrency', '16', '--retries', '0', '--dry-run']);
      expect(strict.code, strict.stderr).toBe(3);
      const s = summary(strict);
      expect(s.http.throttled).toBeGreaterThan(0);
      expect(s.error.message).toMatch(/the service throttled \d+ answers while the rate went down to [\d.]+ req\/s: try --rate \d+ \(or more --retries than 0\)$/);

      web.setLimitReq({ rate: 150, burst: 5 });
      web.resetRecords();
      const ok = await run(['--api', base, '--json', '--rate', '600', '--concurrency', '16', '--dry-run']);
      expect(ok.code, ok.stderr).toBe(0);
      const o = summary(ok);
      expect(o.rows.checked).toBe(small.length);
      expect(o.rows.failed).toBe(0);
      expect(o.http.statuses['429'] ?? 0).toBe(web.limited);
      expect(web.limited / o.http.requests).toBeLessThanOrEqual(0.15);
      expect(o.http.rate.start).toBe(600);
      expect(o.http.rate.lowest).toBeLessThan(600);
    } finally {
      web.setLimitReq(undefined); // the server is shared by the tests that follow
    }
  }, 30_000);

  it('the lock: a second run exits 3 at once naming host, pid and start of the first; a held key blocks too; SIGTERM stops cleanly', async () => {
    const { sql, run } = await seeded(pg18, smallCsv);
    web.route('/slow/cars/:vin/price', (req) => ({ delayMs: 150, json: { vin: req.params.vin, price: 1234 } }));
    let first!: ChildProcess;
    const a = run(['--api', web.url('/slow'), '--json', '--concurrency', '1', '--rate', '100'], undefined, (c) => (first = c));
    // Wait until the first run holds the lock.
    let holder: { host: string; pid: number } | undefined;
    for (let i = 0; i < 200 && !holder; i++) {
      [holder] = (await sql`select host, pid from sync_lock_holders`) as unknown as Array<{ host: string; pid: number }>;
      if (!holder) await new Promise((r) => setTimeout(r, 50));
    }
    expect(holder).toMatchObject({ host: os.hostname(), pid: first.pid });

    const t0 = performance.now();
    const second = await run(['--feed', smallCsv, '--json']);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(second.code, second.stderr).toBe(3);
    const s2 = summary(second);
    expect(s2.error.code).toBe('LOCKED');
    expect(s2.error.message).toMatch(new RegExp(`holds the lock for all cars: host ${os.hostname().replace(/\./g, '\\.')}, pid ${first.pid}, started \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d`));
    expect(s2.rows.changed).toBe(0);
    const shard = await run(['--feed', smallCsv, '--shard', '1/3', '--json']);
    expect(shard.code).toBe(3);
    expect(summary(shard).error.message).toMatch(new RegExp(`shard 1/3 .*pid ${first.pid}`));
    expect(second.stderr).toMatch(/another run holds the lock/);

    // SIGTERM: the first run finishes what is in flight, reports, exits 130.
    first.kill('SIGTERM');
    const ra = await a;
    expect(ra.code, ra.stderr).toBe(130);
    const sa = summary(ra);
    expect(sa.status).toBe('interrupted');
    expect(sa.rows.checked).toBe(sa.rows.changed + sa.rows.unchanged + sa.rows.unknown + sa.rows.failed);
    expect((await history(sql, sa.run_id)).length).toBe(sa.rows.changed);
    expect(sa.rows.checked).toBeLessThan(300);

    // A session holding the key (here: this test) blocks a run, which names that session.
    const held = await sql.reserve();
    try {
      await held`select pg_advisory_lock(${LOCK_CLASS}::int, ${WHOLE_TABLE_KEY}::int)`;
      const [{ pid }] = await held`select pg_backend_pid() as pid`;
      const blocked = await run(['--feed', smallCsv, '--json']);
      expect(blocked.code).toBe(3);
      expect(summary(blocked).error.message).toMatch(new RegExp(`database session ${pid} \\(application_name "[^"]*"\\), client 127\\.0\\.0\\.1, connected since \\d{4}-`));
      await held`select pg_advisory_unlock_all()`;
    } finally {
      held.release();
    }
    const free = await run(['--feed', smallCsv, '--json']);
    expect(free.code, free.stderr).toBe(0);
    expect((await sql`select count(*)::int as n from sync_lock_holders`)[0].n).toBe(0);
  });

  it('shards 0/3, 1/3 and 2/3 run side by side and together touch every car exactly once (API and feed)', async () => {
    const { sql, run } = await seeded(pg18, smallCsv);
    web.route('/shards/cars/:vin/price', (req) => {
      const c = small.find((x) => x.vin === req.params.vin)!;
      return { json: { vin: c.vin, price: Number(c.price) + 1 } };
    });
    web.resetRecords();
    const api = await Promise.all([0, 1, 2].map((i) => run(['--api', web.url('/shards'), '--shard', `${i}/3`, '--json', '--rate', '1000'])));
    const sums = api.map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return summary(r);
    });
    expect(sums.reduce((a, s) => a + s.rows.checked, 0)).toBe(300);
    expect(sums.reduce((a, s) => a + s.rows.changed, 0)).toBe(300);
    for (const [i, s] of sums.entries()) {
      expect(s.rows.checked).toBe(small.filter((c) => shardOf(c.vin, 3) === i).length);
      expect(s.skipped_other_shards).toBe(300 - s.rows.checked);
      expect(s.shard).toBe(`${i}/3`);
    }
    const asked = web.requests.filter((x) => x.path.startsWith('/shards/')).map((x) => x.params.vin);
    expect(asked).toHaveLength(300);
    expect(new Set(asked).size).toBe(300);
    const h = await history(sql);
    expect(h).toHaveLength(300);
    expect(new Set(h.map((x) => x.vin)).size).toBe(300);
    expect(new Set(h.map((x) => x.run_id))).toEqual(new Set(sums.map((s) => s.run_id)));

    // Feed: every car +1 again, plus three bad rows, each rejected by exactly one shard.
    const file = path.join(tmp, 'shard-feed.csv');
    fs.writeFileSync(file, ['vin,price', ...small.map((c) => `${c.vin},${Number(c.price) + 2}`), 'BADVIN,1', `${small[0].vin},-1`, '"broken,1'].join('\n') + '\n');
    const feed = await Promise.all([0, 1, 2].map((i) => run(['--feed', file, '--shard', `${i}/3`, '--json', '--max-failure-rate', '100'])));
    const fs3 = feed.map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return summary(r);
    });
    expect(fs3.reduce((a, s) => a + s.rows.checked, 0)).toBe(300);
    expect(fs3.reduce((a, s) => a + s.rows.changed, 0)).toBe(300);
    expect(fs3.reduce((a, s) => a + s.rows.rejected, 0)).toBe(3);
    expect(await history(sql)).toHaveLength(600);
  });

  it('exit 5 when the database is not there', async () => {
    const r = await cars(['sync-prices', '--feed', smallCsv, '--json', '--no-progress'], { env: { DATABASE_URL: 'postgres://postgres:x@127.0.0.1:1/cars', CARS_HOME: home } });
    expect(r.code).toBe(5);
    expect(summary(r).error.code).toBe('DB_UNAVAILABLE');
  });

  it('killed connections mid-run: the batch is retried on a new connection and the counts stay exact', async () => {
    const { sql, url, run } = await seeded(pg18, bigCsv);
    const feed = big.map((c, i) => ({ vin: c.vin, price: i % 10 === 0 ? String(Number(c.price) + 3) : c.price }));
    const want = model(await prices(sql), feed);
    const slow = await trickleServer(['vin,price', ...feed.map((f) => `${f.vin},${f.price}`)], 20, 120);
    const dbName = new URL(url).pathname.slice(1);
    // --encoding utf-8: with auto, the first 64 KiB are read before any row (to tell the encoding),
    // which is all of this 50 KB feed; the batches then came in one burst of ~50 ms at the end,
    // which the wait below missed about every other time.
    const p = run(['--feed', slow.url, '--json', '--batch-size', '100', '--encoding', 'utf-8']);
    let finished = false;
    void p.then(() => (finished = true));
    // Mid-run: once the first batch has committed (however slow the machine is to get there).
    await untilCounted(() => sql`select count(*)::int as n from sync_batches`, 30_000).catch(async (e: Error) => {
      const r = await p;
      throw new Error(`${e.message}; the run exited ${r.code}: ${r.stderr.slice(-800)}`);
    });
    // Five rounds of kills 300 ms apart, and more while none has hit a connection yet (a loaded
    // machine may not have the run connected in time), until the run ends.
    const killed: number[] = [];
    for (let round = 0; !finished && (round < 5 || !killed.some((k) => k > 0)); round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 300));
      const k = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${dbName} and application_name = 'cars' and pid <> pg_backend_pid()`;
      killed.push(k.length);
    }
    const r = await p;
    await slow.close();
    expect(killed.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    if (r.code === 5) {
      // Allowed: a clean exit 5 that says how much was committed.
      const s = summary(r);
      const n = Number(/(\d+) price changes? w(?:as|ere) committed/.exec(s.error.message)?.[1]);
      expect((await history(sql, s.run_id)).length).toBe(n);
      return;
    }
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toEqual({ checked: 2000, changed: want.changed, unchanged: want.unchanged, unknown: 0, failed: 0, rejected: 0, superseded: 0 });
    expect(sortChanges(await history(sql, s.run_id))).toEqual(sortChanges(want.changes));
    expect(await prices(sql)).toEqual(want.final);
  });

  it('the server goes away mid-run: exit 5, naming how many changes were committed (and they were)', async () => {
    const { sql, url } = await seeded(pg18, bigCsv);
    const feed = big.map((c, i) => ({ vin: c.vin, price: i % 10 === 0 ? String(Number(c.price) + 4) : c.price }));
    const slow = await trickleServer(['vin,price', ...feed.map((f) => `${f.vin},${f.price}`)], 20, 120);
    const proxy = await tcpProxy(Number(new URL(url).port));
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    const p = cars(['sync-prices', '--no-progress', '--feed', slow.url, '--json', '--batch-size', '100'], { env: { DATABASE_URL: viaProxy.toString(), CARS_HOME: home } });
    // Mid-run: once it holds the sync lock (a slow machine takes a while to get there), and the
    // feed has begun.
    await untilCounted(() => sql`select count(*)::int as n from sync_lock_holders`);
    await new Promise((r) => setTimeout(r, 500));
    proxy.cut();
    const r = await p;
    await slow.close();
    expect(r.code, r.stderr).toBe(5);
    const s = summary(r);
    expect(s.error.code).toBe('DB_UNAVAILABLE');
    const n = Number(/(\d+) price changes? w(?:as|ere) committed/.exec(s.error.message)?.[1]);
    expect(Number.isInteger(n)).toBe(true);
    // A batch whose COMMIT was under way when the link died may have landed: the message says so.
    const maybe = Number(/a batch of (\d+) rows was being written/.exec(s.error.message)?.[1] ?? 0);
    const [{ c }] = await sql`select count(*)::int as c from car_price_history`;
    expect(c).toBeGreaterThanOrEqual(n);
    expect(c).toBeLessThanOrEqual(n + maybe);
    expect(s.rows.changed).toBeGreaterThanOrEqual(n);
  });
});

/** Serves `lines` as a CSV feed in `parts` pieces, `gapMs` apart: a slow feed. */
async function trickleServer(lines: string[], parts: number, gapMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const per = Math.ceil(lines.length / parts);
  const srv = http.createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/csv' });
    for (let i = 0; i < lines.length; i += per) {
      if (res.destroyed) return;
      res.write(lines.slice(i, i + per).join('\n') + '\n');
      await new Promise((r) => setTimeout(r, gapMs));
    }
    res.end();
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/feed.csv`,
    close: async () => {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

/** A TCP proxy to the database that can be cut: open connections die and new ones are refused. */
async function tcpProxy(targetPort: number): Promise<{ port: number; cut(): void }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return {
    port: (srv.address() as net.AddressInfo).port,
    cut() {
      srv.close();
      for (const s of sockets) s.destroy();
    },
  };
}
