// The writer pool with a fake sink: per-VIN order, the memory bound, a fatal error, close, retries,
// lane hints.
import { describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { BatchFailure, WriterPool, type Attempt, type PoolBatch, type Sink } from '../../src/pipeline/writer-pool.js';

class FakeBatch implements PoolBatch {
  rows: Array<[string, number]> = [];
  constructor(readonly capacity: number) {}
  get length() {
    return this.rows.length;
  }
  get full() {
    return this.rows.length >= this.capacity;
  }
  clear() {
    this.rows = [];
  }
}

const serverError = (code: string) => new (postgres.PostgresError as unknown as new (x: object) => Error)({ message: `error ${code}`, code });
const lost = () => Object.assign(new Error('connection closed'), { code: 'CONNECTION_CLOSED' });
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

interface Options {
  lanes?: number;
  perLane?: number;
  size?: number;
  write?: (batch: FakeBatch, a: Attempt<number>) => Promise<number>;
  mayHaveCommitted?: boolean;
  waitMs?: number;
  maxBatchAgeMs?: number;
}

function makePool(o: Options = {}) {
  const written: Array<{ lane: number; rows: Array<[string, number]>; hint: number; retry: boolean }> = [];
  const warnings: string[] = [];
  let made = 0;
  const sink: Sink<FakeBatch, number> = {
    async write(batch, a) {
      const hint = o.write ? await o.write(batch, a) : a.hint + 1;
      written.push({ lane: a.lane, rows: [...batch.rows], hint: a.hint, retry: a.retry });
      return hint;
    },
    mayHaveCommitted: () => !!o.mayHaveCommitted,
    describe: (b) => `batch of ${b.length} rows`,
  };
  const pool = new WriterPool<FakeBatch, number>(sink, {
    lanes: o.lanes ?? 2,
    batchesPerLane: o.perLane ?? 2,
    newBatch: () => (made++, new FakeBatch(o.size ?? 3)),
    firstHint: 0,
    retry: { waitMs: o.waitMs ?? 1000, lostPauseMs: 1, random: () => 0 },
    warn: (m) => warnings.push(m),
    maxBatchAgeMs: o.maxBatchAgeMs,
  });
  const add = (key: number, vin: string, value: number) => {
    const lane = pool.lane(key);
    pool.batch(lane).rows.push([vin, value]);
    return pool.added(lane);
  };
  return { pool, written, warnings, add, made: () => made };
}

describe('WriterPool', () => {
  it('writes every VIN in input order, on one lane, whatever the write times', async () => {
    const { pool, written, add } = makePool({ lanes: 3, size: 4, write: async (_, a) => (await tick(Math.floor(Math.random() * 3)), a.hint) });
    const sent = new Map<string, number[]>();
    for (let i = 0; i < 500; i++) {
      const k = (i * 7919) % 13;
      const vin = `VIN${k}`;
      sent.set(vin, [...(sent.get(vin) ?? []), i]);
      await add(k, vin, i);
    }
    await pool.close();
    const got = new Map<string, number[]>();
    const laneOf = new Map<string, number>();
    for (const w of written) {
      for (const [vin, v] of w.rows) {
        got.set(vin, [...(got.get(vin) ?? []), v]);
        expect(laneOf.get(vin) ?? w.lane).toBe(w.lane);
        laneOf.set(vin, w.lane);
      }
    }
    expect(got).toEqual(sent);
  });

  it('holds at most lanes x batchesPerLane batches: the reader waits while every batch is taken', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { pool, add, made, written } = makePool({ lanes: 2, perLane: 2, size: 2, write: async (_, a) => (await gate, a.hint) });
    // Lane 0: a batch being written (blocked), one filling; lane 1 alike.
    for (let i = 0; i < 2; i++) expect(add(0, 'A', i)).toBeUndefined();
    for (let i = 0; i < 2; i++) expect(add(1, 'B', i)).toBeUndefined();
    expect(add(0, 'A', 2)).toBeUndefined();
    const waiting = add(0, 'A', 3); // lane 0's second batch is full: no batch is free
    expect(waiting).toBeInstanceOf(Promise);
    let done = false;
    waiting!.then(() => (done = true));
    await tick(5);
    expect(done).toBe(false);
    expect(made()).toBe(4);
    open();
    await waiting;
    await pool.close();
    expect(made()).toBe(4);
    expect(written.flatMap((w) => w.rows).length).toBe(6);
  });

  it('stops at the first failure: batches waiting are not written, writes in flight see the signal, close throws it', async () => {
    const seen: AbortSignal[] = [];
    const { pool, add, written } = makePool({
      lanes: 2,
      perLane: 3,
      size: 1,
      write: async (b, a) => {
        if (b.rows[0][0] === 'BAD') throw serverError('42P01');
        seen.push(a.signal);
        await tick(20);
        return a.hint;
      },
    });
    await add(1, 'B', 0); // lane 1 writing for 20 ms
    await add(0, 'BAD', 1); // lane 0 fails at once
    await tick(1);
    expect(pool.failed).toBe(true);
    expect(() => add(0, 'A', 2)).toThrow(BatchFailure);
    const e = await pool.close().catch((x) => x);
    expect(e).toBeInstanceOf(BatchFailure);
    expect(e.code).toBe('DB_REFUSED');
    expect(e.message).toMatch(/the database refused a batch of 1 rows: 42P01: error 42P01/);
    expect(seen[0].aborted).toBe(true);
    expect(written.map((w) => w.rows[0][0])).toEqual(['B']);
  });

  it('close writes the batches still filling and waits for every write', async () => {
    const { pool, add, written } = makePool({ lanes: 2, size: 10, write: async (_, a) => (await tick(5), a.hint) });
    add(0, 'A', 1);
    add(1, 'B', 2);
    add(0, 'C', 3);
    expect(written).toHaveLength(0);
    await pool.close();
    expect(written.map((w) => w.rows.map(([v]) => v))).toEqual([['A', 'C'], ['B']]);
  });

  it('retries a lost connection once (retry flag set), then gives up with DB_UNAVAILABLE and the rows in doubt', async () => {
    let fails = 1;
    const once = makePool({ lanes: 1, size: 2, write: async (_, a) => (fails-- > 0 ? Promise.reject(lost()) : a.hint) });
    once.add(0, 'A', 1);
    once.add(0, 'B', 2);
    await once.pool.close();
    expect(once.written).toEqual([{ lane: 0, rows: [['A', 1], ['B', 2]], hint: 0, retry: true }]);
    expect(once.warnings).toEqual(['warning: database connection lost (CONNECTION_CLOSED); retrying the batch once on a new connection']);

    const always = makePool({ lanes: 1, size: 2, mayHaveCommitted: true, write: () => Promise.reject(lost()) });
    always.add(0, 'A', 1);
    const e = await always.pool.close().catch((x) => x);
    expect(e).toBeInstanceOf(BatchFailure);
    expect(e.code).toBe('DB_UNAVAILABLE');
    expect(always.pool.inDoubt).toBe(1);
  });

  it('retries transient errors with backoff until the wait is spent, then DB_BUSY', async () => {
    let tries = 0;
    const busy = makePool({ lanes: 1, size: 1, waitMs: 30, write: async () => (tries++, await tick(5), Promise.reject(serverError('40P01'))) });
    busy.add(0, 'A', 1);
    const e = await busy.pool.close().catch((x) => x);
    expect(e.code).toBe('DB_BUSY');
    expect(e.message).toMatch(/kept failing a batch of 1 rows with transient errors/);
    expect(tries).toBeGreaterThan(1);
    expect(busy.pool.inDoubt).toBe(0);

    let n = 2;
    const passes = makePool({ lanes: 1, size: 1, write: async (_, a) => (n-- > 0 ? Promise.reject(serverError('57014')) : a.hint) });
    passes.add(0, 'A', 1);
    await passes.pool.close();
    expect(passes.written).toHaveLength(1);
    expect(passes.warnings).toHaveLength(2);
  });

  it("hands each lane its sink's last answer as the hint for its next batch", async () => {
    const { pool, add, written } = makePool({ lanes: 2, size: 1, write: async (b, a) => a.hint + (b.rows[0][0] === 'A' ? 10 : 1) });
    await add(0, 'A', 1);
    await add(0, 'A', 2);
    await add(1, 'B', 3);
    await add(0, 'C', 4);
    await pool.close();
    const lane0 = written.filter((w) => w.lane === 0).map((w) => w.hint);
    expect(lane0).toEqual([0, 10, 20]);
    expect(written.find((w) => w.lane === 1)!.hint).toBe(0);
  });

  it('hands over a batch that has been filling longer than maxBatchAgeMs at its next row', async () => {
    const { pool, add, written } = makePool({ lanes: 1, size: 100, maxBatchAgeMs: 10 });
    add(0, 'A', 1);
    await tick(15);
    add(0, 'B', 2);
    await tick(1);
    expect(written.map((w) => w.rows.length)).toEqual([2]);
    await pool.close();
  });
});
