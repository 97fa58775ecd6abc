// Numbered SQL files in sql/, applied in order, each in its own transaction, recorded in a table.
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type postgres from 'postgres';
import { CarsError } from '../errors.js';

export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
// Any constant will do, as long as every cars process uses the same one.
const MIGRATION_LOCK = 727_001;

export interface Migration {
  version: number;
  name: string;
  file: string;
}

export async function listMigrations(dir = SQL_DIR): Promise<Migration[]> {
  const files = (await fs.readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f));
  const out = files.map((f) => ({ version: Number(f.split('_')[0]), name: f.replace(/\.sql$/, ''), file: path.join(dir, f) }));
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i].version === out[i - 1].version) throw new CarsError('INTERNAL', `two migrations share version ${out[i].version}`);
  }
  return out;
}

export async function appliedMigrations(sql: postgres.Sql): Promise<Array<{ version: number; name: string; applied_at: Date }>> {
  await ensureTable(sql);
  return sql`select version, name, applied_at from cars_migrations order by version`;
}

async function ensureTable(sql: postgres.Sql) {
  // "if not exists" still races in the catalog when two processes create the table at once.
  await sql`create table if not exists cars_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`.catch(
    (e) => {
      if (e?.code !== '23505' && e?.code !== '42P07') throw e;
    },
  );
}

/** Applies pending migrations; returns the names applied now (none when up to date). */
export async function migrate(sql: postgres.Sql, dir = SQL_DIR): Promise<string[]> {
  await ensureTable(sql);
  const all = await listMigrations(dir);
  const done = new Set((await sql`select version from cars_migrations`).map((r) => r.version as number));
  const pending = all.filter((m) => !done.has(m.version));
  const applied: string[] = [];
  for (const m of pending) {
    const text = await fs.readFile(m.file, 'utf8');
    const ran = await sql
      .begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
        const [already] = await tx`select 1 from cars_migrations where version = ${m.version}`;
        if (already) return false; // another process applied it while we waited
        await tx.unsafe(text);
        await tx`insert into cars_migrations (version, name) values (${m.version}, ${m.name})`;
        return true;
      })
      .catch((e) => {
        throw new CarsError('MIGRATION_FAILED', `migration ${m.name} failed: ${e?.message ?? e}`, { cause: e });
      });
    if (ran) applied.push(m.name);
  }
  return applied;
}
