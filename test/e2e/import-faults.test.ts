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
      const r = await cars(['import', big, '--json', '--batch-size', '1000'], {
        env: { DATABASE_URL: db.url, CARS_HOME: tmp },
        onSpawn: () => {
          const t = setInterval(async () => {
            const n = await carCount(sql);
            if (n > ROWS / 5) {
              clearInterval(t);
              const k = await sql`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${name} and application_name = 'cars' and state <> 'idle'`;
              killed = k.length;
            }
          }, 50);
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
      expect(r.stderr).toMatch(/(\d+) rows were committed before it; run the same command again/);
      expect(r.stderr).not.toContain(target.password);
      const committed = Number(/(\d+) rows were committed/.exec(r.stderr)![1]);
      const [{ n }] = await sql`select count(*)::int as n from cars`;
      expect(n).toBe(committed);
    } finally {
      proxy.close();
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  }, 120_000);
});
