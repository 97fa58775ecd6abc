// cars import through the real binary, against a real PostgreSQL (18, and 15 when it answers).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, ROOT, tempDir } from '../support/cli.js';
import { type Server, servers, useFreshDatabase } from '../support/db.js';
import { expectBalanced, readCsv, summary } from '../support/import-helpers.js';

const fixture = (f: string) => path.join(ROOT, 'fixtures', f);
const tmp = tempDir('cars-import-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));


describe.each(servers())('import on $name', (server: Server) => {
  const db = useFreshDatabase(server);
  const run = (args: string[], input?: string | Buffer) => cars(args, { env: { DATABASE_URL: db.url, CARS_HOME: tmp }, input });

  it('loads the quickstart file, rejects its 7 bad rows with line and reason, and re-imports as unchanged', async () => {
    const rejects = path.join(tmp, `${server.name}-cars-rejects.csv`);
    const r = await run(['import', fixture('cars.csv'), '--json', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toEqual({ read: 1007, inserted: 1000, updated: 0, unchanged: 0, rejected: 7, superseded: 0 });
    expect(s.status).toBe('ok');
    expect(s.rejects_file).toBe(rejects);
    const rej = readCsv(rejects);
    expect(rej.map((x) => Number(x.line))).toEqual([58, 201, 347, 502, 655, 811, 964]);
    expect(rej[3].error).toMatch(/currency sign/);
    expect(rej[3].price).toBe('$13,950'); // the original value, as written
    expect(Number((await db.sql`select count(*) from cars`)[0].count)).toBe(1000);
    const again = summary(await run(['import', fixture('cars.csv'), '--json', '--rejects', rejects + '.2']));
    expect(again.rows).toMatchObject({ read: 1007, inserted: 0, updated: 0, unchanged: 1000, rejected: 7 });
    // A run row records each import.
    const [runRow] = await db.sql`select command, status, counts, peak_rss_mb from runs where id = ${again.run_id}`;
    expect(runRow).toMatchObject({ command: 'import', status: 'ok' });
    expect(runRow.counts.unchanged).toBe(1000);
    expect(Number(runRow.peak_rss_mb)).toBeGreaterThan(0);
  });

  it('the rejects file imports again as it is, and once fixed loads', async () => {
    const rejects = path.join(tmp, `${server.name}-bad-values-rejects.csv`);
    const first = summary(await run(['import', fixture('quirks/bad-values.csv'), '--json', '--rejects', rejects]));
    expect(first.rows).toMatchObject({ read: 10, rejected: 8 });
    // As it is: the same 8 rejects, no complaint about its extra columns (every row rejected: exit 3).
    const again = await run(['import', rejects, '--json', '--rejects', rejects + '.again']);
    expect(again.code).toBe(3);
    expect(summary(again).error.code).toBe('ALL_REJECTED');
    expect(again.stderr).not.toMatch(/ignoring column/);
    expect(summary(again).rows).toMatchObject({ read: 8, rejected: 8, inserted: 0 });
    // Fixed: the operator corrects the year on the 1700 row.
    const rows = readCsv(rejects);
    const text = fs.readFileSync(rejects, 'utf8').replace(/,1700,/, ',2001,');
    const fixed = path.join(tmp, `${server.name}-fixed.csv`);
    fs.writeFileSync(fixed, text);
    const third = summary(await run(['import', fixed, '--json', '--rejects', fixed + '.rej']));
    expect(third.rows).toMatchObject({ read: 8, inserted: 1, rejected: 7 });
    const vin1700 = rows.find((x) => x.year === '1700')!.vin.toUpperCase();
    expect((await db.sql`select year from cars where vin = ${vin1700}`)[0].year).toBe(2001);
  });

  it.each([
    ['quirks/bom-crlf.csv', [], { read: 5, inserted: 5, rejected: 0 }],
    ['quirks/semicolon.csv', ['--delimiter', ';'], { read: 5, inserted: 5, rejected: 0 }],
    ['quirks/tab.tsv', [], { read: 5, inserted: 5, rejected: 0 }],
    ['quirks/reordered.csv', [], { read: 5, inserted: 5, rejected: 0 }],
    ['quirks/quoted.csv', [], { read: 6, inserted: 6, rejected: 0 }],
    ['quirks/malformed.csv', [], { read: 10, inserted: 7, rejected: 3 }],
    ['quirks/malformed.csv', ['--strict-quotes'], { read: 10, inserted: 0, unchanged: 6, rejected: 4 }], // (after the line above)
    ['quirks/duplicates.csv', [], { read: 5, inserted: 3, superseded: 2, rejected: 0 }],
    ['quirks/sql-text.csv', [], { read: 3, inserted: 3, rejected: 0 }],
  ] as Array<[string, string[], Record<string, number>]>)('%s %j', async (file, args, expected) => {
    const rejects = path.join(tmp, `${server.name}-${path.basename(file)}${args.join("")}.rej.csv`);
    const r = await run(['import', fixture(file), '--json', '--rejects', rejects, ...args]);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toMatchObject(expected);
    expectBalanced(s.rows);
    if (file.endsWith('reordered.csv')) expect(r.stderr).toMatch(/ignoring column dealer_note/);
    if (file.endsWith('malformed.csv')) {
      const rej = readCsv(rejects);
      // Line 8's inch mark (Civic 17" alloys) is a character, unless the quotes are strict.
      const strict = args.includes('--strict-quotes');
      expect(rej.map((x) => Number(x.line))).toEqual(strict ? [4, 6, 8, 9] : [4, 6, 9]);
      expect(rej[1].error).toMatch(/malformed CSV/);
      expect(rej[1].raw).toBe(fs.readFileSync(fixture(file), 'utf8').split('\n')[5]); // physical line 6, as written
      // Line 7, right after the unclosed quote, was not swallowed.
      expect(strict ? s.rows.unchanged : s.rows.inserted).toBe(strict ? 6 : 7);
      if (!strict) expect((await db.sql`select model from cars where vin = '1HGXHEUX0N10NZJD4'`)[0].model).toBe('Civic 17" alloys');
    }
  });

  it('keeps the later row of a VIN, and stores SQL-looking text and COPY escapes verbatim', async () => {
    const [car] = await db.sql`select price::text, mileage from cars where vin = 'WAUKAD6T1F04FPWX4'`;
    expect(car).toEqual({ price: '23456.78', mileage: 41350 });
    const models = (await db.sql`select model from cars where model like '%DROP TABLE%' or model like '%DELETE FROM%' order by model`).map((r) => r.model);
    expect(models).toEqual(["'; DROP TABLE cars; --", "Robert'); DROP TABLE cars;--", 'Robert"); DELETE FROM cars;--'].sort());
    const wanted = ['\\N', 'C:\\temp', 'C:\\new\\table\\N'];
    const colors = (await db.sql`select color from cars where color = any(${wanted}) order by color`).map((r) => r.color);
    expect(colors.sort()).toEqual([...wanted].sort());
    const quoted = await db.sql`select color from cars where model = ${'Model 3\nLong Range'}`;
    expect(quoted).toHaveLength(1);
    expect(quoted[0].color).toBeNull();
  });

  it('after batches that changed nothing, a batch that changes cars is still written and counted', async () => {
    // Writers send COMMIT right behind the merge once their last batch changed nothing: the first
    // changed batch after unchanged ones must still land, with its counts.
    const vin = (i: number) => `1HGCM8263${String(i).padStart(8, '0')}`;
    const rowsOf = (bump: (i: number) => number) => ['vin,brand,model,year,price', ...Array.from({ length: 2000 }, (_, i) => `${vin(i)},Honda,Accord,2015,${10_000 + i + bump(i)}`)].join('\n') + '\n';
    const before = path.join(tmp, `${server.name}-mixed-before.csv`);
    const after = path.join(tmp, `${server.name}-mixed-after.csv`);
    fs.writeFileSync(before, rowsOf(() => 0));
    fs.writeFileSync(after, rowsOf((i) => (i >= 1000 ? 1 : 0))); // the second half of the file changes
    expect((await run(['import', before, '--quiet'])).code).toBe(0);
    const r = await run(['import', after, '--json', '--batch-size', '100']);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toMatchObject({ read: 2000, inserted: 0, updated: 1000, unchanged: 1000, rejected: 0 });
    expectBalanced(s.rows);
    const prices = await db.sql`select vin, price::int as price from cars where vin like '1HGCM8263%' order by vin`;
    expect(prices).toHaveLength(2000);
    expect(prices.every((c, i) => c.price === 10_000 + i + (i >= 1000 ? 1 : 0))).toBe(true);
  });

  it('after batches of only new cars, a batch with listed cars in it is merged, not refused', async () => {
    // Writers insert without looking cars up once their last batch was all new: a batch with cars
    // that exist after all fails as a whole and is merged instead, with its counts right.
    const vin = (i: number) => `2HGCM8263${String(i).padStart(8, '0')}`;
    const line = (i: number, price: number) => `${vin(i)},Honda,Civic,2016,${price}`;
    const listed = path.join(tmp, `${server.name}-new-listed.csv`);
    const mixed = path.join(tmp, `${server.name}-new-mixed.csv`);
    fs.writeFileSync(listed, ['vin,brand,model,year,price', ...Array.from({ length: 100 }, (_, i) => line(10_000 + i, 5000))].join('\n') + '\n');
    // 2,000 new cars, then 50 listed ones (half with a new price) among 50 new, then new again.
    const rows = Array.from({ length: 2000 }, (_, i) => line(i, 7000));
    for (let i = 0; i < 50; i++) rows.push(line(10_000 + i, i % 2 ? 5000 : 6000), line(20_000 + i, 7000));
    for (let i = 0; i < 500; i++) rows.push(line(30_000 + i, 7000));
    fs.writeFileSync(mixed, ['vin,brand,model,year,price', ...rows].join('\n') + '\n');
    expect((await run(['import', listed, '--quiet'])).code).toBe(0);
    const r = await run(['import', mixed, '--json', '--batch-size', '100']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const s = summary(r);
    expect(s.rows).toMatchObject({ read: 2600, inserted: 2550, updated: 25, unchanged: 25, rejected: 0 });
    expectBalanced(s.rows);
    const [c] = await db.sql`select count(*)::int as n, count(*) filter (where price = 6000)::int as repriced from cars where vin like '2HGCM8263%'`;
    expect(c).toEqual({ n: 2650, repriced: 25 });
  });

  it('a missing required column stops with exit 2 before anything is written', async () => {
    const before = Number((await db.sql`select count(*) from cars`)[0].count);
    const r = await run(['import', fixture('quirks/missing-column.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing-column\.csv: line 1: missing required column price/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(Number((await db.sql`select count(*) from cars`)[0].count)).toBe(before);
  });

  it('reads gzip files and stdin', async () => {
    const gz = path.join(tmp, `${server.name}-gen.csv.gz`);
    const gen = await cars(['generate', '3000', '--seed', '11']);
    fs.writeFileSync(gz, zlib.gzipSync(gen.stdout));
    const a = summary(await run(['import', gz, '--json']));
    expect(a.rows).toMatchObject({ read: 3000, inserted: 3000 });
    const b = summary(await run(['import', '-', '--json'], gen.stdout));
    expect(b.rows).toMatchObject({ read: 3000, unchanged: 3000 });
    expect(b.source).toBe('-');
  });

  it('--dry-run validates everything and writes nothing', async () => {
    const before = await db.sql`select count(*)::int as cars, (select count(*)::int from runs) as runs from cars`;
    const gen = await cars(['generate', '500', '--seed', '12', '--bad-rate', '0.1']);
    const r = await run(['import', '-', '--dry-run', '--json', '--rejects', path.join(tmp, `${server.name}-dry.csv`)], gen.stdout);
    expect(r.code).toBe(0);
    const s = summary(r);
    expect(s.rows.read).toBe(500);
    expect(s.rows.valid + s.rows.rejected).toBe(500);
    expect(s.rows.rejected).toBeGreaterThan(20);
    expect(s.rows.inserted).toBe(0);
    const after = await db.sql`select count(*)::int as cars, (select count(*)::int from runs) as runs from cars`;
    expect(after).toEqual(before);
  });

  it('--max-rejects stops with exit 3 and a threshold status', async () => {
    const gen = await cars(['generate', '2000', '--seed', '13', '--bad-rate', '0.2']);
    const r = await run(['import', '-', '--max-rejects', '10', '--json', '--batch-size', '100', '--rejects', path.join(tmp, `${server.name}-max.csv`)], gen.stdout);
    expect(r.code).toBe(3);
    const s = summary(r);
    expect(s.status).toBe('threshold');
    expect(s.rows.rejected).toBeGreaterThan(10);
    expect(s.rows.read).toBeLessThan(2000);
    expectBalanced(s.rows);
    expect(r.stderr).toMatch(/--max-rejects 10/);
  });

  it('isolates the rows the database refuses and still loads the rest of the batch', async () => {
    await db.sql`alter table cars add constraint test_no_refused check (model <> 'Refused')`;
    try {
      const gen = (await cars(['generate', '300', '--seed', '14'])).stdout.split('\n');
      // Rows 10, 150 and 290 get a model the validator accepts and the table refuses.
      const lines = gen.map((l, i) => ([10, 150, 290].includes(i) ? l.replace(/^([^,]+),([^,]+),("[^"]*"|[^,]*),/, '$1,$2,Refused,') : l));
      const rejects = path.join(tmp, `${server.name}-refused.csv`);
      const r = await run(['import', '-', '--json', '--rejects', rejects], lines.join('\n'));
      expect(r.code, r.stderr).toBe(0);
      const s = summary(r);
      expect(s.rows).toMatchObject({ read: 300, inserted: 297, rejected: 3 });
      const rej = readCsv(rejects);
      expect(rej.map((x) => Number(x.line))).toEqual([11, 151, 291]);
      expect(rej[0].error).toMatch(/refused by the database.*test_no_refused/);
    } finally {
      await db.sql`alter table cars drop constraint test_no_refused`;
    }
  });
});
