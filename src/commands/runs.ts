// cars runs [show ID] [prune]: the run history. Listing is keyset-paginated on the run id (newest
// first), like `cars search`; a run whose process is gone is marked `abandoned` first.
import type { Sql } from '../db/pool.js';
import { markAbandoned } from '../db/runs.js';
import { CarsError } from '../errors.js';
import type { Summary } from '../report.js';
import type { TimelineData } from '../timeline.js';
import type { RunItem } from '../runs/format.js';

export interface RunsOptions {
  command?: string;
  status?: string;
  /** A date (2026-12-01) or an age (24h, 7d, 90m). */
  since?: string;
  limit: number;
  after?: string;
  format: 'table' | 'json' | 'csv';
}


const AGE = /^(\d+)\s*(m|min|h|d|w)$/i;

/** "24h" -> an interval text PostgreSQL reads; a date stays a date. Throws a usage error otherwise. */
export function sinceBound(v: string, option = '--since'): { interval: string } | { date: string } {
  const m = AGE.exec(v.trim());
  if (m) {
    const unit = { m: 'minutes', min: 'minutes', h: 'hours', d: 'days', w: 'weeks' }[m[2].toLowerCase()]!;
    return { interval: `${m[1]} ${unit}` };
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/.test(v.trim()) && !Number.isNaN(Date.parse(v.trim()))) return { date: v.trim() };
  throw new CarsError('USAGE', `${option} ${JSON.stringify(v)}: expected an age like 24h, 7d or 90m, or a date like 2026-12-01`);
}

function cursorOf(id: number): string {
  return Buffer.from(`run:${id}`).toString('base64url');
}

function afterId(cursor: string): number {
  const m = /^run:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new CarsError('USAGE', `--after ${JSON.stringify(cursor)} is not a cursor this command gave (use the "next" of the previous page)`);
  return Number(m[1]);
}

function item(r: Record<string, unknown>): RunItem {
  const summary = r.summary as Summary | null;
  return {
    id: Number(r.id),
    command: r.command as string,
    source: (r.source as string | null) ?? null,
    status: r.status as string,
    started_at: (r.started_at as Date).toISOString(),
    finished_at: r.finished_at ? (r.finished_at as Date).toISOString() : null,
    duration_s: r.duration_s === null ? null : Math.round(Number(r.duration_s) * 10) / 10,
    rows: (r.counts as Record<string, number>) ?? {},
    peak_rss_mb: r.peak_rss_mb === null ? null : Number(r.peak_rss_mb),
    exit_code: r.exit_code !== undefined && r.exit_code !== null ? Number(r.exit_code) : (summary?.exit_code ?? null),
    host: (r.host as string | null) ?? null,
    pid: r.pid === null ? null : Number(r.pid),
    version: (r.version as string | null) ?? null,
  };
}

/** Recent runs, newest first, and the cursor of the next page. */
export async function listRuns(sql: Sql, o: RunsOptions): Promise<{ items: RunItem[]; next: string | null }> {
  await markAbandoned(sql);
  const since = o.since ? sinceBound(o.since) : undefined;
  const rows = await sql`
    select id, command, source, status, started_at, finished_at, counts, peak_rss_mb, host, pid, version,
      (summary ->> 'exit_code')::int as exit_code,
      extract(epoch from coalesce(finished_at, now()) - started_at) as duration_s
    from runs
    where true
      ${o.command ? sql`and command = ${o.command}` : sql``}
      ${o.status ? sql`and status = ${o.status}` : sql``}
      ${since && 'interval' in since ? sql`and started_at >= now() - ${since.interval}::interval` : sql``}
      ${since && 'date' in since ? sql`and started_at >= ${since.date}::timestamptz` : sql``}
      ${o.after ? sql`and id < ${afterId(o.after)}` : sql``}
    order by id desc
    limit ${o.limit + 1}`;
  const items = rows.slice(0, o.limit).map(item);
  return { items, next: rows.length > o.limit ? cursorOf(items[items.length - 1].id) : null };
}

export interface RunDetail extends RunItem {
  error: string | null;
  summary: Summary | null;
  timeline: TimelineData | null;
}

export async function showRun(sql: Sql, id: number): Promise<RunDetail> {
  await markAbandoned(sql);
  const [r] = await sql`
    select id, command, source, status, started_at, finished_at, counts, peak_rss_mb, host, pid, version, error, summary, timeline,
      extract(epoch from coalesce(finished_at, now()) - started_at) as duration_s
    from runs where id = ${id}`;
  if (!r) throw new CarsError('USAGE', `there is no run ${id} in this database (\`cars runs\` lists them)`);
  return { ...item(r), error: (r.error as string | null) ?? null, summary: (r.summary as Summary | null) ?? null, timeline: (r.timeline as TimelineData | null) ?? null };
}

/**
 * Removes the runs that ended before the cutoff (never one still running). Price and condition
 * changes they made stay in car_price_history and car_condition_history, without their run id.
 */
export async function pruneRuns(sql: Sql, olderThan: string): Promise<number> {
  const b = sinceBound(olderThan, '--older-than');
  await markAbandoned(sql);
  return sql.begin(async (tx) => {
    const cutoff = 'interval' in b ? tx`now() - ${b.interval}::interval` : tx`${b.date}::timestamptz`;
    const old = tx`select id from runs where status <> 'running' and coalesce(finished_at, started_at) < ${cutoff}`;
    await tx`update car_price_history set run_id = null where run_id in (${old})`;
    await tx`update car_condition_history set run_id = null where run_id in (${old})`;
    const r = await tx`delete from runs where id in (${old})`;
    return r.count;
  });
}

