import { describe, expect, it } from 'vitest';
import { TokenBucket, type TokenBucketOptions } from '../../src/http/token-bucket.js';

/** A virtual clock: sleeps resolve only when the test advances time past them. */
class FakeClock {
  t = 0;
  /** Shifts when a timer fires relative to when it was asked for (late > 0, early < 0). */
  drift: (ms: number) => number = () => 0;
  private timers: Array<{ at: number; seq: number; resolve: () => void }> = [];
  private seq = 0;
  now = () => this.t;
  sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      this.timers.push({ at: this.t + Math.max(0, ms + this.drift(ms)), seq: this.seq++, resolve });
    });

  async settle(): Promise<void> {
    for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
  }

  async advanceTo(target: number): Promise<void> {
    for (;;) {
      await this.settle();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = Math.max(this.t, target);
    await this.settle();
  }
}

/** Takes a token at each arrival time; returns grant times (in arrival order) and the order served. */
async function simulate(rate: number, opts: TokenBucketOptions, arrivals: number[], clock = new FakeClock()) {
  const bucket = new TokenBucket(rate, { ...opts, now: clock.now, sleep: clock.sleep });
  const grants: number[] = new Array(arrivals.length);
  const served: number[] = [];
  const order = arrivals.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  const pending: Promise<void>[] = [];
  for (const { at, i } of order) {
    await clock.advanceTo(at);
    pending.push(
      bucket.take().then((waited) => {
        grants[i] = at + waited;
        served.push(i);
        expect(grants[i]).toBe(clock.t); // the wait it reports is the wait it made
      }),
    );
  }
  const horizon = Math.max(0, ...arrivals) + (arrivals.length / rate) * 1000 * 2 + 5000;
  await clock.advanceTo(horizon);
  await Promise.all(pending);
  return { grants, served };
}

function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) % 2 ** 32;
    return seed / 2 ** 32;
  };
}

describe('TokenBucket on a fake clock', () => {
  it.each<[string, number, TokenBucketOptions, number[], number[]]>([
    ['paced at 1000/rate', 10, {}, [0, 0, 0, 0, 0], [0, 100, 200, 300, 400]],
    ['burst 3 then paced', 10, { burst: 3 }, [0, 0, 0, 0, 0], [0, 0, 0, 100, 200]],
    ['no wait when idle', 2, {}, [0, 100, 2000, 2100], [0, 500, 2000, 2500]],
    ['idle spell resets the schedule', 4, {}, [0, 1000, 1001], [0, 1000, 1250]],
    ['burst refills after idling', 10, { burst: 3 }, [0, 0, 0, 1000, 1000, 1000, 1000], [0, 0, 0, 1000, 1000, 1000, 1100]],
    ['guard widens the spacing', 10, { guardMs: 20 }, [0, 0, 0], [0, 102, 204]],
    ['fractional rate', 0.5, {}, [0, 0, 0], [0, 2000, 4000]],
    ['a later arrival waits its turn behind a queue', 10, {}, [0, 0, 0, 50], [0, 100, 200, 300]],
    ['rate 40 over two seconds', 40, {}, Array(81).fill(0), Array.from({ length: 81 }, (_, i) => i * 25)],
  ])('%s', async (_name, rate, opts, arrivals, expected) => {
    const { grants } = await simulate(rate, opts, arrivals);
    expect(grants).toEqual(expected);
  });

  it('serves concurrent callers first come, first served', async () => {
    const { served, grants } = await simulate(5, {}, [0, 0, 0, 0, 10, 10, 20]);
    expect(served).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(grants).toEqual([0, 200, 400, 600, 800, 1000, 1200]);
  });

  it.each<[number, number, number]>([
    // rate, burst, seed
    [1, 1, 1],
    [3, 1, 2],
    [10, 1, 3],
    [40, 1, 4],
    [2.5, 1, 5],
    [10, 3, 6],
    [40, 5, 7],
  ])('rate %d burst %d: never more than rate + burst - 1 in any 1 s window, even with late and early timers (seed %i)', async (rate, burst, seed) => {
    const random = seeded(seed);
    const clock = new FakeClock();
    // Timers fire up to 40 ms late, or 1 ms early, at random: what a busy event loop does.
    clock.drift = (ms) => (random() < 0.2 && ms > 1 ? -1 : random() * 40);
    const n = Math.ceil(rate * 6);
    const arrivals = Array.from({ length: n }, () => Math.floor(random() * 4000));
    const { grants, served } = await simulate(rate, { burst }, arrivals, clock);
    const limit = Math.max(1, Math.floor(rate + burst - 1));
    expect(maxInWindow(grants, 1000)).toBeLessThanOrEqual(limit);
    // FIFO: served in arrival order, and no one was granted before arriving.
    const byArrival = arrivals.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i).map((x) => x.i);
    expect(served).toEqual(byArrival);
    grants.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(arrivals[i]!));
  });

  it('late timers do not slow a backlog down (the schedule does not drift)', async () => {
    const random = seeded(42);
    const clock = new FakeClock();
    clock.drift = () => random() * 5;
    const { grants } = await simulate(40, {}, Array(200).fill(0), clock);
    const last = Math.max(...grants);
    // 199 intervals of 25 ms; drift accumulating would add up to 199 * 5 ms.
    expect(last).toBeGreaterThanOrEqual(199 * 25);
    expect(last).toBeLessThan(199 * 25 + 30);
    expect(maxInWindow(grants, 1000)).toBeLessThanOrEqual(40);
  });

  it('timers that fire early are slept again, never granted early', async () => {
    const clock = new FakeClock();
    clock.drift = (ms) => (ms > 1 ? -1 : 0);
    const { grants } = await simulate(10, {}, [0, 0, 0, 0], clock);
    expect(grants).toEqual([0, 100, 200, 300]);
  });

  it('reports how many are waiting', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, { now: clock.now, sleep: clock.sleep });
    const all = [bucket.take(), bucket.take(), bucket.take()];
    await clock.settle();
    expect(bucket.waiting).toBe(2);
    await clock.advanceTo(1000);
    expect(await Promise.all(all)).toEqual([0, 100, 200]);
    expect(bucket.waiting).toBe(0);
  });

  it.each<[number, TokenBucketOptions, RegExp]>([
    [0, {}, /`rate` to be a number above 0/],
    [-1, {}, /`rate`/],
    [Number.NaN, {}, /`rate`/],
    [Number.POSITIVE_INFINITY, {}, /`rate`/],
    [10, { burst: 0 }, /`burst` to be an integer from 1 and up/],
    [10, { burst: 1.5 }, /`burst`/],
    [10, { guardMs: -1 }, /`guardMs`/],
  ])('rejects rate %d with %j', (rate, opts, message) => {
    expect(() => new TokenBucket(rate, opts)).toThrow(message);
  });
});

describe('TokenBucket on the real clock', () => {
  it('paces 20 takes at 50/s by performance.now()', async () => {
    const bucket = new TokenBucket(50);
    const t0 = performance.now();
    const times = await Promise.all(Array.from({ length: 20 }, () => bucket.take().then(() => performance.now())));
    // Never ahead of the schedule; a late timer may let the next grant follow it closer than 20 ms,
    // which is what keeps late timers from slowing the rate down (the window guarantee still holds).
    times.forEach((t, i) => expect(t - t0).toBeGreaterThanOrEqual(i * 20 - 0.5));
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(50);
  });
});
