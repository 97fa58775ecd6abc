// npm run bench -- snapshot: a 1M-car dealer inventory, then its next export with 5% of the cars
// gone: the time of the marking step (the `snapshot` phase: the run's listed VINs against the
// source's active cars, and the marking) and the peak RSS of the run. BENCH_SNAPSHOT_ROWS (1M).
import fs from 'node:fs';
import { cars, freshDatabase, generatedFile, fmt, table } from './harness.mjs';

const ROWS = Number(process.env.BENCH_SNAPSHOT_ROWS || 1_000_000);
const BUDGET_MS = 5_000;

function summaryOf(r) {
  if (r.code !== 0) throw new Error(`cars import exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout);
}

export default async function snapshotBench(server) {
  const full = await generatedFile(ROWS, 1);
  // The next export: every 20th row left out (5%).
  const next = full.replace(/\.csv$/, '.95pct.csv');
  if (!fs.existsSync(next)) {
    const lines = fs.readFileSync(full, 'utf8').split('\n');
    fs.writeFileSync(next, lines.filter((l, i) => i === 0 || i % 20 !== 0).join('\n'));
  }
  const db = await freshDatabase(server.admin);
  try {
    const first = summaryOf(await cars(['import', full, '--source', 'dealer-a', '--snapshot', '--json', '--no-progress'], db.url));
    const r = await cars(['import', next, '--source', 'dealer-a', '--snapshot', '--json', '--no-progress'], db.url);
    const s = summaryOf(r);
    const markMs = s.timing.phases.snapshot?.ms ?? NaN;
    console.log(table([
      ['run', 'rows read', 'listed', 'missing', 'marked sold', 'snapshot phase', 'total', 'peak RSS'],
      ['first (the whole inventory)', fmt.n(first.rows.read), fmt.n(first.snapshot.listed), fmt.n(first.snapshot.missing), fmt.n(first.snapshot.marked_sold), fmt.s(first.timing.phases.snapshot?.ms ?? 0), fmt.s(first.timing.total_ms), fmt.mb(first.memory.rss_peak_mb)],
      ['next (5% gone)', fmt.n(s.rows.read), fmt.n(s.snapshot.listed), fmt.n(s.snapshot.missing), fmt.n(s.snapshot.marked_sold), fmt.s(markMs), fmt.s(r.ms), fmt.mb(r.peakRssMb)],
    ]));
    const ok = s.snapshot.marked_sold === s.snapshot.missing && markMs <= BUDGET_MS && r.peakRssMb <= 100;
    console.log(`marking ${fmt.n(s.snapshot.marked_sold)} of ${fmt.n(ROWS)} cars: ${fmt.s(markMs)} (target <= ${BUDGET_MS / 1000} s), peak RSS ${fmt.mb(r.peakRssMb)} (target <= 100 MB): ${ok ? 'met' : 'MISSED'}`);
    return ok;
  } finally {
    await db.drop();
  }
}
