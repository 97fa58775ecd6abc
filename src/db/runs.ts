// Every run that does work is recorded in `runs`.
import type { Sql } from './pool.js';
import type { Summary } from '../report.js';

export async function startRun(sql: Sql, command: string, source: string | null): Promise<number> {
  const [row] = await sql`insert into runs (command, source) values (${command}, ${pgText(source)}) returning id`;
  return row.id as number;
}

export async function finishRun(sql: Sql, id: number, s: Summary): Promise<void> {
  const safe = pgSafe(s);
  await sql`
    update runs set finished_at = now(), status = ${safe.status}, counts = ${sql.json(safe.rows)},
      peak_rss_mb = ${safe.memory.rss_peak_mb}, error = ${safe.error?.message ?? null}, summary = ${sql.json(safe as never)}
    where id = ${id}`;
}

/** The sign that stands for a NUL character in what PostgreSQL stores. */
export const NUL_SIGN = '\u2400';

/** PostgreSQL's text and jsonb cannot hold a NUL character (binary input ends up in messages): it becomes ␀. */
export function pgText<T extends string | null>(v: T): T {
  return (typeof v === 'string' && v.includes('\0') ? v.replace(/\0/g, NUL_SIGN) : v) as T;
}

/** `pgText` on every string of a JSON-like value (keys included). */
export function pgSafe<T>(v: T): T {
  if (typeof v === 'string') return pgText(v) as T;
  if (Array.isArray(v)) return v.map(pgSafe) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [pgText(k), pgSafe(x)])) as T;
  return v;
}
