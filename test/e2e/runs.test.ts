// cars runs: the history newest first, abandoned runs, show (the report as printed), the chart, prune.
import fs from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, ROOT, tempDir } from '../support/cli.js';
import { connect, freshDatabase, servers } from '../support/db.js';
import { summary } from '../support/import-helpers.js';

const tmp = tempDir('cars-runs-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each(servers())('cars runs on $name', (server) => {
  let url: string;
  let drop: () => Promise<void>;
  let sql: ReturnType<typeof connect>;
  beforeAll(async () => {
    ({ url, drop } = await freshDatabase(server));
    sql = connect(url);
  });
  afterAll(async () => {
    await sql.end({ timeout: 5 });
    await drop();
  });
  const run = (args: string[], opts: Parameters<typeof cars>[1] = {}) => cars(args, { ...opts, env: { DATABASE_URL: url, CARS_HOME: tmp, ...opts.env } });

  it('lists runs newest first with their status, counts and exit code; filters and pages; json and csv', async () => {
    const ok = summary(await run(['import', path.join(ROOT, 'fixtures', 'cars.csv'), '--json']));
    const failed = await run(['import', path.join(tmp, 'nosuch.csv'), '--json']);
    expect(failed.code).toBe(2);
    const list = await run(['runs']);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^\s*id\s+command\s+source\s+status\s+started\s+duration\s+rows\s+peak RSS\s+exit$/);
    expect(lines[1]).toMatch(/^\s*\d+\s+import\s+\S+\s+failed\s.*\s2$/);
    expect(lines[2]).toMatch(new RegExp(`^\\s*${ok.run_id}\\s+import\\s+\\S+\\s+ok\\s.*read 1,007 ins 1,000 rej 7\\s+[\\d.]+ MB\\s+0$`));
    const json = JSON.parse((await run(['runs', '--format', 'json', '--limit', '1'])).stdout);
    expect(json.items).toHaveLength(1);
    expect(json.items[0]).toMatchObject({ command: 'import', status: 'failed', exit_code: 2, host: expect.any(String), pid: expect.any(Number) });
    expect(json.next).toEqual(expect.any(String));
    const page2 = JSON.parse((await run(['runs', '--format', 'json', '--limit', '1', '--after', json.next])).stdout);
    expect(page2.items[0]).toMatchObject({ id: ok.run_id, status: 'ok', rows: ok.rows, exit_code: 0, peak_rss_mb: ok.memory.rss_peak_mb, version: ok.version });
    expect(JSON.parse((await run(['runs', '--format', 'json', '--status', 'ok', '--since', '1h'])).stdout).items.map((i: { id: number }) => i.id)).toEqual([ok.run_id]);
    const csv = (await run(['runs', '--format', 'csv', '--command', 'import'])).stdout.trim().split('\n');
    expect(csv[0]).toBe('id,command,source,status,started_at,finished_at,duration_s,rows,peak_rss_mb,exit_code,host,pid,version');
    expect(csv).toHaveLength(3);
    const bad = await run(['runs', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since "yesterday": expected an age like 24h/);
  });

  it('a run killed with SIGKILL shows as abandoned at once, with how far it got', async () => {
    const big = Array.from({ length: 400_000 }, (_, i) => `1HGCM8${String(i).padStart(11, '0')},Honda,Civic,2019,${10000 + (i % 9000)}`).join('\n');
    let killedAt = 0;
    const killed = await run(['import', '-', '--no-progress', '--batch-size', '2000'], {
      input: 'vin,brand,model,year,price\n' + big + '\n',
      onSpawn: (child) => {
        const t = setInterval(async () => {
          const [r] = await sql`select id from runs where status = 'running' and heartbeat_at > started_at`.catch(() => [undefined]);
          if (r) {
            clearInterval(t);
            killedAt = Date.now();
            child.kill('SIGKILL');
          }
        }, 100);
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(killedAt).toBeGreaterThan(0);
    const json = JSON.parse((await run(['runs', '--format', 'json', '--limit', '1'])).stdout);
    expect(json.items[0]).toMatchObject({ command: 'import', source: '-', status: 'abandoned' });
    expect(json.items[0].rows.read).toBeGreaterThan(0); // the heartbeat carried the counts
    const show = await run(['runs', 'show', String(json.items[0].id)]);
    expect(show.stdout).toMatch(/abandoned/);
    expect(show.stdout).toMatch(/ended without finishing the run/);
  }, 60_000);

  it('show prints the report as it was printed, and --chart draws a well-formed SVG (and an HTML page)', async () => {
    const r = await run(['import', path.join(ROOT, 'fixtures', 'cars.csv'), '--no-progress']);
    expect(r.code).toBe(0);
    const id = /\(run (\d+)\)/.exec(r.stderr)![1];
    const svgFile = path.join(tmp, `${server.name}-run.svg`);
    const show = await run(['runs', 'show', id, '--chart', svgFile]);
    expect(show.code, show.stderr).toBe(0);
    // The same report, line for line (timings included: they are stored, not measured again).
    expect(show.stdout.trim()).toBe(r.stderr.trim());
    expect(show.stderr).toMatch(new RegExp(`wrote the chart of run ${id} to`));
    const svg = fs.readFileSync(svgFile, 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
    expect(doc.svg['@_xmlns']).toBe('http://www.w3.org/2000/svg');
    const paths = [doc.svg.path].flat().map((p: Record<string, string>) => p['@_id']);
    expect(paths).toEqual(expect.arrayContaining(['rss']));
    expect(svg).toMatch(/seconds since the start/);
    expect(svg).toMatch(/RSS \(MB\)/);
    const html = path.join(tmp, `${server.name}-run.html`);
    expect((await run(['runs', 'show', id, '--chart', html])).code).toBe(0);
    expect(fs.readFileSync(html, 'utf8')).toMatch(/^<!doctype html>[\s\S]*<svg [\s\S]*<\/svg>[\s\S]*<\/html>\n$/);
    const missing = await run(['runs', 'show', '999999']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/there is no run 999999/);
  });

  it('prune removes runs that ended before the cutoff, never a running one, and keeps the price history', async () => {
    const before = Number((await sql`select count(*) from runs`)[0].count);
    await sql`update runs set finished_at = now() - interval '100 days', started_at = now() - interval '100 days' where status <> 'running'`;
    const [{ id: oldest }] = await sql`select min(id) as id from runs`;
    await sql`insert into car_price_history (car_id, old_price, new_price, run_id) select id, price, price + 1, ${oldest} from cars limit 1`;
    const r = await run(['runs', 'prune', '--older-than', '90d']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`removed ${before} runs that ended more than 90d ago\n`);
    expect(Number((await sql`select count(*) from runs where finished_at < now() - interval '90 days'`)[0].count)).toBe(0);
    expect(Number((await sql`select count(*) from car_price_history where run_id is null`)[0].count)).toBe(1);
  });
});
