// Every price change is in car_price_history, whatever made it: an import's merge as well as
// sync-prices (real binary, real PostgreSQL 18).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempHome } from '../support/cli.js';
import { connect, freshDatabase, servers, untilCounted } from '../support/db.js';
import { expectBalanced, summary } from '../support/import-helpers.js';

const tmp = tempHome('cars-history-');
let url: string;
let drop: () => Promise<void>;
let sql: ReturnType<typeof connect>;
beforeAll(async () => {
  ({ url, drop } = await freshDatabase(servers()[0]));
  sql = connect(url);
});
afterAll(async () => {
  await sql.end({ timeout: 5 });
  await drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const HEADER = 'vin,brand,model,year,price,mileage,condition,color,listed_at';
const vin = (i: number) => `WVWZZZ1KZAW${String(i).padStart(6, '0')}`;
const line = (i: number, price: number, color = 'Grey') => `${vin(i)},Volkswagen,Golf,2019,${price},84000,available,${color},2024-03-01`;
function file(name: string, rows: string[]): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, [HEADER, ...rows].join('\n') + '\n');
  return f;
}
const env = () => ({ DATABASE_URL: url, CARS_HOME: tmp });
async function history(runId: number) {
  return sql`select c.vin, h.old_price::text as old, h.new_price::text as new from car_price_history h join cars c on c.id = h.car_id where h.run_id = ${runId} order by c.vin, h.id`;
}

describe('price history', () => {
  const base = Array.from({ length: 20 }, (_, i) => line(i, 10_000 + i));

  it("an import's price changes are recorded with its run; other changes and new cars are not", async () => {
    const first = summary(await cars(['import', file('base.csv', base), '--json'], { env: env() }));
    expect(first.rows.inserted).toBe(20);
    expect(await history(first.run_id)).toEqual([]);

    // Cars 0-4 get a new price, car 5 a new color only, car 20 is new.
    const next = base.map((l, i) => (i < 5 ? line(i, 20_000 + i) : i === 5 ? line(5, 10_005, 'Blue') : l));
    const r = await cars(['import', file('next.csv', [...next, line(20, 5000)]), '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toMatchObject({ read: 21, inserted: 1, updated: 6, unchanged: 14 });
    expect(await history(s.run_id)).toEqual(Array.from({ length: 5 }, (_, i) => ({ vin: vin(i), old: `${10_000 + i}.00`, new: `${20_000 + i}.00` })));
  });

  it('a re-import that undoes a sync is in the history too', async () => {
    const feed = path.join(tmp, 'sync.csv');
    fs.writeFileSync(feed, `vin,price\n${vin(7)},7777\n`);
    const sync = summary(await cars(['sync-prices', '--feed', feed, '--json'], { env: env() }));
    expect(sync.rows).toMatchObject({ checked: 1, changed: 1 });
    expect(await history(sync.run_id)).toEqual([{ vin: vin(7), old: '10007.00', new: '7777.00' }]);

    const again = summary(await cars(['import', file('base-again.csv', base), '--json'], { env: env() }));
    const h = await history(again.run_id);
    expect(h).toContainEqual({ vin: vin(7), old: '7777.00', new: '10007.00' });
    expect(h).toHaveLength(6); // car 7, and cars 0-4 back to their first price (car 5's color is no price)
  });

  it('a VIN twice in one import batch: one history row, to the price that stands', async () => {
    const r = await cars(['import', file('twice.csv', [line(9, 15_000), line(3, 10_003), line(9, 16_000)]), '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toMatchObject({ read: 3, updated: 1, unchanged: 1, superseded: 1 });
    expectBalanced(s.rows);
    expect(await history(s.run_id)).toEqual([{ vin: vin(9), old: '10009.00', new: '16000.00' }]);
  });

  it('sync-prices waits out a row lock held past its statement timeout: the batch is retried whole', async () => {
    const other = connect(url);
    try {
      const tx = await other.reserve();
      await tx`begin`;
      await tx`select 1 from cars where vin = ${vin(13)} for update`;
      const feed = path.join(tmp, 'locked-feed.csv');
      fs.writeFileSync(feed, `vin,price\n${vin(13)},13131\n${vin(14)},14141\n`);
      const run = cars(['sync-prices', '--feed', feed, '--json', '--statement-timeout', '1000'], { env: env() });
      // Held until the sync's batch has waited for it past its statement timeout (once it waits:
      // a slow machine takes a while to get there).
      await untilCounted(() => other`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`, 15_000);
      await new Promise((r) => setTimeout(r, 1500));
      await tx`rollback`;
      tx.release();
      const r = await run;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/57014: canceling statement due to statement timeout; retrying it whole/);
      const s = summary(r);
      expect(s.rows).toMatchObject({ checked: 2, changed: 2, failed: 0 });
      expect((await history(s.run_id)).map((h) => h.new)).toEqual(['13131.00', '14141.00']);
    } finally {
      await other.end({ timeout: 5 });
    }
  });

  it('a price feed listing a VIN twice: the last wins, one history row, the earlier counted superseded', async () => {
    const feed = path.join(tmp, 'twice-feed.csv');
    fs.writeFileSync(feed, `vin,price\n${vin(11)},11111\n${vin(12)},10012\n${vin(11)},12222\n`);
    const r = await cars(['sync-prices', '--feed', feed, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.rows).toEqual({ checked: 3, changed: 1, unchanged: 1, unknown: 0, failed: 0, rejected: 0, superseded: 1 });
    expect(s.accounting).toMatch(/superseded 1 ✓/);
    expect(await history(s.run_id)).toEqual([{ vin: vin(11), old: '10011.00', new: '12222.00' }]);
    expect((await sql`select price::text from cars where vin = ${vin(11)}`)[0].price).toBe('12222.00');
  });

  // Migration 013 dropped the history's foreign keys (checked per row) for a trigger on cars.
  it("deleting cars deletes their price history and no other car's; TRUNCATE cars empties it", async () => {
    const ids = async (v: string) => (await sql`select h.id from car_price_history h join cars c on c.id = h.car_id where c.vin = ${v}`).length;
    expect(await ids(vin(11))).toBeGreaterThan(0);
    expect(await ids(vin(0))).toBeGreaterThan(0);
    const before = Number((await sql`select count(*) from car_price_history`)[0].count);
    const gone = Number((await sql`select count(*) from car_price_history h join cars c on c.id = h.car_id where c.vin in (${vin(11)}, ${vin(12)})`)[0].count);
    await sql`delete from cars where vin in (${vin(11)}, ${vin(12)})`;
    expect(Number((await sql`select count(*) from car_price_history`)[0].count)).toBe(before - gone);
    expect(Number((await sql`select count(*) from car_price_history h where not exists (select 1 from cars c where c.id = h.car_id)`)[0].count)).toBe(0);
    expect(await ids(vin(0))).toBeGreaterThan(0);
    await sql`truncate cars cascade`;
    expect(Number((await sql`select count(*) from car_price_history`)[0].count)).toBe(0);
  });
});
