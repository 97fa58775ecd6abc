#!/usr/bin/env node
// npm run bench [-- import|feed|sync|explain ...]: benchmarks side by side on one server.
// Not timed tests: they print figures and the targets they are compared against.
import fs from 'node:fs';
import { startServer } from './harness.mjs';

const all = ['import', 'encoding', 'feed', 'sync', 'explain'];
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const chosen = names.length ? names : all;
for (const n of chosen) {
  if (!all.includes(n)) {
    console.error(`unknown benchmark ${n}; choose from ${all.join(', ')}`);
    process.exit(2);
  }
}
const server = await startServer();
console.log(`# cars benchmarks on PostgreSQL ${server.version}, node ${process.version}, ${new Date().toISOString()}`);
let failed = false;
try {
  for (const n of chosen) {
    const file = new URL(`./${n}.bench.mjs`, import.meta.url);
    if (!fs.existsSync(file)) {
      console.log(`\n## ${n}: not written yet`);
      continue;
    }
    console.log(`\n## ${n}`);
    const { default: run } = await import(file.href);
    const ok = await run(server);
    if (ok === false) failed = true;
  }
} finally {
  await server.stop();
}
process.exitCode = failed ? 1 : 0;
