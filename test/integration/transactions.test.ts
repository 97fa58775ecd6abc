// The database layer in-process, against the real servers: batch transactions on one pool run side
// by side, each on a connection of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, servers, type Server } from '../support/db.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { inTransaction } from '../../src/db/transaction.js';
import { POOL_DEFAULTS } from '../../src/db/pool.js';
import { silentLogger } from '../../src/logger.js';

describe.each(servers())('batch transactions ($name)', (server: Server) => {
  let db: Database;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const fresh = await freshDatabase(server);
    drop = fresh.drop;
    db = await openDatabase({ url: fresh.url, urlSource: 'test', home: '/nonexistent', pool: { ...POOL_DEFAULTS, max: 4 } }, silentLogger);
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('runs a second transaction while the first is open, on another connection', async () => {
    // (postgres.js 3.4.9 without fetch_types never hands a newly opened connection to reserve():
    // the second transaction then waited for the first to end, and every import ran on one.)
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let firstPid = 0;
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => (started = r));
    const first = inTransaction(db.sql, undefined, async (tx) => {
      firstPid = (await tx`select pg_backend_pid() as pid`)[0].pid as number;
      started();
      await held;
    });
    await firstStarted;
    const second = inTransaction(db.sql, undefined, async (tx) => (await tx`select pg_backend_pid() as pid`)[0].pid as number);
    const outcome = await Promise.race([second, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 5_000))]);
    release();
    await first;
    expect(outcome).not.toBe('waiting');
    expect(outcome).not.toBe(firstPid);
  });

  it('opens as many connections as transactions run at once', async () => {
    // Each transaction stays open until all four are (or 10 s have passed: then they ran one
    // after another on fewer connections, and the counts below say so), however long connecting takes.
    const pids = new Set<number>();
    let inside = 0;
    let most = 0;
    let allIn!: () => void;
    const together = new Promise<void>((r) => (allIn = r));
    await Promise.all(
      Array.from({ length: 4 }, () =>
        inTransaction(db.sql, undefined, async (tx) => {
          inside++;
          most = Math.max(most, inside);
          if (inside === 4) allIn();
          pids.add((await tx`select pg_backend_pid() as pid`)[0].pid as number);
          await Promise.race([together, new Promise((r) => setTimeout(r, 10_000))]);
          inside--;
        }),
      ),
    );
    expect(most).toBe(4);
    expect(pids.size).toBe(4);
  });
});
