// What the database keeps about a remote feed, through the real bin/cars against a real PostgreSQL
// and a real local HTTP server: a paginated feed that fails for good on one page resumes there once
// the page is back (--restart starts over; a feed read to its end starts at its first page), and a
// URL whose last complete run left an ETag / Last-Modified is asked conditionally (a 304 ends the
// run at once; --refetch does not ask; a failed run never keeps validators).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cars, tempHome } from '../support/cli.js';
import { connect, servers, type Server, databaseUrl } from '../support/db.js';
import { startMisbehavingServer, type MisbehavingServer } from '../support/misbehaving-server.js';
import { expectBalanced, summary as parseSummary } from '../support/import-helpers.js';

let web: MisbehavingServer;
const cleanups: Array<() => Promise<void> | void> = [];
const home = tempHome();
cleanups.push(() => fs.rmSync(home, { recursive: true, force: true }));

beforeEach(async () => {
  web = await startMisbehavingServer();
});
afterEach(async () => {
  await web.close();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const database = (server?: Server) => databaseUrl(cleanups, server);

interface Summary {
  status: string;
  exit_code: number;
  run_id: number;
  rows: Record<string, number>;
  http?: { requests: number; statuses: Record<string, number> };
  feed?: { not_modified?: boolean; since_run?: number | null; resumed_at_page?: number; resumed_from_run?: number | null; resume_at_page?: number };
  error?: { code: string; message: string };
}

async function run(db: string, args: string[]) {
  const r = await cars(args, { env: { DATABASE_URL: db, CARS_HOME: home } });
  return { ...r, summary: (args.includes('--json') ? parseSummary(r) : undefined) as Summary };
}

async function query<T>(db: string, f: (sql: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const sql = connect(db);
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const carCount = (db: string) => query(db, async (sql) => (await sql`select count(*)::int as n from cars`)[0]!.n as number);

async function feedState(db: string, command: string, url: string) {
  return query(db, async (sql) => {
    const [r] = await sql`select resume_url, resume_page, resume_run::int as resume_run, resume_etag, etag, last_modified, validated_run::int as validated_run
      from feed_state where command = ${command} and url = ${url}`;
    return r;
  });
}

const car = (i: number) => ({ vin: `RES${String(i).padStart(14, '0')}`, brand: 'Skoda', model: 'Fabia', year: 2018, price: 9000 + i, mileage: 100 * i, condition: 'available' });

const PAGES = 6;
const PER_PAGE = 5;
/** Page n of a numbered feed under `base`: PER_PAGE cars, next the page after it, the last one null. */
const page = (base: string, n: number) => ({ json: { items: Array.from({ length: PER_PAGE }, (_, i) => car(n * 100 + i)), next: n < PAGES ? `${base}/${n + 1}` : null } });

describe('a paginated feed resumes where it stopped', () => {
  it.each(servers().map((s) => [s.name, s] as const))(
    'a page that fails for good: exit 4 says where a rerun resumes; the rerun resumes there once the page is back; --restart starts over (%s)',
    async (_name, server) => {
      const db = await database(server);
      const base = '/res/p';
      for (let n = 1; n <= PAGES; n++) web.route(`${base}/${n}`, page(base, n));
      web.route(`${base}/4`, { status: 500 }); // for good, as far as the retries go
      const url = web.url(`${base}/1`);
      // Batches of 2 over 2 writers: pages commit out of order, across batches.
      const args = ['import', url, '--json', '--batch-size', '2', '--workers', '2', '--retries', '1'];

      const first = await run(db, args);
      expect(first.code, first.stderr).toBe(4);
      expect(first.summary.error!.code).toBe('REMOTE_FAILED');
      const at4 = web.url(`${base}/4`);
      expect(first.summary.error!.message).toMatch(new RegExp(`^GET ${at4} failed after 2 attempts: HTTP 500 Internal Server Error; 15 rows were committed before it; a rerun of the same command resumes at page 4 \\(${at4}\\); --restart starts over$`));
      expect(first.summary.rows).toMatchObject({ read: 15, inserted: 15 });
      expect(first.summary.feed).toEqual({ resume_at_page: 4 });
      expect(await carCount(db)).toBe(15);
      expect(await feedState(db, 'import', url)).toMatchObject({ resume_url: at4, resume_page: 4, resume_run: first.summary.run_id, etag: null });

      // Still down: the rerun resumes at page 4, fails there again, and says the same.
      web.resetRecords();
      const again = await run(db, args);
      expect(again.code, again.stderr).toBe(4);
      expect(again.stderr).toContain(`note: resuming ${url} at page 4 (run ${first.summary.run_id} stopped there); --restart starts over`);
      expect(again.summary.error!.message).toContain(`; a rerun of the same command resumes at page 4 (${at4}); --restart starts over`);
      expect(again.summary.rows.read).toBe(0);
      expect(web.requests.some((q) => ['/res/p/1', '/res/p/2', '/res/p/3'].includes(q.path))).toBe(false);
      expect(await feedState(db, 'import', url)).toMatchObject({ resume_page: 4, resume_run: first.summary.run_id });

      // The page is back: the rerun reads pages 4 to 6 only, and counts only those.
      web.route(`${base}/4`, page(base, 4));
      web.resetRecords();
      const resumed = await run(db, args);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`note: resuming ${url} at page 4 (run ${first.summary.run_id} stopped there); --restart starts over`);
      expect(resumed.summary.rows).toMatchObject({ read: 15, inserted: 15, unchanged: 0, rejected: 0 });
      expectBalanced(resumed.summary.rows);
      expect(resumed.summary.feed).toEqual({ resumed_at_page: 4, resumed_from_run: first.summary.run_id });
      // (Pages are fetched ahead, so 5 and 6 may be answered in either order; none before 4.)
      expect(web.requests.filter((q) => q.outcome === '200').map((q) => q.path).sort()).toEqual(['/res/p/4', '/res/p/5', '/res/p/6']);
      expect(await carCount(db)).toBe(30);
      expect(await feedState(db, 'import', url)).toMatchObject({ resume_url: null, resume_page: null });

      // Read to its end: the next run starts at the first page.
      const whole = await run(db, args);
      expect(whole.code, whole.stderr).toBe(0);
      expect(whole.stderr).not.toContain('resuming');
      expect(whole.summary.rows).toMatchObject({ read: 30, unchanged: 30 });
      expect(whole.summary.feed).toBeUndefined();

      // Stopped at page 2, then --restart: from the first page, and the run says so.
      web.route(`${base}/2`, { status: 500 });
      const stopped = await run(db, args);
      expect(stopped.code, stopped.stderr).toBe(4);
      expect(await feedState(db, 'import', url)).toMatchObject({ resume_page: 2, resume_run: stopped.summary.run_id });
      web.route(`${base}/2`, page(base, 2));
      const restarted = await run(db, [...args, '--restart']);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(restarted.stderr).toContain(`note: ${url}: starting over at its first page (--restart; run ${stopped.summary.run_id} had stopped at page 2)`);
      expect(restarted.summary.rows).toMatchObject({ read: 30, unchanged: 30 });
      expect(await feedState(db, 'import', url)).toMatchObject({ resume_url: null, resume_page: null });
    },
    120_000,
  );

  it('a failure on the first page leaves nothing to resume; an interrupted run resumes at the page it was reading', async () => {
    const db = await database();
    const base = '/first/p';
    for (let n = 1; n <= PAGES; n++) web.route(`${base}/${n}`, page(base, n));
    web.route(`${base}/1`, { status: 503 });
    const url = web.url(`${base}/1`);
    const failed = await run(db, ['import', url, '--json', '--retries', '0']);
    expect(failed.code, failed.stderr).toBe(4);
    expect(failed.summary.error!.message).not.toContain('resumes');
    expect(await feedState(db, 'import', url)).toBeUndefined();

    // A slow page 3: the run is interrupted while it waits; pages 1 and 2 are committed.
    web.route(`${base}/1`, page(base, 1));
    web.route(`${base}/3`, { ...page(base, 3), delayMs: 3000 });
    const interrupted = await new Promise<Awaited<ReturnType<typeof run>>>((resolve, reject) => {
      cars(['import', url, '--json', '--concurrency', '1'], {
        env: { DATABASE_URL: db, CARS_HOME: home },
        onSpawn: (child) => {
          const timer = setInterval(() => {
            if (web.requestsTo(`${base}/3`).length > 0) {
              clearInterval(timer);
              setTimeout(() => child.kill('SIGINT'), 200);
            }
          }, 20);
        },
      }).then((r) => resolve({ ...r, summary: parseSummary(r) as Summary }), reject);
    });
    expect(interrupted.code, interrupted.stderr).toBe(130);
    // Page 3 may still arrive and be written before the run stops; it is not taken for read to
    // its end (the run stopped before asking for more), so the rerun reads it again.
    const committed = interrupted.summary.rows.inserted!;
    expect([10, 15]).toContain(committed);
    expect(interrupted.summary.feed).toEqual({ resume_at_page: 3 });
    expect(await feedState(db, 'import', url)).toMatchObject({ resume_page: 3, resume_url: web.url(`${base}/3`) });
    web.route(`${base}/3`, page(base, 3));
    const resumed = await run(db, ['import', url, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.summary.rows).toMatchObject({ read: 20, inserted: 30 - committed, unchanged: committed - 10 });
    expect(await carCount(db)).toBe(30);
  }, 60_000);
});

describe('conditional requests', () => {
  const csv = (n: number, price = 20000) => 'vin,brand,model,year,price\n' + Array.from({ length: n }, (_, i) => `CND${String(i).padStart(14, '0')},Audi,A3,2020,${price + i}`).join('\n') + '\n';
  const modified = new Date('2026-11-30T08:00:00Z');

  it.each(servers().map((s) => [s.name, s] as const))(
    'a CSV URL: the next run asks with the validators of the last complete run; 304 ends it with exit 0; --refetch does not ask; a failed run keeps none (%s)',
    async (_name, server) => {
      const db = await database(server);
      const url = web.url('/cond/stock.csv');
      web.route('/cond/stock.csv', { body: csv(20), contentType: 'text/csv', etag: '"v1"', lastModified: modified });

      const first = await run(db, ['import', url, '--json']);
      expect(first.code, first.stderr).toBe(0);
      expect(first.summary.rows).toMatchObject({ read: 20, inserted: 20 });
      expect(web.requests[0]!.headers['if-none-match']).toBeUndefined();
      expect(await feedState(db, 'import', url)).toMatchObject({ etag: '"v1"', last_modified: modified.toUTCString(), validated_run: first.summary.run_id });

      web.resetRecords();
      const same = await run(db, ['import', url, '--json']);
      expect(same.code, same.stderr).toBe(0);
      expect(same.summary.status).toBe('ok');
      expect(same.summary.rows).toMatchObject({ read: 0, inserted: 0, unchanged: 0 });
      expect(same.summary.http).toMatchObject({ requests: 1, statuses: { 304: 1 } });
      expect(same.summary.feed).toEqual({ not_modified: true, since_run: first.summary.run_id });
      expect(web.requests[0]!.headers).toMatchObject({ 'if-none-match': '"v1"', 'if-modified-since': modified.toUTCString() });

      // The human report says it.
      const human = await run(db, ['import', url]);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stderr).toContain(`feed: not modified since run ${first.summary.run_id}: nothing read`);
      expect(human.stderr).toContain('status 304×1');

      web.resetRecords();
      const refetched = await run(db, ['import', url, '--json', '--refetch']);
      expect(refetched.code, refetched.stderr).toBe(0);
      expect(refetched.summary.rows).toMatchObject({ read: 20, unchanged: 20 });
      expect(web.requests[0]!.headers['if-none-match']).toBeUndefined();
      expect(web.requests[0]!.headers['if-modified-since']).toBeUndefined();
      expect(await feedState(db, 'import', url)).toMatchObject({ etag: '"v1"', validated_run: refetched.summary.run_id });

      // A new version whose transfer breaks: exit 4, and the validators stay those of the last complete run.
      const v2 = csv(20, 30000);
      web.route('/cond/stock.csv', [{ body: v2, contentType: 'text/csv', etag: '"v2"', resetMidBody: Math.floor(v2.length / 2) }]);
      const broken = await run(db, ['import', url, '--json', '--retries', '0']);
      expect(broken.code, broken.stderr).toBe(4);
      expect(await feedState(db, 'import', url)).toMatchObject({ etag: '"v1"', validated_run: refetched.summary.run_id });

      // It comes whole: the conditional with "v1" gets the new version, which is kept.
      web.route('/cond/stock.csv', { body: v2, contentType: 'text/csv', etag: '"v2"' });
      web.resetRecords();
      const changed = await run(db, ['import', url, '--json']);
      expect(changed.code, changed.stderr).toBe(0);
      expect(web.requests[0]!.headers['if-none-match']).toBe('"v1"');
      // (The broken run committed what it read before the break.)
      expect(changed.summary.rows).toMatchObject({ read: 20, inserted: 0 });
      expect(changed.summary.rows.updated).toBeGreaterThan(0);
      expect(await query(db, (sql) => sql`select count(*)::int as n from cars where vin like 'CND%' and price >= 30000`)).toEqual([{ n: 20 }]);
      expect(await feedState(db, 'import', url)).toMatchObject({ etag: '"v2"', last_modified: null, validated_run: changed.summary.run_id });
    },
    90_000,
  );

  it('a paginated feed: the first page decides; a run completed by a resume keeps the first page\'s validators', async () => {
    const db = await database();
    const base = '/cp/p';
    for (let n = 1; n <= PAGES; n++) web.route(`${base}/${n}`, { ...page(base, n), etag: `"page-${n}"` });
    web.route(`${base}/3`, { status: 500 });
    const url = web.url(`${base}/1`);

    const stopped = await run(db, ['import', url, '--json', '--retries', '0']);
    expect(stopped.code, stopped.stderr).toBe(4);
    expect(await feedState(db, 'import', url)).toMatchObject({ resume_page: 3, resume_etag: '"page-1"', etag: null });

    web.route(`${base}/3`, { ...page(base, 3), etag: '"page-3"' });
    const resumed = await run(db, ['import', url, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.summary.rows.read).toBe(20);
    expect(await feedState(db, 'import', url)).toMatchObject({ resume_page: null, etag: '"page-1"', validated_run: resumed.summary.run_id });

    web.resetRecords();
    const same = await run(db, ['import', url, '--json']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.summary.rows.read).toBe(0);
    expect(same.summary.http).toMatchObject({ requests: 1, statuses: { 304: 1 } });
    expect(same.summary.feed).toEqual({ not_modified: true, since_run: resumed.summary.run_id });
    expect(web.requests.map((q) => [q.path, q.headers['if-none-match'], q.outcome])).toEqual([['/cp/p/1', '"page-1"', '304']]);

    // The first page changed: the whole feed is read again.
    web.route(`${base}/1`, { ...page(base, 1), etag: '"page-1b"' });
    const changed = await run(db, ['import', url, '--json']);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.summary.rows).toMatchObject({ read: 30, unchanged: 30 });
    expect(await feedState(db, 'import', url)).toMatchObject({ etag: '"page-1b"' });
  }, 60_000);

  it('sync-prices --feed: Last-Modified kept per shard; 304 is exit 0 with nothing checked; --refetch asks without it', async () => {
    const db = await database();
    web.route('/cond/cars.csv', { body: csv(10), contentType: 'text/csv' });
    const seeded = await run(db, ['import', web.url('/cond/cars.csv'), '--json']);
    expect(seeded.code, seeded.stderr).toBe(0);
    const prices = 'vin,price\n' + Array.from({ length: 10 }, (_, i) => `CND${String(i).padStart(14, '0')},${25000 + i}`).join('\n') + '\n';
    const feed = web.url('/cond/prices.csv');
    web.route('/cond/prices.csv', { body: prices, contentType: 'text/csv', lastModified: modified });

    const first = await run(db, ['sync-prices', '--feed', feed, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary.rows).toMatchObject({ checked: 10, changed: 10 });

    web.resetRecords();
    const same = await run(db, ['sync-prices', '--feed', feed, '--json']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.summary.rows).toMatchObject({ checked: 0, changed: 0 });
    expect(same.summary.http).toMatchObject({ requests: 1, statuses: { 304: 1 } });
    expect(same.summary.feed).toEqual({ not_modified: true, since_run: first.summary.run_id });
    expect(web.requests[0]!.headers['if-modified-since']).toBe(modified.toUTCString());

    // A shard's run has its own state: its first run asks nothing.
    web.resetRecords();
    const shard = await run(db, ['sync-prices', '--feed', feed, '--shard', '0/2', '--json']);
    expect(shard.code, shard.stderr).toBe(0);
    expect(web.requests[0]!.headers['if-modified-since']).toBeUndefined();

    web.resetRecords();
    const refetched = await run(db, ['sync-prices', '--feed', feed, '--json', '--refetch']);
    expect(refetched.code, refetched.stderr).toBe(0);
    expect(refetched.summary.rows).toMatchObject({ checked: 10, unchanged: 10 });
    expect(web.requests[0]!.headers['if-modified-since']).toBeUndefined();
  }, 60_000);
});
