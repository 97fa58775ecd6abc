// cars import under faults: SIGINT, a killed connection, a server that goes away (real binary, real PostgreSQL 18).
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cars, tempDir } from '../support/cli.js';
import { connect, freshDatabase, servers } from '../support/db.js';
import { carCount, expectBalanced, summary } from '../support/import-helpers.js';

const tmp = tempDir('cars-import-faults-');
const ROWS = 60_000;
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));


describe('import faults (pg18)', () => {
  const server = servers()[0];
  let big: string;
  beforeAll(async () => {
    big = path.join(tmp, 'big.csv');
    const gen = await cars(['generate', String(ROWS), '--seed', '21']);
    fs.writeFileSync(big, gen.stdout);
  });

  it('SIGINT mid-import finishes the batch in flight, reports, exits 130; running again finishes the job', async () => {
    const db = await freshDatabase(server);
    const sql = connect(db.url);
    try {
      const env = { DATABASE_URL: db.url, CARS_HOME: tmp };
      const r = await cars(['import', big, '--json', '--batch-size', '1000'], {
        env,
        onSpawn: (child) => {
          const t = setInterval(async () => {
            const n = await carCount(sql);
            if (n > 0) {
              clearInterval(t);
              child.kill('SIGINT');
            }
          }, 50);
        },
      });
      expect(r.code).toBe(130);
      const s = summary(r);
      expect(s.status).toBe('interrupted');
      expect(s.rows.read).toBeLessThan(ROWS);
      expectBalanced(s.rows);
      const [{ n }] = await sql`select count(*)::int as n from cars`;
      expect(n).toBe(s.rows.inserted); // what it says it committed is there, nothing more
      const again = summary(await cars(['import', big, '--json'], { env }));
      expect(again.rows.inserted).toBe(ROWS - n);
      expect(again.rows.unchanged).toBe(n);
      expect((await sql`select count(*)::int as n from cars`)[0].n).toBe(ROWS);
    } finally {
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  }, 120_000);

  it('a killed connection is retried once on a new one and the import completes exactly', async () => {
    const db = await freshDatabase(server);
    const sql = connect(db.url);
    try {
      const name = new URL(db.url).pathname.slice(1);
      let killed = 0;
      // (Short timeouts bound a wait for a connection that postgres.js 3.4.9 can leave pending.)
      const r = await cars(['import', big, '--json', '--batch-size', '1000', '--statement-timeout', '5000', '--connect-timeout', '5'], {
        env: { DATABASE_URL: db.url, CARS_HOME: tmp },
        onSpawn: () => {
          // Until one is caught at work: between two batches every writer may be idle for a moment.
          let busy = false;
          const t = setInterval(async () => {
            if (busy || killed > 0) return;
            busy = true;
            const n = await carCount(sql);
            if (n > ROWS / 5 && n < ROWS) {
              const k = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${name} and application_name = 'cars' and state <> 'idle'`;
              if (k.length) {
                killed = k.length;
                clearInterval(t);
              }
            }
            if (n >= ROWS) clearInterval(t);
            busy = false;
          }, 20);
        },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(killed).toBeGreaterThan(0);
      expect(r.stderr).toMatch(/connection lost.*retrying the batch once/);
      const s = summary(r);
      expect(s.rows.read).toBe(ROWS);
      expectBalanced(s.rows);
      expect((await sql`select count(*)::int as n from cars`)[0].n).toBe(ROWS);
    } finally {
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  }, 120_000);

  it('a server that stays away ends the run with exit 5 and the number of rows committed', async () => {
    const db = await freshDatabase(server);
    const sql = connect(db.url);
    const target = new URL(db.url);
    // A TCP proxy in front of the server, which the test pulls away mid-import.
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((c) => {
      const up = net.connect(Number(target.port), target.hostname);
      sockets.add(c).add(up);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const via = new URL(db.url);
    via.port = String((proxy.address() as net.AddressInfo).port);
    try {
      const r = await cars(['import', big, '--json', '--batch-size', '1000'], {
        env: { DATABASE_URL: via.toString(), CARS_HOME: tmp },
        onSpawn: () => {
          const t = setInterval(async () => {
            const n = await carCount(sql);
            if (n > ROWS / 10) {
              clearInterval(t);
              proxy.close();
              for (const s of sockets) s.destroy();
            }
          }, 50);
        },
      });
      expect(r.code, r.stderr).toBe(5);
      // A batch whose COMMIT was in flight as the connection dropped is named as in doubt.
      const said = /(\d+) rows were committed before it(?: \(and (\d+) more rows were being committed as their connection dropped: they may have been committed too\))?; run the same command again/.exec(r.stderr);
      expect(said, r.stderr).not.toBeNull();
      expect(r.stderr).not.toContain(target.password);
      const committed = Number(said![1]);
      const inDoubt = Number(said![2] ?? 0);
      const [{ n }] = await sql`select count(*)::int as n from cars`;
      expect([committed, committed + inDoubt]).toContain(n);
    } finally {
      proxy.close();
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  }, 120_000);

  it('connections killed again and again: exit 5, and "N rows were committed" is what the table holds', async () => {
    const db = await freshDatabase(server);
    const sql = connect(db.url);
    try {
      const name = new URL(db.url).pathname.slice(1);
      let killing: NodeJS.Timeout | undefined;
      let kills = 0;
      // (Short timeouts: postgres.js 3.4.9 can leave a request for a connection waiting after its
      // connections were killed, and the importer bounds that wait by them.)
      const r = await cars(['import', big, '--json', '--batch-size', '500', '--workers', '4', '--statement-timeout', '5000', '--connect-timeout', '5'], {
        env: { DATABASE_URL: db.url, CARS_HOME: tmp },
        onSpawn: (child) => {
          const t = setInterval(async () => {
            if ((await carCount(sql)) <= ROWS / 5) return;
            clearInterval(t);
            // For 1.5 s every batch in flight is killed, retries too, while other writers'
            // batches commit: the count in the message must wait for all of them.
            killing = setInterval(async () => {
              const k = await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and application_name = 'cars' and state <> 'idle'`.catch(() => []);
              kills += k.length;
            }, 10);
            setTimeout(() => clearInterval(killing), 1500);
          }, 25);
        },
      });
      clearInterval(killing);
      expect(kills).toBeGreaterThan(1);
      expect(r.code, r.stderr).toBe(5);
      const s = summary(r);
      expect(s.error.code).toBe('DB_UNAVAILABLE');
      const m = /: (\d+) rows were committed before it( \(and (\d+) more rows were being committed)?/.exec(s.error.message);
      expect(m, s.error.message).not.toBeNull();
      const committed = Number(m![1]);
      const [{ n }] = await sql`select count(*)::int as n from cars`;
      // A batch whose COMMIT was on its way when its connection was killed is named as such.
      if (m![3]) expect([committed, committed + Number(m![3])]).toContain(n);
      else expect(n).toBe(committed);
      expect(committed).toBeGreaterThan(0);
    } finally {
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  }, 120_000);

  describe('another session writing the same cars mid-batch', () => {
    const HEADER = 'vin,brand,model,year,price,mileage,condition,color,listed_at';
    const line = (i: number, price: number) => `WVWZZZ1KZAW${String(i).padStart(6, '0')},Volkswagen,Golf,2019,${price},84000,available,Grey,2024-03-01`;
    const file = (name: string, rows: string[]) => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, [HEADER, ...rows].join('\n') + '\n');
      return f;
    };

    /** Waits until the importer's connection waits for a lock another session holds. */
    async function importerWaitsForLock(sql: ReturnType<typeof connect>, db: string): Promise<void> {
      for (let i = 0; i < 400; i++) {
        const w = await sql`select 1 from pg_stat_activity where datname = ${db} and application_name = 'cars' and wait_event_type = 'Lock'`;
        if (w.length) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('the importer never waited for the lock');
    }

    /** A fresh database, a connection to check it and another session's connection; all gone afterwards. */
    async function withOtherSession(body: (t: { sql: ReturnType<typeof connect>; other: ReturnType<typeof connect>; name: string; env: Record<string, string> }) => Promise<void>): Promise<void> {
      const db = await freshDatabase(server);
      const sql = connect(db.url);
      const other = connect(db.url);
      try {
        await body({ sql, other, name: new URL(db.url).pathname.slice(1), env: { DATABASE_URL: db.url, CARS_HOME: tmp } });
      } finally {
        await other.end({ timeout: 5 });
        await sql.end({ timeout: 5 });
        await db.drop();
      }
    }

    it('a car updated meanwhile is merged again and ends with the file\'s values', async () => {
      await withOtherSession(async ({ sql, other, name, env }) => {
        const first = Array.from({ length: 20 }, (_, i) => line(i, 10_000 + i));
        expect((await cars(['import', file('before.csv', first), '--quiet'], { env })).code).toBe(0);
        const vin = 'WVWZZZ1KZAW000007';
        // The other session updates a car the file changes too, and holds its row lock.
        const tx = await other.reserve();
        await tx`begin`;
        await tx`update cars set color = 'Changed meanwhile', price = 1 where vin = ${vin}`;
        const run = cars(['import', file('after.csv', Array.from({ length: 20 }, (_, i) => line(i, 20_000 + i))), '--json'], { env });
        await importerWaitsForLock(sql, name);
        await tx`commit`;
        tx.release();
        const r = await run;
        expect(r.code, r.stderr).toBe(0);
        const s = summary(r);
        expect(s.rows).toMatchObject({ read: 20, inserted: 0, updated: 20, unchanged: 0 });
        expectBalanced(s.rows);
        const [car] = await sql`select price::text, color from cars where vin = ${vin}`;
        expect(car).toEqual({ price: '20007.00', color: 'Grey' });
        expect((await sql`select count(*)::int as n from cars where price::int >= 20000`)[0].n).toBe(20);
      });
    }, 60_000);

    it('a row lock held past a 1 s statement timeout: the batch is retried whole, nothing is rejected', async () => {
      await withOtherSession(async ({ sql, other, name, env }) => {
        const first = Array.from({ length: 20 }, (_, i) => line(i, 10_000 + i));
        expect((await cars(['import', file('locked-before.csv', first), '--quiet'], { env })).code).toBe(0);
        const vin = 'WVWZZZ1KZAW000011';
        const tx = await other.reserve();
        await tx`begin`;
        await tx`select 1 from cars where vin = ${vin} for update`;
        const run = cars(['import', file('locked-after.csv', Array.from({ length: 20 }, (_, i) => line(i, 20_000 + i))), '--json', '--statement-timeout', '1000'], { env });
        await importerWaitsForLock(sql, name);
        // Three timeouts' worth: the batch fails, waits and fails again before the lock goes.
        await new Promise((r) => setTimeout(r, 3000));
        await tx`rollback`;
        tx.release();
        const r = await run;
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/57014: canceling statement due to statement timeout; retrying it whole in \d+ ms/);
        const s = summary(r);
        expect(s.rows).toMatchObject({ read: 20, updated: 20, rejected: 0 });
        expect(s.rejects_file).toBeNull();
        expect((await sql`select price::text from cars where vin = ${vin}`)[0].price).toBe('20011.00');
      });
    }, 60_000);

    it('a lock held for longer than --db-retry-wait: exit 5 with the exact count committed, no rejects', async () => {
      await withOtherSession(async ({ sql, other, env }) => {
        expect((await cars(['db', 'migrate', '--quiet'], { env })).code).toBe(0);
        // The other session inserts a car of the third batch and keeps its transaction open.
        const vin = 'WVWZZZ1KZAW000012';
        const tx = await other.reserve();
        await tx`begin`;
        await tx`insert into cars (vin, brand, model, year, price) values (${vin}, 'Other', 'Car', 2001, 1)`;
        try {
          const rows = Array.from({ length: 20 }, (_, i) => line(i, 30_000 + i));
          const args = ['--json', '--workers', '1', '--batch-size', '5', '--statement-timeout', '500', '--db-retry-wait', '2000'];
          const r = await cars(['import', file('held.csv', rows), ...args], { env });
          expect(r.code, r.stderr).toBe(5);
          const s = summary(r);
          expect(s.error.code).toBe('DB_BUSY');
          expect(s.error.message).toMatch(/kept failing a batch of 5 rows from line 12 with transient errors .*57014.*: 10 rows were committed before it; run the same command again/);
          expect(s.rows.rejected).toBe(0);
          expect((await sql`select count(*)::int as n from cars`)[0].n).toBe(10);
          const [run] = await sql`select status, error from runs where id = ${s.run_id}`;
          expect(run).toEqual({ status: 'failed', error: s.error.message });
        } finally {
          await tx`rollback`;
          tx.release();
        }
      });
    }, 60_000);

    // The second case: one writer, batches of 5; the first batch is all new, so the second (with
    // the other session's car) is inserted without a look-up, fails on it, and is merged.
    it.each([
      { what: 'a new car inserted meanwhile by another session is updated, not refused', args: [] as string[], at: 3, firstBatch: 0 },
      { what: 'the same in a batch expected to be all new (inserted without a look-up)', args: ['--workers', '1', '--batch-size', '5'], at: 7, firstBatch: 5 },
    ])('$what', async ({ args, at, firstBatch }) => {
      await withOtherSession(async ({ sql, other, name, env }) => {
        expect((await cars(['db', 'migrate', '--quiet'], { env })).code).toBe(0);
        const vin = `WVWZZZ1KZAW00000${at}`;
        // The other session inserts a car that the file brings as new, and has not committed yet.
        const tx = await other.reserve();
        await tx`begin`;
        await tx`insert into cars (vin, brand, model, year, price) values (${vin}, 'Other', 'Car', 2001, 1)`;
        const run = cars(['import', file(`new-${at}.csv`, Array.from({ length: 10 }, (_, i) => line(i, 30_000 + i))), '--json', ...args], { env });
        await importerWaitsForLock(sql, name);
        // (With two writers, whether the other writer's batch is in yet is a race.)
        if (firstBatch) expect((await sql`select count(*)::int as n from cars`)[0].n).toBe(firstBatch);
        await tx`commit`;
        tx.release();
        const r = await run;
        expect(r.code, r.stderr).toBe(0);
        const s = summary(r);
        expect(s.rows).toMatchObject({ read: 10, inserted: 9, updated: 1, rejected: 0 });
        expectBalanced(s.rows);
        const [car] = await sql`select brand, price::text from cars where vin = ${vin}`;
        expect(car).toEqual({ brand: 'Volkswagen', price: `${30_000 + at}.00` });
        expect((await sql`select count(*)::int as n from cars`)[0].n).toBe(10);
      });
    }, 60_000);
  });
});
