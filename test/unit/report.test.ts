import { describe, expect, it } from 'vitest';
import { RunReport, type Clock } from '../../src/report.js';
import { previousSuccess, renderMetrics } from '../../src/metrics.js';
import { formatSummary } from '../../src/output.js';
import { redact } from '../../src/db/target.js';

const MB = 1024 * 1024;

/** A clock the test moves by hand. */
function fakeClock(): Clock & { t: number; r: number } {
  return { t: 0, r: 50 * MB, now() { return this.t; }, rss() { return this.r; } };
}

describe('RunReport', () => {
  it('records phases with wall time and RSS delta, and a sampled peak', async () => {
    const clock = fakeClock();
    const report = new RunReport('import', clock, 0);
    await report.phase('read', async () => {
      clock.t += 120;
      clock.r += 30 * MB;
      report.sample(); // the peak is what was sampled, not the end value
      clock.r -= 20 * MB;
    });
    report.add('write', 40, 2 * MB);
    report.add('write', 60, 1 * MB);
    report.count('read', 5);
    clock.t += 100;
    const s = report.finish('ok', 0);
    expect(s.timing.phases).toEqual({ read: { ms: 120, rss_delta_mb: 10 }, write: { ms: 100, rss_delta_mb: 3 } });
    expect(s.timing.total_ms).toBe(220);
    expect(s.memory).toEqual({ rss_start_mb: 50, rss_peak_mb: 80, rss_end_mb: 60 });
    expect(s.rows).toEqual({ read: 5 });
    expect(s).toMatchObject({ command: 'import', status: 'ok', exit_code: 0, run_id: null });
  });

  it('samples on a timer', async () => {
    const clock = fakeClock();
    const report = new RunReport('x', clock, 5);
    clock.r = 90 * MB;
    await new Promise((r) => setTimeout(r, 30));
    clock.r = 60 * MB;
    expect(report.finish('ok', 0).memory.rss_peak_mb).toBe(90);
  });

  it('the human summary names every figure', () => {
    const clock = fakeClock();
    const report = new RunReport('import', clock, 0);
    report.source = 'fixtures/cars.csv';
    report.rows = { read: 10, inserted: 9, rejected: 1 };
    report.add('write', 1500, 3 * MB);
    const text = formatSummary(report.finish('ok', 0));
    expect(text).toMatch(/cars import fixtures\/cars\.csv: ok/);
    expect(text).toMatch(/inserted\s+9/);
    expect(text).toMatch(/write\s+1\.50 s\s+rss \+3\.0 MB/);
    expect(text).toMatch(/memory: rss start 50\.0 MB, peak 50\.0 MB, end 50\.0 MB/);
  });
});

/** A tiny parser of the Prometheus text format: enough to read our own file back. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    out.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

describe('metrics', () => {
  const summary = () => {
    const r = new RunReport('sync-prices', fakeClock(), 0);
    r.rows = { checked: 100, changed: 7, failed: 1 };
    return r.finish('ok', 0);
  };

  it('renders gauges that parse back', () => {
    const m = parseProm(renderMetrics(summary(), 1_700_000_000, null));
    expect(m.get('cars_last_success_timestamp_seconds{command="sync-prices"}')).toBe(1_700_000_000);
    expect(m.get('cars_last_run_rows{command="sync-prices",outcome="changed"}')).toBe(7);
    expect(m.get('cars_last_run_exit_code{command="sync-prices"}')).toBe(0);
    expect(m.get('cars_last_run_rss_peak_bytes{command="sync-prices"}')).toBe(50 * MB);
  });

  it('a failed run keeps the previous success timestamp', () => {
    const ok = renderMetrics(summary(), 1000, null);
    const failed = { ...summary(), status: 'failed' as const, exit_code: 5 };
    const m = parseProm(renderMetrics(failed, 2000, previousSuccess(ok, 'sync-prices')));
    expect(m.get('cars_last_success_timestamp_seconds{command="sync-prices"}')).toBe(1000);
    expect(m.get('cars_last_run_timestamp_seconds{command="sync-prices"}')).toBe(2000);
    expect(m.get('cars_last_run_success{command="sync-prices"}')).toBe(0);
  });
});

describe('redact', () => {
  it.each([
    ['postgres://alice:secret@db.example.com:6543/cars?sslmode=require', 'postgres://alice@db.example.com:6543/cars'],
    ['postgresql://bob@localhost/x', 'postgresql://bob@localhost:5432/x'],
    ['postgres://u:p%40ss@h/d', 'postgres://u@h:5432/d'],
    ['nonsense', '<unparseable database URL>'],
  ])('%s -> %s', (url, expected) => {
    expect(redact(url)).toBe(expected);
    expect(redact(url)).not.toMatch(/secret|p%40ss/);
  });
});
