// Every run that does work is recorded in `runs`: its host and pid, a heartbeat while it works, its
// summary and timeline when it ends. A run whose process is gone is marked `abandoned`.
import os from 'node:os';
import type { Sql } from './pool.js';
import { TIMELINE, type Summary } from '../report.js';
import { VERSION } from '../version.js';
import { alive } from './embedded.js';

/** How often a working run says it is alive, and how old a heartbeat may be on another host. */
export const HEARTBEAT_MS = 5000;
export const STALE_AFTER = '1 minute';

export async function startRun(sql: Sql, command: string, source: string | null): Promise<number> {
  const [row] = await sql`
    insert into runs (command, source, version, host, pid, heartbeat_at)
    values (${command}, ${pgText(source)}, ${VERSION}, ${os.hostname()}, ${process.pid}, now()) returning id`;
  return Number(row.id);
}

/**
 * Keeps the run's heartbeat fresh until the returned function is called, with its counts and
 * timeline so far: a run killed without warning still shows how far it got.
 */
export function heartbeat(sql: Sql, id: number, progress: () => { counts: Record<string, number>; timeline: unknown }, everyMs = HEARTBEAT_MS): () => void {
  let beating = false;
  const t = setInterval(() => {
    if (beating) return; // (the last one still waits for a connection: no pile-up)
    beating = true;
    const p = progress();
    sql`update runs set heartbeat_at = now(), counts = ${sql.json(p.counts)}, timeline = ${sql.json(p.timeline as never)} where id = ${id} and status = 'running'`
      .catch(() => undefined)
      .finally(() => (beating = false));
  }, everyMs);
  t.unref();
  return () => clearInterval(t);
}

export async function finishRun(sql: Sql, id: number, s: Summary): Promise<void> {
  const safe = pgSafe(s);
  await sql`
    update runs set finished_at = now(), status = ${safe.status}, counts = ${sql.json(safe.rows)},
      peak_rss_mb = ${safe.memory.rss_peak_mb}, error = ${safe.error?.message ?? null}, summary = ${safe as never},
      timeline = ${s[TIMELINE] ? sql.json(s[TIMELINE] as never) : null}, heartbeat_at = now()
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

/**
 * Marks as `abandoned` the runs still `running` whose process is gone: on this host, when their
 * pid is not alive; elsewhere, when their heartbeat is older than a minute. Returns their ids.
 */
export async function markAbandoned(sql: Sql): Promise<number[]> {
  const host = os.hostname();
  const here = await sql`select id, pid from runs where status = 'running' and host = ${host}`;
  const dead = here.filter((r) => r.pid === null || !alive(Number(r.pid))).map((r) => Number(r.id));
  const marked: number[] = [];
  if (dead.length) {
    const rows = await sql`
      update runs set status = 'abandoned', finished_at = coalesce(heartbeat_at, started_at),
        error = 'the process (pid ' || coalesce(pid::text, '?') || ' on ' || host || ') ended without finishing the run: killed, or the machine stopped'
      where id = any(${dead}::bigint[]) and status = 'running' returning id`;
    marked.push(...rows.map((r) => Number(r.id)));
  }
  const elsewhere = await sql`
    update runs set status = 'abandoned', finished_at = coalesce(heartbeat_at, started_at),
      error = 'no heartbeat from ' || coalesce(host, 'its host') || ' since ' || to_char(coalesce(heartbeat_at, started_at), 'YYYY-MM-DD HH24:MI:SS TZ') || ': the process is taken for gone'
    where status = 'running' and host is distinct from ${host} and coalesce(heartbeat_at, started_at) < now() - ${STALE_AFTER}::interval
    returning id`;
  marked.push(...elsewhere.map((r) => Number(r.id)));
  return marked;
}
