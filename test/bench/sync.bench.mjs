// cars sync-prices, side by side on one server:
//   feed: 1M cars, a 1M-price feed with 10% changed prices, each contender on its own identical
//         copy of the loaded table (CREATE DATABASE ... TEMPLATE, so the same pages and statistics):
//         (a) cars sync-prices --feed, (b) psql: \copy into a temp table + one UPDATE ... FROM,
//         (b') the same with the history rows cars writes, (c) one UPDATE per car, on a 5k sample,
//         extrapolated. Rounds alternate (BENCH_ROUNDS, default 3), a CHECKPOINT before each
//         contender; verdicts on the median. Targets: (a) <= 0.70 of (b); (a) >= 20x faster than (c).
//   api:  10k cars against a local price server capped at R = 200 requests/s (fixed 1 s windows,
//         429 beyond) that fails 5% of requests (500 or a reset connection). Targets: >= 0.95 R
//         sustained, zero requests over the cap, every price right.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { once } from 'node:events';
import postgres from 'postgres';
import { alternating, cars, fmt, generatedFile, hasPsql, median as middle, prng, rateCap, ROUNDS, settle, spread, table, timed, WORK } from './harness.mjs';
import { CsvSplitter } from '../../dist/sources/csv-records.js';

const N = 1_000_000;
const SAMPLE = 5_000;
const API_CARS = 10_000;
const R = 200;
const FAULTS = 0.05;

function dbUrl(admin, name) {
  const u = new URL(admin);
  u.pathname = '/' + name;
  return u.toString();
}

/** vin and price of every row of a generated cars CSV, in order (price is the 5th column). */
async function* carRows(file) {
  const splitter = new CsvSplitter(',');
  const decoder = new TextDecoder();
  let header = true;
  const emit = function* (items) {
    for (const it of items) {
      if (it.kind !== 'record') continue;
      if (header) {
        header = false;
        continue;
      }
      yield [it.fields[0], it.fields[4]];
    }
  };
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) yield* emit(splitter.push(decoder.decode(chunk, { stream: true })));
  yield* emit(splitter.end(splitter.push(decoder.decode())));
}

/** The price in the feed for row i: every 10th row (i % 10 == 3) is 100 more. */
const feedPrice = (i, price) => (i % 10 === 3 ? String(Math.round((Number(price) + 100) * 100) / 100) : price);

async function writeFeed(carsFile, feedFile) {
  if (fs.existsSync(feedFile)) return;
  const out = fs.createWriteStream(feedFile + '.tmp');
  out.write('vin,price\n');
  let i = 0;
  let buf = '';
  for await (const [vin, price] of carRows(carsFile)) {
    buf += `${vin},${feedPrice(i++, price)}\n`;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  fs.renameSync(feedFile + '.tmp', feedFile);
}

export default async function run(server) {
  let ok = true;
  const admin = postgres(server.admin, { max: 1, onnotice() {} });
  const [{ v }] = await admin`select current_setting('server_version_num')::int as v`;
  const strategy = v >= 150000 ? 'strategy file_copy' : '';
  const made = [];
  const copyOf = async (template, name) => {
    await admin.unsafe(`create database ${name} template ${template} ${strategy}`);
    made.push(name);
    return dbUrl(server.admin, name);
  };
  const stamp = Date.now().toString(36);
  try {
    // ---------------------------------------------------------------- feed
    console.log(`\n### feed: ${fmt.n(N)} cars, ${fmt.n(N)}-price feed with 10% changed`);
    const carsFile = await generatedFile(N, 1);
    const feedFile = path.join(WORK, `prices-${N}-1.csv`);
    await writeFeed(carsFile, feedFile);
    const expectChanged = N / 10;

    const template = `sync_tpl_${stamp}`;
    await admin.unsafe(`create database ${template}`);
    made.push(template);
    const tplUrl = dbUrl(server.admin, template);
    const load = await cars(['import', carsFile, '--no-progress', '--json', '--workers', '2'], tplUrl);
    if (load.code !== 0) throw new Error(`cars import failed: ${load.stderr}`);
    {
      const t = postgres(tplUrl, { max: 1, onnotice() {} });
      await t`vacuum analyze`;
      await t.end();
    }
    console.log(`loaded ${fmt.n(N)} cars with cars import in ${fmt.s(load.ms)}; each contender gets its own copy of that database`);

    const results = [];
    const check = async (url, label, wantHistory) => {
      const s = postgres(url, { max: 1, onnotice() {} });
      const [h] = await s`select count(*)::int as n from car_price_history`;
      const [u] = await s`select count(*)::int as n from cars where updated_at > now() - interval '1 hour' and updated_at <> created_at`;
      await s.end();
      if (wantHistory && h.n !== expectChanged) {
        ok = false;
        console.log(`!! ${label}: ${h.n} history rows, expected ${expectChanged}`);
      }
      if (u.n !== expectChanged) {
        ok = false;
        console.log(`!! ${label}: ${u.n} cars updated, expected ${expectChanged}`);
      }
    };

    const runCars = async (round, workers) => {
      const url = await copyOf(template, `sync_cars${workers}_${round}_${stamp}`);
      await settle(server.admin);
      const r = await cars(['sync-prices', '--feed', feedFile, '--no-progress', '--json', '--workers', String(workers)], url);
      if (r.code !== 0) throw new Error(`cars sync-prices failed (${r.code}): ${r.stderr}`);
      const s = JSON.parse(r.stdout);
      if (s.rows.changed !== expectChanged || s.rows.checked !== N) {
        ok = false;
        console.log(`!! cars: ${JSON.stringify(s.rows)}`);
      }
      await check(url, 'cars', true);
      results.push({ who: `cars${workers}`, ms: r.ms, rss: r.peakRssMb, selfRss: s.memory.rss_peak_mb });
    };

    const psqlScript = (withHistory) => {
      const file = path.join(WORK, `sync-psql-${withHistory ? 'history' : 'plain'}.sql`);
      const update = withHistory
        ? `with old as (select c.id, c.price as old_price, f.price as new_price from cars c join feed f on c.vin = f.vin where c.price is distinct from f.price),
  upd as (update cars c set price = o.new_price, updated_at = now() from old o where c.id = o.id returning c.id, o.old_price, o.new_price)
insert into car_price_history (car_id, old_price, new_price) select id, old_price, new_price from upd;`
        : 'update cars c set price = f.price, updated_at = now() from feed f where c.vin = f.vin and c.price is distinct from f.price;';
      fs.writeFileSync(
        file,
        ['\\set ON_ERROR_STOP on', 'begin;', 'create temp table feed (vin text, price numeric) on commit drop;', `\\copy feed from '${feedFile}' with (format csv, header true)`, update, 'commit;', ''].join('\n'),
      );
      return file;
    };
    const runPsql = async (round, withHistory) => {
      const url = await copyOf(template, `sync_psql_${withHistory ? 'h' : 'p'}${round}_${stamp}`);
      await settle(server.admin);
      const r = await timed('psql', ['-X', '-q', '-d', url, '-f', psqlScript(withHistory)]);
      if (r.code !== 0) throw new Error(`psql failed: ${r.stderr}`);
      await check(url, 'psql', withHistory);
      results.push({ who: withHistory ? 'psql+history' : 'psql', ms: r.ms, rss: r.peakRssMb });
    };

    const psql = hasPsql();
    if (!psql) console.log('psql is not installed: the psql contenders are skipped');
    // Rounds alternate, so that neither side always runs on a warmer or busier machine. cars with
    // the default two writers, and with four (more writers than cores still pay when the database
    // waits on I/O or the machine is shared).
    const contenders = [{ run: (round) => runCars(round, 2) }, { run: (round) => runCars(round, 4) }];
    if (psql) contenders.unshift({ run: (round) => runPsql(round, false) });
    await alternating(contenders, ROUNDS);
    if (psql) await runPsql(1, true);

    // One UPDATE per car, each its own statement and transaction, on the feed's first 5k rows.
    let perCarMs = NaN;
    if (psql) {
      const url = await copyOf(template, `sync_percar_${stamp}`);
      const file = path.join(WORK, 'sync-per-car.sql');
      const lines = ['\\set ON_ERROR_STOP on'];
      let i = 0;
      for await (const [vin, price] of carRows(carsFile)) {
        const p = feedPrice(i, price);
        lines.push(`update cars set price = ${p}, updated_at = now() where vin = '${vin}' and price is distinct from ${p};`);
        if (++i >= SAMPLE) break;
      }
      fs.writeFileSync(file, lines.join('\n') + '\n');
      const r = await timed('psql', ['-X', '-q', '-d', url, '-f', file]);
      if (r.code !== 0) throw new Error(`psql per-car failed: ${r.stderr}`);
      perCarMs = r.ms;
    }

    const times = (who) => results.filter((x) => x.who === who).map((x) => x.ms);
    const median = (who) => middle(times(who));
    const carsMs = median('cars2');
    const cars4Ms = median('cars4');
    const psqlMs = psql ? median('psql') : NaN;
    const psqlHMs = psql ? median('psql+history') : NaN;
    const perCarAll = (perCarMs * N) / SAMPLE;
    const rows = [['contender', 'rounds (s)', 'median', 'spread', 'ratio to (b)', 'peak RSS']];
    const each = (who) => results.filter((x) => x.who === who);
    const line = (label, who, ms) => [label, each(who).map((x) => (x.ms / 1000).toFixed(2)).join(' '), fmt.s(ms), fmt.s(spread(times(who))), psql ? fmt.ratio(ms, psqlMs) : '-', fmt.mb(Math.max(...each(who).map((x) => x.rss)))];
    rows.push(line('(a) cars sync-prices --feed (2 workers)', 'cars2', carsMs));
    rows.push(line("(a') the same, --workers 4", 'cars4', cars4Ms));
    if (psql) {
      rows.push(line('(b) psql \\copy temp + one UPDATE', 'psql', psqlMs));
      rows.push(line("(b') psql, same + history rows (1 round)", 'psql+history', psqlHMs));
      rows.push([`(c) one UPDATE per car (${fmt.n(SAMPLE)} measured, extrapolated)`, fmt.s(perCarMs), fmt.s(perCarAll), '', fmt.ratio(perCarAll, psqlMs), '']);
    }
    console.log(table(rows));
    const r1 = carsMs / psqlMs;
    const r2 = perCarAll / carsMs;
    const r1b = cars4Ms / psqlMs;
    console.log(`target: cars at most 0.70 of (b), medians of ${ROUNDS}: 2 workers ${r1.toFixed(2)} ${r1 <= 0.7 ? 'met' : 'MISSED'}, 4 workers ${r1b.toFixed(2)} ${r1b <= 0.7 ? 'met' : 'MISSED'}`);
    console.log(`target: cars at least 20x faster than (c): ${r2.toFixed(0)}x ${r2 >= 20 ? 'met' : 'MISSED'}`);
    const all = [...each('cars2'), ...each('cars4')];
    console.log(`peak RSS of cars sync-prices (process tree, sampled): ${all.map((x) => fmt.mb(x.rss)).join(', ')}; self-reported: ${all.map((x) => fmt.mb(x.selfRss)).join(', ')}`);
    if (psql && (r1 > 0.7 || r2 < 20)) ok = false;
    for (const name of made.splice(0)) await admin.unsafe(`drop database if exists ${name} with (force)`);

    // ---------------------------------------------------------------- api
    ok = (await apiBench(server, admin, copyOf, made, stamp)) && ok;
  } finally {
    for (const name of made) await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
    await admin.end();
  }
  return ok;
}

async function apiBench(server, admin, copyOf, made, stamp) {
  console.log(`\n### api: ${fmt.n(API_CARS)} cars, price server capped at R = ${R} requests/s, ${FAULTS * 100}% faults`);
  const name = `sync_api_${stamp}`;
  await admin.unsafe(`create database ${name}`);
  made.push(name);
  const url = dbUrl(server.admin, name);
  const file = await generatedFile(API_CARS, 2);
  const load = await cars(['import', file, '--no-progress', '--json'], url);
  if (load.code !== 0) throw new Error(`cars import failed: ${load.stderr}`);

  // The service's prices: a third of the cars get a new one.
  const want = new Map();
  let i = 0;
  for await (const [vin, price] of carRows(file)) want.set(vin, i++ % 3 === 0 ? String(Math.round(Number(price)) + 50) : price);

  const cap = rateCap(R);
  const { started, arrivals: times, perWindow: windows } = cap;
  let overCap = 0;
  let faults = 0;
  const random = prng(12345);
  const srv = http.createServer((req, res) => {
    if (!cap.admit()) {
      overCap++;
      res.writeHead(429, { 'retry-after': '1' }).end();
      return;
    }
    const m = /^\/cars\/([^/]+)\/price$/.exec(req.url ?? '');
    const vin = m ? decodeURIComponent(m[1]) : '';
    if (!want.has(vin)) {
      res.writeHead(404).end();
      return;
    }
    if (random() < FAULTS) {
      faults++;
      if (faults % 2) res.writeHead(500).end(); // (a 503 would lower the adaptive rate: a server shedding load)
      else req.socket.destroy();
      return;
    }
    const body = JSON.stringify({ vin, price: Number(want.get(vin)) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const base = `http://127.0.0.1:${srv.address().port}`;
  let r;
  try {
    r = await cars(['sync-prices', '--api', base, '--rate', String(R), '--concurrency', '16', '--no-progress', '--json'], url);
  } finally {
    srv.closeAllConnections();
    srv.close();
  }
  let ok = true;
  const s = JSON.parse(r.stdout || '{}');
  if (r.code !== 0) {
    ok = false;
    console.log(`!! cars exited ${r.code}: ${r.stderr.slice(-2000)}`);
  }
  const db = postgres(url, { max: 1, onnotice() {} });
  const stored = await db`select vin, price::text as price from cars`;
  await db.end();
  let wrong = 0;
  for (const row of stored) if (Number(row.price) !== Number(want.get(row.vin))) wrong++;
  const span = (times[times.length - 1] - times[0]) / 1000;
  const achieved = times.length / span;
  // Full windows only (the first and last are partial).
  const full = [...windows.entries()].filter(([w]) => w > Math.floor((times[0] - started) / 1000) && w < Math.floor((times[times.length - 1] - started) / 1000)).map(([, n]) => n);
  const steady = full.length ? full.reduce((a, b) => a + b, 0) / full.length : NaN;
  const sliding = cap.busiestSliding();
  console.log(
    table([
      ['figure', 'value', 'target'],
      ['cars checked / changed / failed', `${fmt.n(s.rows?.checked ?? 0)} / ${fmt.n(s.rows?.changed ?? 0)} / ${fmt.n(s.rows?.failed ?? 0)}`, `${fmt.n(API_CARS)} / - / 0`],
      ['requests seen by the server', fmt.n(times.length), ''],
      ['faults injected (500 or reset)', fmt.n(faults), `${FAULTS * 100}%`],
      ['wall time (first to last request)', `${span.toFixed(1)} s`, ''],
      ['achieved requests/s (all)', `${achieved.toFixed(1)} (${(achieved / R).toFixed(3)} R)`, `>= ${0.95 * R} (0.95 R)`],
      ['requests/s in full 1 s windows (mean)', `${steady.toFixed(1)} (${(steady / R).toFixed(3)} R)`, ''],
      ['most requests in one fixed 1 s window', fmt.n(cap.busiestFixed()), `<= ${R}`],
      ['most requests in any sliding 1 s window', fmt.n(sliding), '(stricter than the cap)'],
      ['requests over the cap (429 from the server)', fmt.n(overCap), '0'],
      ['prices wrong after the run', fmt.n(wrong), '0'],
      ['cars wall time / peak RSS', `${fmt.s(r.ms)} / ${fmt.mb(r.peakRssMb)}`, ''],
    ]),
  );
  if (achieved < 0.95 * R || overCap > 0 || wrong > 0 || s.rows?.failed !== 0 || s.rows?.checked !== API_CARS) ok = false;
  console.log(`targets: >= 0.95 R ${achieved >= 0.95 * R ? 'met' : 'MISSED'}; zero over the cap ${overCap === 0 ? 'met' : 'MISSED'}; every price right ${wrong === 0 ? 'met' : 'MISSED'}`);
  return ok;
}
