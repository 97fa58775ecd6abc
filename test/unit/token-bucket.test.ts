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

  /** Runs `fn` at time `at` (no drift: this is the server answering, not a timer of the bucket). */
  at(at: number, fn: () => void): void {
    this.timers.push({ at, seq: this.seq++, resolve: fn });
  }

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

/**
 * Takes a token at each arrival time; request i is answered `latency(i)` ms after its grant.
 * Returns grant and answer times (in arrival order) and the order served.
 */
async function simulate(rate: number, opts: TokenBucketOptions, arrivals: number[], clock = new FakeClock(), latency: (i: number) => number = () => 0) {
  const bucket = new TokenBucket(rate, { ...opts, now: clock.now, sleep: clock.sleep });
  const grants: number[] = new Array(arrivals.length);
  const answers: number[] = new Array(arrivals.length);
  const served: number[] = [];
  const order = arrivals.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  const pending: Promise<void>[] = [];
  for (const { at, i } of order) {
    await clock.advanceTo(at);
    pending.push(
      bucket.take().then((grant) => {
        grants[i] = at + grant.waitedMs;
        served.push(i);
        expect(grants[i]).toBe(clock.t); // the wait it reports is the wait it made
        const answerAt = clock.t + latency(i);
        if (answerAt === clock.t) {
          answers[i] = clock.t;
          grant.answered();
        } else {
          clock.at(answerAt, () => {
            answers[i] = clock.t;
            grant.answered();
          });
        }
      }),
    );
  }
  const slowest = Math.max(0, ...arrivals.map((_, i) => latency(i)));
  const horizon = Math.max(0, ...arrivals) + (arrivals.length / rate) * 1000 * 2 + arrivals.length * slowest + 5000;
  await clock.advanceTo(horizon);
  await Promise.all(pending);
  return { grants, answers, served };
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

/**
 * The most requests a server could see in one window of `windowMs` when request i reaches it at
 * some moment in [grants[i], answers[i]]: a window [x, x + windowMs) can hold request i if
 * grants[i] < x + windowMs and answers[i] >= x, and the busiest window starts at an answer.
 */
function mostThatCanShareAWindow(grants: number[], answers: number[], windowMs: number): number {
  let best = 0;
  for (const x of answers) {
    let n = 0;
    for (let i = 0; i < grants.length; i++) if (grants[i]! < x + windowMs && answers[i]! >= x) n++;
    best = Math.max(best, n);
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
    ['catching up does not mean starting full', 10, { catchUp: 3 }, [0, 0, 0, 0, 0], [0, 100, 200, 300, 400]],
    ['no wait when idle', 2, {}, [0, 100, 2000, 2100], [0, 500, 2000, 2500]],
    ['idle spell resets the schedule', 4, {}, [0, 1000, 1001], [0, 1000, 1250]],
    ['idle time earns no tokens to catch up with', 10, { catchUp: 3 }, [0, 1000, 1000, 1000], [0, 1000, 1100, 1200]],
    ['fractional rate', 0.5, {}, [0, 0, 0], [0, 2000, 4000]],
    ['a later arrival waits its turn behind a queue', 10, {}, [0, 0, 0, 50], [0, 100, 200, 300]],
    ['rate 40 over two seconds', 40, {}, Array(81).fill(0), Array.from({ length: 81 }, (_, i) => i * 25)],
  ])('%s', async (_name, rate, opts, arrivals, expected) => {
    const { grants } = await simulate(rate, opts, arrivals);
    expect(grants).toEqual(expected);
  });

  it.each<[string, number, number[], (i: number) => number, number[]]>([
    // name, rate, arrivals, answer latency of request i, grants
    ['answered at once: paced only', 2, [0, 0, 0, 0], () => 0, [0, 500, 1000, 1500]],
    // Request 0 holds its place until 1 s after its answer (1030), so request 2 waits for that.
    ['a place is held until 1 s after the answer', 2, [0, 0, 0, 0], () => 30, [0, 500, 1030, 1530]],
    ['a slow answer delays only the grant a window later', 2, [0, 0, 0, 0], (i) => (i === 0 ? 300 : 0), [0, 500, 1300, 1500]],
    // Request 0 hangs for 5 s: it holds one of the 4 places, the others pass through 3 at a time.
    ['a request that hangs holds one place', 4, Array(8).fill(0), (i) => (i === 0 ? 5000 : 0), [0, 250, 500, 750, 1250, 1500, 1750, 2250]],
    // Rate 1: the next token only a second after the previous answer, however long that took.
    ['rate 1 waits for the answer', 1, [0, 0, 0], () => 2000, [0, 3000, 6000]],
  ])('%s', async (_name, rate, arrivals, latency, expected) => {
    const { grants } = await simulate(rate, {}, arrivals, new FakeClock(), latency);
    expect(grants).toEqual(expected);
  });

  it.each([
    // rate, catchUp, how late the first timer fires (ms)
    [100, 10, 300],
    [200, 20, 90],
    [55, 5, 1000],
    [10, 1, 450],
  ])('rate %d catchUp %d, a timer %d ms late: no 100 ms holds more than rate/10 + 1 grants (a leaky bucket accepts the catching up)', async (rate, catchUp, lateMs) => {
    const clock = new FakeClock();
    let late = lateMs;
    clock.drift = () => {
      const d = late;
      late = 0;
      return d;
    };
    const { grants } = await simulate(rate, { catchUp }, Array(rate * 2).fill(0), clock);
    const sorted = [...grants].sort((a, b) => a - b);
    let most = 0;
    for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
      while (sorted[hi]! - sorted[lo]! >= 100 - 1e-6) lo++;
      most = Math.max(most, hi - lo + 1);
    }
    expect(most).toBeLessThanOrEqual(Math.floor(rate / 10) + 1);
    // And it still catches up: the 2 s of requests take about 2 s plus the late timer, not more.
    expect(sorted.at(-1)!).toBeLessThanOrEqual(2000 + lateMs);
  });

  it('makes up a late timer by up to `catchUp` + 1 tokens, never running ahead of the schedule, never more than rate/10 + 1 in 100 ms', async () => {
    // Rate 10: the schedule is 0, 100, 200, ...; the bucket's first timer (for 100) fires at 550.
    // A leaky bucket at the server must accept the catching up: 2 grants per 100 ms at most.
    for (const [catchUp, expected] of [
      [0, [0, 550, 550, 650, 750, 850, 950]], // the one whose time passed too, then paced from there
      [2, [0, 550, 550, 650, 650, 750, 750]],
      [10, [0, 550, 550, 650, 650, 750, 750]],
    ] as const) {
      const clock = new FakeClock();
      let late = 450;
      clock.drift = () => {
        const d = late;
        late = 0;
        return d;
      };
      const { grants } = await simulate(10, { catchUp }, Array(7).fill(0), clock);
      expect(grants).toEqual(expected);
    }
  });

  it.each<[number, number, number]>([
    // rate, catchUp, seed
    [1, 0, 1],
    [3, 0, 2],
    [10, 0, 3],
    [40, 0, 4],
    [2.5, 0, 5],
    [10, 3, 6],
    [40, 8, 7],
    [200, 20, 8],
  ])('rate %d catchUp %d: the server never sees more than rate in any 1 s window, whatever the timers and the delays (seed %i)', async (rate, catchUp, seed) => {
    const random = seeded(seed);
    const clock = new FakeClock();
    // Timers fire up to 40 ms late, or 1 ms early, at random: what a busy event loop does.
    clock.drift = (ms) => (random() < 0.2 && ms > 1 ? -1 : random() * 40);
    const n = Math.ceil(rate * 6);
    const arrivals = Array.from({ length: n }, () => Math.floor(random() * 4000));
    // Answers take up to 300 ms, and a request reaches the server anywhere between its grant and
    // its answer (a late send, a new connection, the network): no assumption about where.
    const latencies = arrivals.map(() => (random() < 0.1 ? random() * 300 : random() * 10));
    const { grants, answers, served } = await simulate(rate, { catchUp }, arrivals, clock, (i) => latencies[i]!);
    const limit = Math.max(1, Math.floor(rate));
    expect(maxInWindow(grants, 1000)).toBeLessThanOrEqual(limit);
    // The worst case: each request seen by the server wherever in [grant, answer] packs the most into one window.
    expect(mostThatCanShareAWindow(grants, answers, 1000)).toBeLessThanOrEqual(limit);
    // And the busy timers and slow answers did not starve it: the rate is reached at times.
    expect(mostThatCanShareAWindow(grants, grants, 1000)).toBeGreaterThanOrEqual(Math.min(limit, n) - catchUp - 2);
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

  it('a caller whose signal fires leaves the queue without a token; the next one takes its turn', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, { now: clock.now, sleep: clock.sleep });
    const first = await bucket.take();
    first.answered();
    const gone = new AbortController();
    const reason = new Error('no longer wanted');
    const a = bucket.take(gone.signal);
    const b = bucket.take();
    await clock.advanceTo(50);
    gone.abort(reason);
    await expect(a).rejects.toBe(reason);
    await clock.advanceTo(100);
    // b gets the token a would have had, at 100; nobody was granted for a.
    expect((await b).waitedMs).toBe(100);
    await expect(bucket.take(gone.signal)).rejects.toBe(reason); // already aborted: not even queued
    expect(bucket.waiting).toBe(0);
  });

  it('every caller giving up stops the bucket; a later caller is served on the schedule', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(4, { now: clock.now, sleep: clock.sleep });
    (await bucket.take()).answered();
    const gone = new AbortController();
    const waits = [bucket.take(gone.signal), bucket.take(gone.signal)];
    await clock.advanceTo(10);
    gone.abort();
    await Promise.allSettled(waits);
    await clock.advanceTo(2000);
    const late = bucket.take();
    await clock.advanceTo(2000);
    expect((await late).waitedMs).toBe(0);
  });

  it('reports how many are waiting', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, { now: clock.now, sleep: clock.sleep });
    const all = [bucket.take(), bucket.take(), bucket.take()];
    await clock.settle();
    expect(bucket.waiting).toBe(2);
    await clock.advanceTo(1000);
    expect((await Promise.all(all)).map((g) => g.waitedMs)).toEqual([0, 100, 200]);
    expect(bucket.waiting).toBe(0);
  });

  it.each<[number, TokenBucketOptions, RegExp]>([
    [0, {}, /`rate` to be a number above 0/],
    [-1, {}, /`rate`/],
    [Number.NaN, {}, /`rate`/],
    [Number.POSITIVE_INFINITY, {}, /`rate`/],
    [10, { catchUp: -1 }, /`catchUp` to be an integer from 0 and up/],
    [10, { catchUp: 1.5 }, /`catchUp`/],
  ])('rejects rate %d with %j', (rate, opts, message) => {
    expect(() => new TokenBucket(rate, opts)).toThrow(message);
  });
});

describe('TokenBucket on the real clock', () => {
  it('paces 20 takes at 50/s by performance.now()', async () => {
    const bucket = new TokenBucket(50);
    const t0 = performance.now();
    const times = await Promise.all(
      Array.from({ length: 20 }, () =>
        bucket.take().then((grant) => {
          grant.answered();
          return performance.now();
        }),
      ),
    );
    // Never ahead of the schedule; a late timer may let the next grant follow it closer than 20 ms,
    // which is what keeps late timers from slowing the rate down (the window guarantee still holds).
    times.forEach((t, i) => expect(t - t0).toBeGreaterThanOrEqual(i * 20 - 0.5));
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(50);
  });
});
