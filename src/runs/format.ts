// `cars runs` for a person (a table) or a spreadsheet (CSV). Pure.
import { csvField } from '../sources/csv-records.js';

/** A row of `runs`, as listed. */
export interface RunItem {
  id: number;
  command: string;
  source: string | null;
  status: string;
  started_at: string;
  finished_at: string | null;
  duration_s: number | null;
  rows: Record<string, number>;
  peak_rss_mb: number | null;
  exit_code: number | null;
  host: string | null;
  pid: number | null;
  version: string | null;
}

/** The main counts of a run, in a few words: "read 1,007 ins 1,000 rej 7". */
export function countsText(rows: Record<string, number>): string {
  const short: Record<string, string> = { read: 'read', inserted: 'ins', updated: 'upd', unchanged: 'same', rejected: 'rej', superseded: 'sup', checked: 'checked', changed: 'chg', unknown: 'unk', failed: 'fail', valid: 'valid' };
  return Object.entries(rows)
    .filter(([k, v]) => short[k] && (v > 0 || k === 'read' || k === 'checked'))
    .map(([k, v]) => `${short[k]} ${v.toLocaleString('en-US')}`)
    .join(' ');
}

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/** "1h02m", "3m05s", "12.4 s". */
export function duration(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s.toFixed(1)} s`;
  const t = Math.round(s);
  return t < 3600 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/** A local time without seconds' fractions: "2026-12-05 03:00:12". */
export function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function runsTable(items: RunItem[], next: string | null): string {
  const head = ['id', 'command', 'source', 'status', 'started', 'duration', 'rows', 'peak RSS', 'exit'];
  const rows = items.map((r) => [
    String(r.id),
    r.command,
    cut(r.source ?? '', 32),
    r.status,
    localTime(r.started_at),
    duration(r.duration_s),
    countsText(r.rows),
    r.peak_rss_mb === null ? '-' : `${r.peak_rss_mb.toFixed(1)} MB`,
    r.exit_code === null ? '-' : String(r.exit_code),
  ]);
  if (rows.length === 0) return 'no runs match';
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 8 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line(head), ...rows.map(line)];
  if (next) out.push(`(more: --after ${next})`);
  return out.join('\n');
}

export const RUN_CSV_COLUMNS = ['id', 'command', 'source', 'status', 'started_at', 'finished_at', 'duration_s', 'rows', 'peak_rss_mb', 'exit_code', 'host', 'pid', 'version'] as const;

export function runsCsv(items: RunItem[]): string {
  const lines = [RUN_CSV_COLUMNS.join(',')];
  for (const r of items) {
    const cells = RUN_CSV_COLUMNS.map((c) => {
      const v = c === 'rows' ? JSON.stringify(r.rows) : r[c];
      return csvField(v === null || v === undefined ? '' : String(v));
    });
    lines.push(cells.join(','));
  }
  return lines.join('\n');
}
