// Prometheus text format for node_exporter's textfile collector, written atomically.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Summary } from './report.js';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Renders a summary. `lastSuccess` carries the previous success timestamp across failed runs. */
export function renderMetrics(s: Summary, nowSeconds: number, lastSuccess: number | null): string {
  const cmd = `command="${esc(s.command)}"`;
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of samples) lines.push(`${name}{${labels}} ${Number.isFinite(v) ? v : 0}`);
  };
  const success = s.status === 'ok' ? nowSeconds : lastSuccess;
  gauge('cars_build_info', 'The version of cars that made the last run (always 1).', [[`${cmd},version="${s.version}"`, 1]]);
  gauge('cars_last_run_timestamp_seconds', 'When the last run ended (Unix time).', [[cmd, nowSeconds]]);
  if (success !== null) gauge('cars_last_success_timestamp_seconds', 'When the last successful run ended (Unix time).', [[cmd, success]]);
  gauge('cars_last_run_exit_code', 'Exit code of the last run.', [[cmd, s.exit_code]]);
  gauge('cars_last_run_success', '1 when the last run ended with status ok.', [[cmd, s.status === 'ok' ? 1 : 0]]);
  gauge('cars_last_run_duration_seconds', 'Wall time of the last run.', [[cmd, s.timing.total_ms / 1000]]);
  gauge('cars_last_run_rows', 'Row counts of the last run, by outcome.',
    Object.entries(s.rows).map(([k, v]) => [`${cmd},outcome="${esc(k)}"`, v]));
  gauge('cars_last_run_phase_seconds', 'Time per phase of the last run.',
    Object.entries(s.timing.phases).map(([k, v]) => [`${cmd},phase="${esc(k)}"`, v.ms / 1000]));
  gauge('cars_last_run_rss_peak_bytes', 'Peak resident memory of the last run.', [[cmd, Math.round(s.memory.rss_peak_mb * 1048576)]]);
  if (s.http) {
    gauge('cars_last_run_http_requests', 'HTTP requests made by the last run.', [[cmd, s.http.requests]]);
    gauge('cars_last_run_http_retries', 'HTTP retries made by the last run.', [[cmd, s.http.retries]]);
  }
  return lines.join('\n') + '\n';
}

/** Reads the previous success timestamp of this command from an existing metrics file. */
export function previousSuccess(text: string, command: string): number | null {
  const re = new RegExp(`^cars_last_success_timestamp_seconds\\{command="${command.replace(/[^\w-]/g, '')}"\\} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

export async function writeMetricsFile(file: string, s: Summary, now = Date.now()): Promise<void> {
  const old = await fs.readFile(file, 'utf8').catch(() => '');
  const body = renderMetrics(s, Math.floor(now / 1000), previousSuccess(old, s.command));
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}
