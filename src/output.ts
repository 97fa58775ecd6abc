// Printing a summary for a human (stderr) — shared by every command.
import type { Summary } from './report.js';

const n = (v: number) => v.toLocaleString('en-US');
const secs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const mb = (v: number) => `${v.toFixed(1)} MB`;
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} MB`;

export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  const head = `cars ${s.command}${s.source ? ` ${s.source}` : ''}: ${s.status}${s.run_id ? ` (run ${s.run_id})` : ''}`;
  lines.push(head);
  const rowKeys = Object.keys(s.rows);
  if (rowKeys.length) {
    const width = Math.max(...rowKeys.map((k) => k.length));
    for (const k of rowKeys) lines.push(`  ${k.padEnd(width)}  ${n(s.rows[k]).padStart(12)}`);
  }
  if (typeof s.accounting === 'string') lines.push(`  ${s.accounting}`);
  if (s.rejects_file) lines.push(`  rejects file: ${s.rejects_file}`);
  if (s.failures_file) lines.push(`  failures file: ${s.failures_file}`);
  if (typeof s.rows_per_second === 'number' && s.rows_per_second > 0) lines.push(`  rate: ${n(Math.round(s.rows_per_second))} rows/s`);
  if (s.http) {
    const st = Object.entries(s.http.statuses).map(([k, v]) => `${k}×${v}`).join(' ');
    lines.push(`  http: ${n(s.http.requests)} requests, ${n(s.http.retries)} retries, ${n(s.http.bytes)} bytes${st ? `, status ${st}` : ''}`);
    lines.push(`  http waits: rate limit ${secs(s.http.rate_wait_ms)}, backoff ${secs(s.http.backoff_wait_ms)}`);
    const r = s.http.rate;
    if (r) lines.push(`  http rate: ${n(s.http.throttled)} throttled, req/s start ${r.start}, lowest ${r.lowest}, end ${r.end}`);
  }
  lines.push(`  time: ${secs(s.timing.total_ms)} total`);
  for (const [name, p] of Object.entries(s.timing.phases)) {
    lines.push(`    ${name.padEnd(10)} ${secs(p.ms).padStart(9)}  rss ${signed(p.rss_delta_mb)}`);
  }
  const m = s.memory;
  lines.push(`  memory: rss start ${mb(m.rss_start_mb)}, peak ${mb(m.rss_peak_mb)}, end ${mb(m.rss_end_mb)} (peak ${signed(m.rss_peak_mb - m.rss_start_mb)}, end ${signed(m.rss_end_mb - m.rss_start_mb)})`);
  return lines.join('\n');
}
