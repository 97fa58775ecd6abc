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
    values (${command}, ${source}, ${VERSION}, ${os.hostname()}, ${process.pid}, now()) returning id`;
  return Number(row.id);
}

/**
 * Keeps the run's heartbeat fresh until the returned function is called, with its counts and
 * timeline so far: a run killed without warning still shows how far it got.
 */
export function heartbeat(sql: Sql, id: number, progress: () => { counts: Record<string, number>; timeline: unknown }, everyMs = HEARTBEAT_MS): () => void {
  const t = setInterval(() => {
    const p = progress();
    sql`update runs set heartbeat_at = now(), counts = ${sql.json(p.counts)}, timeline = ${sql.json(p.timeline as never)} where id = ${id} and status = 'running'`.catch(() => undefined);
  }, everyMs);
  t.unref();
  return () => clearInterval(t);
}

export async function finishRun(sql: Sql, id: number, s: Summary): Promise<void> {
  await sql`
    update runs set finished_at = now(), status = ${s.status}, counts = ${sql.json(s.rows)},
      peak_rss_mb = ${s.memory.rss_peak_mb}, error = ${s.error?.message ?? null}, summary = ${s as never},
      timeline = ${s[TIMELINE] ? sql.json(s[TIMELINE] as never) : null}, heartbeat_at = now()
    where id = ${id}`;
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
