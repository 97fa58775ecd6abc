// npm run bench -- encoding: the same generated rows imported as UTF-8 and as Windows-1252 (the
// generator's Škoda, Citroën and Mercedes-Benz ... made single-byte), each into a fresh, fully
// indexed table; contenders alternate, 3 rounds or more, and the verdict is the median ratio.
// BENCH_BASELINE_BIN=/path/to/an/older/checkout/bin/cars.js adds that build's UTF-8 import as a
// contender, for an A/B of the UTF-8 path in the same run.
// Sizes: BENCH_ENCODING_ROWS (default 1M), BENCH_ROUNDS (default 3).
import fs from 'node:fs';
import { ROUNDS, alternating, cars, freshDatabase, generatedFile, median, settle, timed, fmt, table } from './harness.mjs';

const ROWS = Number(process.env.BENCH_ENCODING_ROWS || 1_000_000);
const BASELINE = process.env.BENCH_BASELINE_BIN;

/** The UTF-8 file, written again as Windows-1252 (every character of the generator's is in it). */
function windows1252Copy(file) {
  const out = file.replace(/\.csv$/, '.cp1252.csv');
  if (!fs.existsSync(out)) {
    const text = fs.readFileSync(file, 'utf8');
    const buf = Buffer.alloc(text.length);
    const high = { 0x20ac: 0x80, 0x160: 0x8a, 0x161: 0x9a, 0x17d: 0x8e, 0x17e: 0x9e, 0x152: 0x8c, 0x153: 0x9c, 0x178: 0x9f };
    let n = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0);
      const b = cp < 0x100 ? cp : high[cp];
      if (b === undefined) throw new Error(`U+${cp.toString(16)} has no Windows-1252 byte`);
      buf[n++] = b;
    }
    fs.writeFileSync(out, buf.subarray(0, n));
  }
  return out;
}

async function importOnce(server, bin, file, args = []) {
  const db = await freshDatabase(server.admin);
  try {
    const m = await cars(['db', 'migrate', '--quiet'], db.url);
    if (m.code !== 0) throw new Error(`cars db migrate failed: ${m.stderr}`);
    await settle(server.admin);
    const r = bin ? await timed(bin, ['import', file, '--json', '--no-progress', ...args], { env: { DATABASE_URL: db.url } }) : await cars(['import', file, '--json', '--no-progress', ...args], db.url);
    if (r.code !== 0) throw new Error(`import exited ${r.code}: ${r.stderr.slice(-2000)}`);
    const s = JSON.parse(r.stdout);
    if (s.rows.inserted !== ROWS) throw new Error(`expected ${ROWS} inserted, got ${JSON.stringify(s.rows)}`);
    return { ms: r.ms, rss: r.peakRssMb, encoding: s.encoding };
  } finally {
    await db.drop();
  }
}

export default async function encodingBench(server) {
  const utf8 = await generatedFile(ROWS, 1);
  const cp1252 = windows1252Copy(utf8);
  const contenders = [
    ...(BASELINE ? [{ name: 'baseline build, UTF-8', run: () => importOnce(server, BASELINE, utf8) }] : []),
    { name: 'UTF-8', run: () => importOnce(server, undefined, utf8) },
    { name: 'Windows-1252 (detected)', run: () => importOnce(server, undefined, cp1252) },
  ];
  const results = await alternating(contenders, ROUNDS);
  const times = results.map((rs) => rs.map((r) => r.ms));
  const rss = results.map((rs) => rs.map((r) => r.rss));
  const utf8Median = median(times[BASELINE ? 1 : 0]);
  const rows = [['contender', 'rounds (s)', 'median', 'spread', 'ratio to UTF-8', 'peak RSS']];
  contenders.forEach((c, i) => {
    const m = median(times[i]);
    rows.push([c.name, times[i].map((t) => (t / 1000).toFixed(2)).join(' '), fmt.s(m), `${((Math.max(...times[i]) - Math.min(...times[i])) / 1000).toFixed(2)} s`, (m / utf8Median).toFixed(2), fmt.mb(Math.max(...rss[i]))]);
  });
  console.log(`${fmt.n(ROWS)} rows, ${ROUNDS} rounds, alternating`);
  console.log(table(rows));
  const ratio = median(times[BASELINE ? 2 : 1]) / utf8Median;
  const peak = Math.max(...rss.flat());
  const verdicts = [`Windows-1252 ${ratio.toFixed(2)} of UTF-8 (target <= 1.25): ${ratio <= 1.25 ? 'met' : 'MISSED'}`, `peak RSS ${fmt.mb(peak)} (target <= 100 MB): ${peak <= 100 ? 'met' : 'MISSED'}`];
  if (BASELINE) {
    const ab = utf8Median / median(times[0]);
    verdicts.push(`UTF-8 path ${ab.toFixed(2)} of the baseline build (target <= 1.05, "not slower"): ${ab <= 1.05 ? 'met' : 'MISSED'}`);
  }
  for (const v of verdicts) console.log(v);
  return !verdicts.some((v) => v.endsWith('MISSED'));
}
