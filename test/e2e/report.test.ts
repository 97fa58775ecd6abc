// The run report: on stderr, in the --json summary, in `runs`, and in the metrics file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, ROOT, tempDir } from '../support/cli.js';
import { connect, freshDatabase, servers } from '../support/db.js';

const tmp = tempDir('cars-report-');
let url: string;
let drop: () => Promise<void>;
beforeAll(async () => ({ url, drop } = await freshDatabase(servers()[0])));
afterAll(async () => {
  await drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('run report', () => {
  it('prints phases, RSS and counts on stderr, the same in --json, in runs and in the metrics file', async () => {
    const metrics = path.join(tmp, 'cars.prom');
    const env = { DATABASE_URL: url, CARS_HOME: tmp };
    const human = await cars(['import', path.join(ROOT, 'fixtures/cars.csv'), '--metrics-file', metrics, '--no-progress'], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(''); // data only on stdout, and import has none
    expect(human.stderr).toMatch(/cars import .*cars\.csv: ok \(run \d+\)/);
    expect(human.stderr).toMatch(/read 1007 = inserted 1000 \+ updated 0 \+ unchanged 0 \+ rejected 7 \+ superseded 0 ✓/);
    for (const phase of ['connect', 'read', 'validate', 'write']) expect(human.stderr).toMatch(new RegExp(`\\n\\s+${phase}\\s+[\\d.]+ m?s\\s+rss [+-]\\d+\\.\\d MB`));
    expect(human.stderr).toMatch(/memory: rss start [\d.]+ MB, peak [\d.]+ MB, end [\d.]+ MB/);
    // The writers' busy times overlap: the line says they are summed.
    expect(human.stderr).toMatch(/\n\s+write\s+[\d.]+ m?s\s+rss [+-]\d+\.\d MB  \(busy time summed over 2 writers\)/);
    // ANALYZE ran (1000 new cars in an empty table), so its phase is there.
    expect(human.stderr).toMatch(/\n\s+analyze\s/);

    const prom = fs.readFileSync(metrics, 'utf8');
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]); // renamed into place
    const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(prom)?.[1]);
    expect(value('cars_last_run_rows{command="import",outcome="inserted"}')).toBe(1000);
    expect(value('cars_last_run_exit_code{command="import"}')).toBe(0);
    expect(value('cars_last_success_timestamp_seconds{command="import"}')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(value('cars_last_run_rss_peak_bytes{command="import"}')).toBeGreaterThan(10 * 1024 * 1024);
    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(value(`cars_build_info{command="import",version="${version}"}`)).toBe(1);

    const json = await cars(['import', path.join(ROOT, 'fixtures/cars.csv'), '--json', '--metrics-file', metrics], { env });
    const s = JSON.parse(json.stdout);
    expect(json.stdout.trim().split('\n')).toHaveLength(1); // one object, nothing else
    expect(s.rows).toMatchObject({ read: 1007, unchanged: 1000, rejected: 7 });
    expect(s.version).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    expect(s.timing.total_ms).toBeGreaterThan(0);
    for (const p of ['connect', 'read', 'validate', 'write']) expect(s.timing.phases[p]).toEqual({ ms: expect.any(Number), rss_delta_mb: expect.any(Number) });
    expect(s.memory.rss_peak_mb).toBeGreaterThanOrEqual(s.memory.rss_start_mb);
    expect(s.memory.rss_peak_mb).toBeGreaterThanOrEqual(s.memory.rss_end_mb);
    const sql = connect(url);
    try {
      const [run] = await sql`select status, counts, peak_rss_mb, finished_at, summary, version from runs where id = ${s.run_id}`;
      expect(run.status).toBe('ok');
      expect(run.version).toBe(s.version);
      expect(run.counts).toEqual(s.rows);
      expect(Number(run.peak_rss_mb)).toBe(s.memory.rss_peak_mb);
      expect(run.finished_at).toBeInstanceOf(Date);
      expect(run.summary.timing.phases.write.ms).toBe(s.timing.phases.write.ms);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('--log-format json: warnings and errors on stderr as one JSON object a line, with the run id', async () => {
    const env = { DATABASE_URL: url, CARS_HOME: tmp };
    const f = path.join(tmp, 'extra-column.csv');
    fs.writeFileSync(f, 'vin,brand,model,year,price,Stock #\n1HGCM82633A004352,Honda,Civic,2019,15000,A1\n');
    const r = await cars(['import', f, '--log-format', 'json', '--quiet'], { env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([{ time: expect.any(String), level: 'warning', code: null, message: expect.stringMatching(/ignoring column Stock #/), run_id: expect.any(Number) }]);
    const bad = await cars(['import', path.join(tmp, 'nosuch.csv'), '--log-format=json'], { env });
    expect(bad.code).toBe(2);
    const [err] = bad.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(err).toMatchObject({ level: 'error', code: 'INPUT_UNREADABLE', message: expect.stringMatching(/cannot read .*nosuch\.csv: no such file/) });
  });

  it('a failed run keeps the last success timestamp in the metrics file and names the failure', async () => {
    const metrics = path.join(tmp, 'fail.prom');
    const env = { DATABASE_URL: url, CARS_HOME: tmp };
    await cars(['import', path.join(ROOT, 'fixtures/quirks/bom-crlf.csv'), '--quiet', '--metrics-file', metrics], { env });
    const before = /cars_last_success_timestamp_seconds\{command="import"\} (\d+)/.exec(fs.readFileSync(metrics, 'utf8'))![1];
    const bad = await cars(['import', path.join(ROOT, 'fixtures/quirks/bom-crlf.csv'), '--quiet', '--metrics-file', metrics], {
      env: { ...env, DATABASE_URL: 'postgres://nobody:pw@127.0.0.1:1/none' },
    });
    expect(bad.code).toBe(5);
    const prom = fs.readFileSync(metrics, 'utf8');
    expect(prom).toContain(`cars_last_success_timestamp_seconds{command="import"} ${before}`);
    expect(prom).toContain('cars_last_run_exit_code{command="import"} 5');
  });
});
