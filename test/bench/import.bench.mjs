// npm run bench -- import: cars import against psql \copy of the same file into the same fully
// indexed table, on a fresh database each, a CHECKPOINT before each contender; rounds alternate
// (BENCH_ROUNDS, default 3) and the verdict is the median. Then the same file again into the table
// cars loaded (all unchanged). Sizes: BENCH_IMPORT_ROWS (default 1M) and BENCH_IMPORT_BIG_ROWS
// (default 5M, both contenders, 0 to skip) for how the cost grows; BENCH_IMPORT_HUGE_ROWS (default
// 10M, cars only, 0 to skip) for memory.
import { ROUNDS, alternating, cars, freshDatabase, generatedFile, hasPsql, median, settle, spread, timed, fmt, table } from './harness.mjs';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS || 1_000_000);
const BIG = Number(process.env.BENCH_IMPORT_BIG_ROWS ?? 5_000_000);
const HUGE = Number(process.env.BENCH_IMPORT_HUGE_ROWS ?? 10_000_000);
const COLUMNS = 'vin,brand,model,year,price,mileage,condition,color,listed_at';
const TARGET_FRESH = 0.7;
const TARGET_UNCHANGED = 0.17;
const TARGET_RSS = 100;

async function migrated(server) {
  const db = await freshDatabase(server.admin);
  const r = await cars(['db', 'migrate', '--quiet'], db.url);
  if (r.code !== 0) throw new Error(`cars db migrate failed: ${r.stderr}`);
  return db;
}

function summaryOf(r) {
  if (r.code !== 0) throw new Error(`cars import exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout);
}

async function psqlCopy(server, file) {
  const db = await migrated(server);
  try {
    await settle(server.admin);
    const p = await timed('psql', [db.url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy cars (${COLUMNS}) from '${file}' with (format csv, header true)`]);
    if (p.code !== 0) throw new Error(`psql \\copy failed: ${p.stderr}`);
    return { ms: p.ms, rss: p.peakRssMb };
  } finally {
    await db.drop();
  }
}

/** A fresh import, then (optionally) the same file again: all unchanged. */
async function carsImport(server, file, rows, again) {
  const db = await migrated(server);
  try {
    await settle(server.admin);
    const first = await cars(['import', file, '--json', '--no-progress'], db.url);
    const s1 = summaryOf(first);
    if (s1.rows.inserted !== rows) throw new Error(`fresh import: expected ${rows} inserted, got ${JSON.stringify(s1.rows)}`);
    const out = { ms: first.ms, rss: first.peakRssMb };
    if (again) {
      await settle(server.admin);
      const second = await cars(['import', file, '--json', '--no-progress'], db.url);
      const s2 = summaryOf(second);
      if (s2.rows.unchanged !== rows) throw new Error(`re-import: expected ${rows} unchanged, got ${JSON.stringify(s2.rows)}`);
      out.againMs = second.ms;
      out.againRss = second.peakRssMb;
    }
    return out;
  } finally {
    await db.drop();
  }
}

const secs = (xs) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');

/** Rounds of psql and cars at one size; prints each round, median, spread; returns the medians. */
async function compare(server, rows, seed, withAgain) {
  const file = await generatedFile(rows, seed);
  const contenders = [
    { name: 'psql \\copy (one session)', run: () => psqlCopy(server, file) },
    { name: 'cars import (fresh table)', run: () => carsImport(server, file, rows, withAgain) },
  ];
  const [p, c] = await alternating(contenders, ROUNDS);
  const pm = median(p.map((x) => x.ms));
  const cm = median(c.map((x) => x.ms));
  const table_ = [['contender', 'rows', 'rounds (s)', 'median', 'spread', 'rows/s', 'ratio to psql', 'target', 'peak RSS']];
  table_.push([contenders[0].name, fmt.n(rows), secs(p.map((x) => x.ms)), fmt.s(pm), fmt.s(spread(p.map((x) => x.ms))), fmt.n(rows / (pm / 1000)), '1.00', '', fmt.mb(Math.max(...p.map((x) => x.rss)))]);
  table_.push([contenders[1].name, fmt.n(rows), secs(c.map((x) => x.ms)), fmt.s(cm), fmt.s(spread(c.map((x) => x.ms))), fmt.n(rows / (cm / 1000)), (cm / pm).toFixed(2), `<= ${TARGET_FRESH}`, fmt.mb(Math.max(...c.map((x) => x.rss)))]);
  let am;
  if (withAgain) {
    const a = c.map((x) => x.againMs);
    am = median(a);
    table_.push(['cars import (again, unchanged)', fmt.n(rows), secs(a), fmt.s(am), fmt.s(spread(a)), fmt.n(rows / (am / 1000)), (am / pm).toFixed(2), `<= ${TARGET_UNCHANGED}`, fmt.mb(Math.max(...c.map((x) => x.againRss)))]);
  }
  console.log(table(table_));
  return { fresh: cm / pm, unchanged: am === undefined ? undefined : am / pm, rss: Math.max(...c.flatMap((x) => [x.rss, x.againRss ?? 0])) };
}

export default async function importBench(server) {
  if (!hasPsql()) {
    console.log('psql is not installed here: no \\copy baseline (install postgresql-client)');
    return false;
  }
  console.log(`${ROUNDS} rounds, alternating, a fresh database and a CHECKPOINT before each contender; verdicts on the median\n`);
  const verdicts = [];
  const at1 = await compare(server, ROWS, 1, true);
  verdicts.push([`fresh import ${at1.fresh.toFixed(2)} of psql \\copy at ${fmt.n(ROWS)}`, at1.fresh <= TARGET_FRESH, TARGET_FRESH]);
  verdicts.push([`unchanged re-import ${at1.unchanged.toFixed(2)} of psql \\copy at ${fmt.n(ROWS)}`, at1.unchanged <= TARGET_UNCHANGED, TARGET_UNCHANGED]);
  let peak = at1.rss;
  if (BIG > 0) {
    console.log('');
    const atBig = await compare(server, BIG, 2, false);
    verdicts.push([`fresh import ${atBig.fresh.toFixed(2)} of psql \\copy at ${fmt.n(BIG)}`, atBig.fresh <= TARGET_FRESH, TARGET_FRESH]);
    peak = Math.max(peak, atBig.rss);
  }
  if (HUGE > 0) {
    const file = await generatedFile(HUGE, 3);
    const r = await carsImport(server, file, HUGE, false);
    console.log(`\ncars import of ${fmt.n(HUGE)} rows (memory): ${fmt.s(r.ms)}, ${fmt.n(HUGE / (r.ms / 1000))} rows/s, peak RSS ${fmt.mb(r.rss)}`);
    peak = Math.max(peak, r.rss);
  }
  verdicts.push([`peak RSS ${fmt.mb(peak)}`, peak <= TARGET_RSS, `${TARGET_RSS} MB`]);
  console.log('');
  for (const [text, met, target] of verdicts) console.log(`${text} (target <= ${target}): ${met ? 'met' : 'MISSED'}`);
  return verdicts.every(([, met]) => met);
}
