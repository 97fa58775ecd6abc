// Printing a summary for a human (stderr) — shared by every command.
import type { Summary } from './report.js';
import { printable, VALUE_MAX } from './text/printable.js';

const n = (v: number) => v.toLocaleString('en-US');
const secs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const mb = (v: number) => `${v.toFixed(1)} MB`;
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} MB`;
/** A value from the input or the command line (a source, a header): escaped and cut. Paths an operator opens next are escaped, never cut. */
const shown = (v: string) => printable(v, VALUE_MAX);

export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  const head = `cars ${s.command}${s.source ? ` ${shown(s.source)}` : ''}: ${s.status}${s.run_id ? ` (run ${s.run_id})` : ''}`;
  lines.push(head);
  const rowKeys = Object.keys(s.rows);
  if (rowKeys.length) {
    const width = Math.max(...rowKeys.map((k) => k.length));
    for (const k of rowKeys) lines.push(`  ${k.padEnd(width)}  ${n(s.rows[k]).padStart(12)}`);
  }
  if (typeof s.accounting === 'string') lines.push(`  ${s.accounting}`);
  const read: string[] = [];
  if (typeof s.encoding === 'string' && s.encoding !== 'utf-8') read.push(shown(s.encoding));
  if (typeof s.delimiter === 'string' && s.delimiter !== ',') read.push(`${s.delimiter === '\t' ? 'tab' : `"${shown(s.delimiter)}"`} between fields`);
  if (read.length) lines.push(`  read as: ${read.join(', ')}`);
  const renamed = Object.entries((s.columns ?? {}) as Record<string, string>).filter(([h, c]) => h.trim().toLowerCase() !== c);
  if (renamed.length) lines.push(`  columns: ${renamed.map(([h, c]) => `${shown(h)} -> ${shown(c)}`).join(', ')}`);
  const ignored = (s.ignored_columns ?? []) as string[];
  if (ignored.length) lines.push(`  ignored columns: ${ignored.map(shown).join(', ')}`);
  const snap = s.snapshot as { source?: string; listed?: number; missing?: number; marked_sold?: number; relisted?: number; skipped?: string } | undefined;
  if (snap?.skipped) lines.push(`  snapshot of ${shown(String(snap.source))}: ${snap.skipped}`);
  else if (snap && s.dry_run) {
    const eg = (snap as { would_mark?: string[] }).would_mark ?? [];
    lines.push(`  snapshot of ${shown(String(snap.source))} (dry run): listed ${n(snap.listed ?? 0)}, would mark ${n(snap.missing ?? 0)} sold${eg.length ? `, e.g. ${eg.join(', ')}` : ''}`);
  } else if (snap) lines.push(`  snapshot of ${shown(String(snap.source))}: listed ${n(snap.listed ?? 0)}, missing ${n(snap.missing ?? 0)}, marked sold ${n(snap.marked_sold ?? 0)}, relisted ${n(snap.relisted ?? 0)}`);
  const feed = s.feed as { not_modified?: boolean; since_run?: number | null; resumed_at_page?: number; resumed_from_run?: number | null; resume_at_page?: number } | undefined;
  if (feed?.not_modified) lines.push(`  feed: not modified since ${feed.since_run ? `run ${feed.since_run}` : 'the last complete run'}: nothing read`);
  else if (feed) {
    const said: string[] = [];
    if (feed.resumed_at_page) said.push(`resumed at page ${feed.resumed_at_page}${feed.resumed_from_run ? ` (run ${feed.resumed_from_run} stopped there)` : ''}`);
    if (feed.resume_at_page) said.push(`a rerun resumes at page ${feed.resume_at_page} (--restart starts over)`);
    if (said.length) lines.push(`  feed: ${said.join('; ')}`);
  }
  if (s.rejects_file) lines.push(`  rejects file: ${printable(s.rejects_file)}`);
  if (s.failures_file) lines.push(`  failures file: ${printable(String(s.failures_file))}`);
  if (typeof s.rows_per_second === 'number' && s.rows_per_second > 0) lines.push(`  rate: ${n(Math.round(s.rows_per_second))} rows/s`);
  if (s.http) {
    const st = Object.entries(s.http.statuses).map(([k, v]) => `${k}×${v}`).join(' ');
    lines.push(`  http: ${n(s.http.requests)} requests, ${n(s.http.retries)} retries, ${n(s.http.bytes)} bytes${st ? `, status ${st}` : ''}`);
    lines.push(`  http waits: rate limit ${secs(s.http.rate_wait_ms)}, backoff ${secs(s.http.backoff_wait_ms)} (summed over the requests, which wait side by side)`);
    const r = s.http.rate;
    if (r) lines.push(`  http rate: ${n(s.http.throttled)} throttled, req/s start ${r.start}, lowest ${r.lowest}, end ${r.end}`);
  }
  lines.push(`  time: ${secs(s.timing.total_ms)} total`);
  for (const [name, p] of Object.entries(s.timing.phases)) {
    // The writers overlap each other and the reading: their busy times add up past the total.
    const note = name === 'write' && typeof s.writers === 'number' && s.writers > 1 ? `  (busy time summed over ${s.writers} writers)` : '';
    lines.push(`    ${name.padEnd(10)} ${secs(p.ms).padStart(9)}  rss ${signed(p.rss_delta_mb)}${note}`);
  }
  const m = s.memory;
  lines.push(`  memory: rss start ${mb(m.rss_start_mb)}, peak ${mb(m.rss_peak_mb)}, end ${mb(m.rss_end_mb)} (peak ${signed(m.rss_peak_mb - m.rss_start_mb)}, end ${signed(m.rss_end_mb - m.rss_start_mb)})`);
  return lines.join('\n');
}
