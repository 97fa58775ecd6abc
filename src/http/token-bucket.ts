// The run-wide request rate limit. Callers queue in FIFO order; each gets its token at a scheduled
// time spaced 1000/rate ms after the previous one (a GCRA / virtual-scheduling token bucket), so a
// server that counts requests per second, in fixed or sliding windows, never sees more than
// `rate` (+ burst - 1). The schedule does not drift when timers fire late; a log of the last grants
// is checked against the clock as well, so late timers firing together cannot bunch grants into
// one window either.

export interface TokenBucketOptions {
  /** Tokens that may be taken at once after an idle spell. Default 1: strictly paced. */
  burst?: number;
  /**
   * Extra ms added to the 1 s window the guarantee holds for (and to the spacing). A request is
   * seen by the server a little after its token is granted; a guard larger than that jitter keeps
   * the server-side count within the rate. Default 0.
   */
  guardMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface Waiter {
  since: number;
  resolve: (waitedMs: number) => void;
  reject: (err: unknown) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  /** Spacing between tokens in ms. */
  readonly intervalMs: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly queue: Waiter[] = [];
  private head = 0;
  private pumping = false;
  /** Theoretical arrival time of the next token when the bucket is full-paced. */
  private tat = -Infinity;
  /** Grant times of the last `limit` tokens, a ring; `log[pos]` is the oldest. */
  private readonly log: Float64Array;
  private pos = 0;

  constructor(rate: number, opts: TokenBucketOptions = {}) {
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
      throw new RangeError(`Expected \`rate\` to be a number above 0 (requests per second), got ${rate}`);
    }
    const burst = opts.burst ?? 1;
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(`Expected \`burst\` to be an integer from 1 and up, got ${burst}`);
    }
    const guardMs = opts.guardMs ?? 0;
    if (!Number.isFinite(guardMs) || guardMs < 0) {
      throw new RangeError(`Expected \`guardMs\` to be a number from 0 and up, got ${guardMs}`);
    }
    this.rate = rate;
    this.burst = burst;
    this.windowMs = 1000 + guardMs;
    this.intervalMs = this.windowMs / rate;
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? defaultSleep;
    // At most this many grants in any window; for a fractional rate, round down ("never exceed").
    const limit = Math.max(1, Math.floor(rate + burst - 1 + 1e-9));
    this.log = new Float64Array(limit).fill(-Infinity);
  }

  /** Waits for a token; resolves with the ms spent waiting. Callers are served first come, first served. */
  take(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ since: this.now(), resolve, reject });
      if (!this.pumping) void this.pump();
    });
  }

  /** Callers waiting for a token. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.head < this.queue.length) {
        const waiter = this.queue[this.head]!;
        const scheduled = Math.max(this.now(), this.tat - (this.burst - 1) * this.intervalMs);
        let t: number;
        for (;;) {
          t = this.now();
          // The oldest of the last `limit` grants must have left the window.
          const due = Math.max(scheduled, this.log[this.pos]! + this.windowMs);
          if (t >= due) break;
          await this.sleep(due - t);
        }
        // Advance from the schedule, not from `t`, so late timers do not slow the rate down.
        this.tat = Math.max(this.tat, scheduled) + this.intervalMs;
        this.log[this.pos] = t;
        this.pos = (this.pos + 1) % this.log.length;
        this.queue[this.head++] = undefined as unknown as Waiter;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        waiter.resolve(t - waiter.since);
      }
      this.queue.length = 0;
      this.head = 0;
    } catch (err) {
      // A failing sleep is a bug in the injected clock; do not leave callers hanging.
      for (let i = this.head; i < this.queue.length; i++) this.queue[i]!.reject(err);
      this.queue.length = 0;
      this.head = 0;
    } finally {
      this.pumping = false;
    }
  }
}
