// An import into an empty table that builds the secondary indexes after its load (--defer-indexes):
// the same indexes at the end, the same rows; a table with cars defers nothing; a run killed
// between dropping and building leaves them to the next cars command, which builds them.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { cars, tempDir } from '../support/cli.js';
import { connect, freshDatabase, servers, type Server } from '../support/db.js';

const dropAfter: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const drop of dropAfter) await drop();
});

async function migrated(server: Server) {
  const db = await freshDatabase(server);
  dropAfter.push(db.drop);
  const m = await cars(['db', 'migrate', '--quiet'], { env: { DATABASE_URL: db.url } });
  expect(m.code).toBe(0);
  return db.url;
}

async function indexes(url: string): Promise<string[]> {
  const sql = connect(url);
  try {
    const rows = await sql`select indexdef from pg_indexes where tablename = 'cars' order by indexname`;
    return rows.map((r) => r.indexdef as string);
  } finally {
    await sql.end();
  }
}

async function scalar(url: string, query: string): Promise<number> {
  const sql = connect(url);
  try {
    const [r] = await sql.unsafe(query);
    return Number(Object.values(r)[0]);
  } finally {
    await sql.end();
  }
}

describe.each(servers())('--defer-indexes ($name)', (server: Server) => {
  it('always: drops the secondary indexes of the empty table, loads, builds the same indexes', async () => {
    const url = await migrated(server);
    const before = await indexes(url);
    expect(before.length).toBeGreaterThan(2);
    const r = await cars(['import', 'fixtures/cars.csv', '--defer-indexes', 'always', '--json'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.rows.inserted).toBe(1000);
    expect(Object.keys(s.timing.phases)).toEqual(expect.arrayContaining(['defer', 'indexes']));
    expect(await indexes(url)).toEqual(before);
    expect(await scalar(url, 'select count(*) from cars_deferred_indexes')).toBe(0);
    expect(await scalar(url, 'select count(*) from cars')).toBe(1000);
  });

  it('a table that has cars defers nothing; never and auto (a small file) do not defer', async () => {
    const url = await migrated(server);
    const auto = await cars(['import', 'fixtures/cars.csv', '--json'], { env: { DATABASE_URL: url } });
    expect(Object.keys(JSON.parse(auto.stdout).timing.phases)).not.toContain('defer');
    const again = await cars(['import', 'fixtures/cars.csv', '--defer-indexes', 'always', '--json'], { env: { DATABASE_URL: url } });
    expect(again.code).toBe(0);
    const phases = Object.keys(JSON.parse(again.stdout).timing.phases);
    expect(phases).toContain('defer'); // asked, and found the table not empty
    expect(phases).not.toContain('indexes');
    const bad = await cars(['import', 'fixtures/cars.csv', '--defer-indexes', 'sometimes'], { env: { DATABASE_URL: url } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--defer-indexes/);
  });

  it('a run killed after dropping them: the next cars command builds them and says so', async () => {
    const url = await migrated(server);
    const before = await indexes(url);
    const dir = tempDir();
    const file = path.join(dir, 'many.csv');
    const g = await cars(['generate', '200000', '--seed', '5']);
    fs.writeFileSync(file, g.stdout);
    const killed = await cars(['import', file, '--defer-indexes', 'always', '--batch-size', '500', '--workers', '1', '--quiet'], {
      env: { DATABASE_URL: url },
      onSpawn: (child) => {
        const poll = setInterval(async () => {
          const loading = await scalar(url, 'select (select count(*) from cars) * (select count(*) from cars_deferred_indexes)').catch(() => 0);
          if (loading > 0) {
            clearInterval(poll);
            child.kill('SIGKILL');
          }
        }, 50);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(await scalar(url, 'select count(*) from cars_deferred_indexes')).toBeGreaterThan(0);
    expect((await indexes(url)).length).toBeLessThan(before.length);
    const next = await cars(['runs', '--limit', '1'], { env: { DATABASE_URL: url } });
    expect(next.code).toBe(0);
    expect(next.stderr).toMatch(/note: building \d+ indexes of cars that an import which ended early left for after its load/);
    expect(await indexes(url)).toEqual(before);
    expect(await scalar(url, 'select count(*) from cars_deferred_indexes')).toBe(0);
  });
});
