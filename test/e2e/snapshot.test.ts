// Snapshot imports through the real binary: a dealer's full export marks the cars it no longer
// lists as sold, exactly, atomically, and never from an export that looks broken.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempDir } from '../support/cli.js';
import { servers, useFreshDatabase } from '../support/db.js';
import { summary } from '../support/import-helpers.js';

const tmp = tempDir('cars-snapshot-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HEADER = 'vin,brand,model,year,price,condition\n';
const vin = (prefix: string, i: number) => `${prefix}${String(i).padStart(17 - prefix.length, '0')}`;
/** An export of `vins`, every car available unless `conditions` says otherwise. */
function exportOf(name: string, vins: string[], conditions: Record<string, string> = {}): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, HEADER + vins.map((v, i) => `${v},Skoda,Octavia,2020,${15000 + i},${conditions[v] ?? ''}\n`).join(''));
  return f;
}
const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => vin(prefix, from + i));

describe.each(servers())('snapshot imports on $name', (server) => {
  const db = useFreshDatabase(server);
  const run = (args: string[]) => cars(args, { env: { DATABASE_URL: db.url, CARS_HOME: tmp } });
  const conditionOf = async (v: string) => (await db.sql`select condition, source from cars where vin = ${v}`)[0];

  it('marks exactly the missing cars of the source sold, with history; other sources and cars without one are untouched', async () => {
    const a = range('AAA', 0, 100);
    const b = range('BBB', 0, 20);
    expect(summary(await run(['import', exportOf('a1.csv', a), '--source', 'dealer-a', '--snapshot', '--json'])).snapshot).toEqual({ source: 'dealer-a', listed: 100, missing: 0, marked_sold: 0, relisted: 0 });
    expect((await run(['import', exportOf('b1.csv', b), '--source', 'dealer-b', '--json'])).code).toBe(0);
    expect((await run(['import', exportOf('none.csv', range('NNN', 0, 5)), '--json'])).code).toBe(0);
    // dealer-a's next export: cars 0..89 (10 sold), one of them reserved now.
    const r = await run(['import', exportOf('a2.csv', a.slice(0, 90), { [a[3]]: 'reserved' }), '--source', 'dealer-a', '--snapshot', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.snapshot).toEqual({ source: 'dealer-a', listed: 90, missing: 10, marked_sold: 10, relisted: 0 });
    expect(s.rows).toMatchObject({ read: 90, updated: 1, unchanged: 89 });
    const counts = await db.sql`select source, condition, count(*)::int as n from cars group by 1, 2 order by 1, 2`;
    expect(counts).toEqual([
      { source: 'dealer-a', condition: 'available', n: 89 },
      { source: 'dealer-a', condition: 'reserved', n: 1 },
      { source: 'dealer-a', condition: 'sold', n: 10 },
      { source: 'dealer-b', condition: 'available', n: 20 },
      { source: null, condition: 'available', n: 5 },
    ]);
    const history = await db.sql`select c.vin, h.old_condition, h.new_condition, h.reason, h.run_id from car_condition_history h join cars c on c.id = h.car_id order by c.vin`;
    expect(history.map((h) => h.vin)).toEqual(a.slice(90));
    expect(history.every((h) => h.old_condition === 'available' && h.new_condition === 'sold' && h.reason === 'snapshot' && Number(h.run_id) === s.run_id)).toBe(true);
    expect(Number((await db.sql`select count(*) from snapshot_seen`)[0].count)).toBe(0); // scratch, emptied
  });

  it('a truncated export is refused with exit 3: its rows load, nothing is marked, the message says how to force it', async () => {
    const a = range('AAA', 0, 100);
    const r = await run(['import', exportOf('a-cut.csv', a.slice(0, 40)), '--source', 'dealer-a', '--snapshot', '--json']);
    expect(r.code).toBe(3);
    const s = summary(r);
    expect(s.error.code).toBe('MAX_MISSING');
    expect(s.error.message).toMatch(/would mark 50 of its 90 available and reserved cars sold \(55\.6%, more than --max-missing 20\).*--max-missing 56/);
    expect(s.snapshot).toMatchObject({ listed: 40, missing: 50, marked_sold: 0 });
    expect(Number((await db.sql`select count(*) from cars where source = 'dealer-a' and condition = 'sold'`)[0].count)).toBe(10);
    // Forced, it marks them.
    const forced = summary(await run(['import', exportOf('a-cut2.csv', a.slice(0, 40)), '--source', 'dealer-a', '--snapshot', '--max-missing', '60', '--json']));
    expect(forced.snapshot).toMatchObject({ missing: 50, marked_sold: 50 });
  });

  it('a car back in a later export takes the condition its row says and counts as relisted; a car that moved takes the new source', async () => {
    const a = range('AAA', 0, 100);
    const r = summary(await run(['import', exportOf('a-back.csv', a.slice(0, 95), { [a[92]]: 'reserved' }), '--source', 'dealer-a', '--snapshot', '--max-missing', '100', '--json']));
    expect(r.snapshot).toMatchObject({ listed: 95, relisted: 55, marked_sold: 0 });
    expect(await conditionOf(a[60])).toEqual({ condition: 'available', source: 'dealer-a' });
    expect(await conditionOf(a[92])).toEqual({ condition: 'reserved', source: 'dealer-a' });
    const [{ n }] = await db.sql`select count(*)::int as n from car_condition_history where reason = 'relisted' and run_id = ${r.run_id}`;
    expect(n).toBe(55);
    // dealer-b sells car 0 to dealer-a: it moves.
    const moved = range('BBB', 0, 1);
    expect((await run(['import', exportOf('a-moved.csv', [...a.slice(0, 95), ...moved]), '--source', 'dealer-a', '--snapshot', '--json'])).code).toBe(0);
    expect(await conditionOf(moved[0])).toEqual({ condition: 'available', source: 'dealer-a' });
  });

  it('--dry-run --snapshot says what it would mark and changes nothing', async () => {
    const d = range('DDD', 0, 30);
    expect((await run(['import', exportOf('d1.csv', d), '--source', 'dealer-d', '--snapshot'])).code).toBe(0);
    const before = await db.sql`select vin, condition, updated_at from cars where source = 'dealer-d' order by vin`;
    const r = await run(['import', exportOf('d2.csv', d.slice(0, 27)), '--source', 'dealer-d', '--snapshot', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`snapshot of dealer-d \\(dry run\\): listed 27, would mark 3 sold, e\\.g\\. ${d[27]}, ${d[28]}, ${d[29]}`));
    expect(await db.sql`select vin, condition, updated_at from cars where source = 'dealer-d' order by vin`).toEqual(before);
    expect(Number((await db.sql`select count(*) from snapshot_seen`)[0].count)).toBe(0);
  });

  it('a run that stops early marks nothing (--max-rejects), and its rerun finishes the job; --snapshot needs --source', async () => {
    const c = range('CCC', 0, 50);
    expect((await run(['import', exportOf('c1.csv', c), '--source', 'dealer-c', '--snapshot'])).code).toBe(0);
    // The next export lists cars 0..44, with three bad rows among them: over --max-rejects 1 it stops.
    const f = path.join(tmp, 'c2.csv');
    const lines = c.slice(0, 45).map((v, i) => `${v},Skoda,Octavia,${i < 3 ? '1700' : '2020'},15000,\n`);
    fs.writeFileSync(f, HEADER + lines.join(''));
    const stopped = await run(['import', f, '--source', 'dealer-c', '--snapshot', '--max-rejects', '1', '--batch-size', '2', '--json']);
    expect(stopped.code).toBe(3);
    expect(summary(stopped).snapshot.skipped).toMatch(/stopped early/);
    expect(Number((await db.sql`select count(*) from cars where source = 'dealer-c' and condition = 'sold'`)[0].count)).toBe(0);
    // The rerun reads it all: the rejected rows count as listed (not proof of a sale), 5 cars are gone.
    const again = summary(await run(['import', f, '--source', 'dealer-c', '--snapshot', '--json']));
    expect(again.rows).toMatchObject({ read: 45, rejected: 3 });
    expect(again.snapshot).toEqual({ source: 'dealer-c', listed: 45, missing: 5, marked_sold: 5, relisted: 0 });
    const usage = await run(['import', f, '--snapshot']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--snapshot needs --source NAME/);
  });
});
