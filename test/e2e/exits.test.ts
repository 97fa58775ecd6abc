// Every exit tells the truth: --json prints one object even for usage errors; an input whose every
// row was rejected is not "ok" (real binary, real PostgreSQL 18).
import { finishRun, startRun } from '../../src/db/runs.js';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempHome } from '../support/cli.js';
import { connect, freshDatabase, servers } from '../support/db.js';
import { expectBalanced, readCsv, summary } from '../support/import-helpers.js';

const tmp = tempHome('cars-exits-');
let url: string;
let drop: () => Promise<void>;
beforeAll(async () => ({ url, drop } = await freshDatabase(servers()[0])));
afterAll(async () => {
  await drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('--json on a usage error', () => {
  const cases: Array<{ command: string; args: string[]; message: RegExp }> = [
    { command: 'import', args: ['import', 'x.csv', '--batch-size', '0'], message: /--batch-size <rows>.*'0' is invalid/ },
    { command: 'import', args: ['import', 'x.csv', '--no-such-option'], message: /unknown option '--no-such-option'/ },
    { command: 'sync-prices', args: ['sync-prices'], message: /needs exactly one of --feed/ },
    { command: 'explain', args: ['explain', 'no_such_query'], message: /no named query "no_such_query"/ },
    { command: 'explain', args: ['explain', '--sql', 'delete from cars'], message: /--sql: the query/ },
    { command: 'search', args: ['search', '--limit', '5000'], message: /--limit <n>.*'5000' is invalid/ },
    { command: 'generate', args: ['generate', '10'], message: /takes no --json/ },
    { command: 'generate', args: ['generate', 'many'], message: /'many' is invalid/ },
    { command: 'db status', args: ['db', 'status', '--pool-max', '0'], message: /--pool-max/ },
    { command: 'db migrate', args: ['db', 'migrate', 'extra'], message: /too many arguments/ },
    { command: 'db start', args: ['db', 'start', '--bogus'], message: /unknown option '--bogus'/ },
    { command: 'db stop', args: ['db', 'stop', '--bogus'], message: /unknown option '--bogus'/ },
  ];
  // (Each is a process that exits at once: run side by side.)
  it.concurrent.each(cases)('$command: $args', async ({ command, args, message }) => {
    const r = await cars([...args, '--json'], { env: { CARS_HOME: tmp } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const s = summary(r);
    expect(s).toMatchObject({ command, status: 'failed', exit_code: 2, error: { code: 'USAGE' } });
    expect(s.error.message).toMatch(message);
    expect(r.stderr).toMatch(message); // the human still reads it on stderr
  });

  it('without --json, stdout stays empty and generate still writes CSV', async () => {
    const bad = await cars(['search', '--limit', '5000'], { env: { CARS_HOME: tmp } });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    const gen = await cars(['generate', '2']);
    expect(gen.code).toBe(0);
    expect(gen.stdout.split('\n')[0]).toMatch(/^vin,brand,model/);
  });

  it('--help with --json goes to stderr; stdout has the one object', async () => {
    const r = await cars(['import', '--help', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Usage: cars import/);
    expect(summary(r)).toMatchObject({ command: 'import', status: 'ok', exit_code: 0 });
  });
});

describe('every row rejected', () => {
  const HEADER = 'vin,brand,model,year,price,mileage,condition,color,listed_at';
  // A trailing ",,," on the data lines only: every record has three fields too many.
  const lines = Array.from({ length: 5 }, (_, i) => `WVWZZZ1KZAW00000${i},Volkswagen,Golf,2019,${10_000 + i},84000,available,Grey,2024-03-01,,,`);

  it('exits 3 ALL_REJECTED naming the rejects file and the first error; nothing is written', async () => {
    const file = path.join(tmp, 'trailing-commas.csv');
    fs.writeFileSync(file, [HEADER, ...lines].join('\n') + '\n');
    const rejects = path.join(tmp, 'trailing.rejects.csv');
    const r = await cars(['import', file, '--json', '--rejects', rejects], { env: { DATABASE_URL: url, CARS_HOME: tmp } });
    expect(r.code, r.stderr).toBe(3);
    const s = summary(r);
    expect(s.status).toBe('threshold');
    expect(s.rows).toMatchObject({ read: 5, rejected: 5, inserted: 0 });
    expectBalanced(s.rows);
    expect(s.error.code).toBe('ALL_REJECTED');
    expect(s.error.message).toContain(rejects);
    expect(s.error.message).toMatch(/the first: line 2: wrong number of fields: expected 9, got 12/);
    expect(r.stderr).toMatch(/all 5 rows were rejected/);
    expect(readCsv(rejects)).toHaveLength(5);
    const sql = connect(url);
    try {
      const [run] = await sql`select status, error from runs where id = ${s.run_id}`;
      expect(run).toEqual({ status: 'threshold', error: s.error.message });
      expect((await sql`select count(*)::int as n from cars`)[0].n).toBe(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('one good row among them is an ordinary run (exit 0)', async () => {
    const file = path.join(tmp, 'one-good.csv');
    const good = 'WVWZZZ1KZAW000009,Volkswagen,Golf,2019,9000,84000,available,Grey,2024-03-01';
    fs.writeFileSync(file, [HEADER, ...lines, good].join('\n') + '\n');
    const r = await cars(['import', file, '--json', '--rejects', path.join(tmp, 'one-good.rejects.csv')], { env: { DATABASE_URL: url, CARS_HOME: tmp } });
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).rows).toMatchObject({ read: 6, rejected: 5, inserted: 1 });
  });

  it('a price feed whose every row is rejected exits 3 ALL_REJECTED too', async () => {
    const feed = path.join(tmp, 'bad-feed.csv');
    fs.writeFileSync(feed, 'vin,price\nnot-a-vin,100\nWVWZZZ1KZAW000001,$12\n');
    const r = await cars(['sync-prices', '--feed', feed, '--json', '--max-failure-rate', '100', '--rejects', path.join(tmp, 'bad-feed.rejects.csv')], {
      env: { DATABASE_URL: url, CARS_HOME: tmp },
    });
    expect(r.code, r.stderr).toBe(3);
    const s = summary(r);
    expect(s.error.code).toBe('ALL_REJECTED');
    expect(s.error.message).toMatch(/all 2 rows were rejected.*the first: line 2: /);
  });
});

describe('output targets and the runs row', () => {
  const good = path.join('fixtures', 'cars.csv');

  it.each([
    { option: '--metrics-file', target: () => path.join(tmp, 'no-such-folder', 'cars.prom'), why: /the folder .*no-such-folder does not exist/ },
    { option: '--metrics-file', target: () => tmp, why: /is a folder; name a file in it/ },
    { option: '--rejects', target: () => path.join(tmp, 'missing', 'r.csv'), why: /the folder .*missing does not exist/ },
  ])('$option naming a bad target is refused before any row is written (exit 2)', async ({ option, target, why }) => {
    const sql = connect(url);
    try {
      const runsBefore = (await sql`select count(*)::int as n from runs`.catch(() => [{ n: 0 }]))[0].n;
      const carsBefore = (await sql`select count(*)::int as n from cars`.catch(() => [{ n: 0 }]))[0].n;
      const r = await cars(['import', good, '--json', option, target()], { env: { DATABASE_URL: url, CARS_HOME: tmp } });
      expect(r.code, r.stderr).toBe(2);
      const s = summary(r);
      expect(s).toMatchObject({ command: 'import', status: 'failed', exit_code: 2, error: { code: 'OUTPUT_UNWRITABLE' } });
      expect(s.error.message).toContain(option);
      expect(s.error.message).toMatch(why);
      expect((await sql`select count(*)::int as n from runs`.catch(() => [{ n: 0 }]))[0].n).toBe(runsBefore);
      expect((await sql`select count(*)::int as n from cars`.catch(() => [{ n: 0 }]))[0].n).toBe(carsBefore);
      expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('sync-prices --failures in a missing folder is refused before the lock or any fetch', async () => {
    const r = await cars(['sync-prices', '--api', 'http://127.0.0.1:9', '--json', '--failures', path.join(tmp, 'nope', 'f.csv')], { env: { DATABASE_URL: url, CARS_HOME: tmp } });
    expect(r.code).toBe(2);
    expect(summary(r).error).toMatchObject({ code: 'OUTPUT_UNWRITABLE', message: expect.stringMatching(/--failures .*nope.* does not exist/) });
  });

  it('a message holding a NUL byte (binary input) still finalizes the run', async () => {
    const file = path.join(tmp, 'binary.csv');
    fs.writeFileSync(file, Buffer.from([0x76, 0x00, 0x69, 0x6e, 0x00, 0x01, 0x2c, 0x7f, 0x0a, 0x00, 0x00, 0x0a]));
    const r = await cars(['import', file, '--json'], { env: { DATABASE_URL: url, CARS_HOME: tmp } });
    expect(r.code, r.stderr).toBe(2);
    const s = summary(r);
    // Refused as not text, and the message carries no raw NUL...
    expect(s.error.code).toBe('INPUT_NOT_TEXT');
    expect(s.error.message).not.toContain('\0');
    expect(r.stderr).not.toMatch(/could not record/);
    const sql = connect(url);
    try {
      const [run] = await sql`select status, finished_at, error, summary from runs where id = ${s.run_id}`;
      expect(run.status).toBe('failed');
      expect(run.finished_at).toBeInstanceOf(Date);
      expect(run.error).toBe(s.error.message);
      expect(run.summary.error.message).toBe(run.error);
      // ...and a message that does hold one still finalizes the row, the NUL stored as ␀.
      const id = await startRun(sql as never, 'import', 'nul\0source');
      const message = 'a message with a \0 in it';
      await finishRun(sql as never, id, { ...s, run_id: id, error: { code: 'INTERNAL', message } });
      const [row] = await sql`select status, error, source, summary from runs where id = ${id}`;
      expect(row).toMatchObject({ status: 'failed', error: 'a message with a \u2400 in it', source: 'nul\u2400source' });
      expect(row.summary.error.message).toBe(row.error);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe('a metrics file that cannot be written at the end', () => {
  it('the exit, the JSON and the runs row agree (exit 2), and no temp file is left', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'metrics-'));
    const target = path.join(dir, 'cars.prom');
    const input = path.join(tmp, 'many.csv');
    fs.writeFileSync(input, (await cars(['generate', '40000', '--seed', '3'])).stdout);
    const sql = connect(url);
    try {
      const r = await cars(['import', input, '--json', '--metrics-file', target], {
        env: { DATABASE_URL: url, CARS_HOME: tmp },
        onSpawn: () => {
          // Once the run is under way (checked and started), a folder takes the file's name.
          const t = setInterval(async () => {
            const [running] = await sql`select 1 from runs where status = 'running' and source = ${input}`.catch(() => []);
            if (!running) return;
            clearInterval(t);
            fs.mkdirSync(target);
            fs.writeFileSync(path.join(target, 'keep'), '');
          }, 20);
        },
      });
      expect(r.code, r.stderr).toBe(2);
      const s = summary(r);
      expect(s.status).toBe('failed');
      expect(s.error.code).toBe('OUTPUT_UNWRITABLE');
      expect(s.error.message).toMatch(/could not write --metrics-file .*cars\.prom/);
      expect(s.rows.inserted).toBeGreaterThan(0); // the work itself was done and committed
      const [run] = await sql`select status, error from runs where id = ${s.run_id}`;
      expect(run).toEqual({ status: 'failed', error: s.error.message });
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(r.stderr).toMatch(/cars: error: could not write --metrics-file/);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});
