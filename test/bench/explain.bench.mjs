// npm run bench -- explain: at 1M cars, every named query uses its index and meets its budget.
// The cars come from `cars generate` (the realistic mix: brand weights, model years, prices,
// conditions) through `cars import`, so the table, its created_at batches and its statistics
// are what an operator's import leaves behind.
import { cars, fmt, freshDatabase, generatedFile } from './harness.mjs';

const ROWS = 1_000_000;

export default async function explainBench(server) {
  const file = await generatedFile(ROWS);
  const db = await freshDatabase(server.admin);
  try {
    const imported = await cars(['import', file, '--quiet', '--json'], db.url);
    if (imported.code !== 0) {
      console.log(`cars import failed (exit ${imported.code}):\n${imported.stderr}`);
      return false;
    }
    const rows = JSON.parse(imported.stdout).rows;
    console.log(`${fmt.n(rows.inserted)} cars imported in ${fmt.s(imported.ms)}`);

    const check = await cars(['explain', '--check'], db.url);
    console.log(`\n$ cars explain --check   (exit ${check.code}, ${fmt.s(check.ms)}, peak RSS ${fmt.mb(check.peakRssMb)})\n`);
    console.log(check.stdout.trimEnd());
    if (check.stderr.trim()) console.log(`\n${check.stderr.trimEnd()}`);

    const ok = check.code === 0;
    console.log(`\ntarget: every named query uses its declared index and meets its budget at ${fmt.n(ROWS)} rows: ${ok ? 'met' : 'MISSED'}`);
    return ok;
  } finally {
    await db.drop();
  }
}
