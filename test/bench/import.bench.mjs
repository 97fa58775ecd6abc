// npm run bench -- import: cars import against psql \copy of the same file into the same
// fully indexed table, side by side on one server; then the same file again (all unchanged);
// then a bigger file for memory. Sizes: BENCH_IMPORT_ROWS (default 1M), BENCH_IMPORT_BIG_ROWS (5M).
import { cars, freshDatabase, generatedFile, hasPsql, settle, timed, fmt, table } from './harness.mjs';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS || 1_000_000);
const BIG = Number(process.env.BENCH_IMPORT_BIG_ROWS || 5_000_000);
const COLUMNS = 'vin,brand,model,year,price,mileage,condition,color,listed_at';

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

export default async function importBench(server) {
  const file = await generatedFile(ROWS, 1);
  const rows = [['contender', 'rows', 'time', 'rows/s', 'ratio to psql', 'target', 'peak RSS']];
  let ok = true;
  let psqlMs;
  if (hasPsql()) {
    const a = await migrated(server);
    await settle(server.admin);
    const p = await timed('psql', [a.url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy cars (${COLUMNS}) from '${file}' with (format csv, header true)`]);
    if (p.code !== 0) throw new Error(`psql \\copy failed: ${p.stderr}`);
    psqlMs = p.ms;
    rows.push([`psql \\copy (one session)`, fmt.n(ROWS), fmt.s(p.ms), fmt.n(ROWS / (p.ms / 1000)), '1.00', '', fmt.mb(p.peakRssMb)]);
    await a.drop();
  } else {
    console.log('psql is not installed here: no \\copy baseline (install postgresql-client)');
  }
  const b = await migrated(server);
  await settle(server.admin);
  const first = await cars(['import', file, '--json', '--no-progress'], b.url);
  const s1 = summaryOf(first);
  const r1 = psqlMs ? first.ms / psqlMs : NaN;
  rows.push(['cars import (fresh table)', fmt.n(s1.rows.read), fmt.s(first.ms), fmt.n(ROWS / (first.ms / 1000)), psqlMs ? r1.toFixed(2) : '-', '<= 0.75', fmt.mb(first.peakRssMb)]);
  await settle(server.admin);
  const second = await cars(['import', file, '--json', '--no-progress'], b.url);
  const s2 = summaryOf(second);
  const r2 = psqlMs ? second.ms / psqlMs : NaN;
  rows.push(['cars import (again, unchanged)', fmt.n(s2.rows.unchanged), fmt.s(second.ms), fmt.n(ROWS / (second.ms / 1000)), psqlMs ? r2.toFixed(2) : '-', '<= 0.20', fmt.mb(second.peakRssMb)]);
  await b.drop();
  if (s1.rows.inserted !== ROWS || s2.rows.unchanged !== ROWS) {
    console.log(`row counts wrong: first ${JSON.stringify(s1.rows)}, second ${JSON.stringify(s2.rows)}`);
    ok = false;
  }
  let bigPeak = 0;
  if (BIG > 0) {
    const bigFile = await generatedFile(BIG, 2);
    const c = await migrated(server);
    await settle(server.admin);
    const big = await cars(['import', bigFile, '--json', '--no-progress'], c.url);
    const s3 = summaryOf(big);
    bigPeak = big.peakRssMb;
    rows.push([`cars import (${fmt.n(BIG)} rows, memory)`, fmt.n(s3.rows.inserted), fmt.s(big.ms), fmt.n(BIG / (big.ms / 1000)), '-', 'RSS <= 100 MB', fmt.mb(big.peakRssMb)]);
    await c.drop();
  }
  console.log(table(rows));
  const peak = Math.max(first.peakRssMb, second.peakRssMb, bigPeak);
  const verdicts = [
    psqlMs ? `fresh import ${r1.toFixed(2)} of psql \\copy (target <= 0.75): ${r1 <= 0.75 ? 'met' : 'MISSED'}` : null,
    psqlMs ? `unchanged re-import ${r2.toFixed(2)} of psql \\copy (target <= 0.20): ${r2 <= 0.2 ? 'met' : 'MISSED'}` : null,
    `peak RSS ${fmt.mb(peak)} (target <= 100 MB): ${peak <= 100 ? 'met' : 'MISSED'}`,
  ].filter(Boolean);
  for (const v of verdicts) console.log(v);
  if (verdicts.some((v) => v.endsWith('MISSED'))) ok = false;
  return ok;
}
