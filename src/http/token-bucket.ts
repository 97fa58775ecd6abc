// The run-wide request rate limit. Callers queue in FIFO order; tokens are paced 1000/rate ms apart
// (GCRA / virtual scheduling; `catchUp` lets a few go at once when the bucket fell behind its
// schedule while callers waited), and a hard cap holds on top of the pacing: no 1 s window of the
// server ever sees more than `rate` requests, whatever the catching up, late timers, a busy event
// loop or the network do.
//
// The cap, without assumptions about delays: a request holds a place from its grant (while it is in
// flight it may reach the server at any moment) until 1 s after its answer (the server had it
// before it answered), and a token is granted only while fewer than `rate` places are held. If
// `rate` + 1 requests reached the server within 1 s, then at the grant of the last of them the
// others were all in flight or answered less than 1 s before: it would not have been granted. A
// fast server pays its round trip per window for this; a request that hangs holds one place.

export interface TokenBucketOptions {
  /**
   * When the bucket fell behind its schedule while callers were waiting (timers firing late, a busy
   * event loop), tokens go at once until it is back on schedule, at most this many besides the one
   * whose time had come already. Time with nobody waiting earns nothing: the bucket starts empty and
   * never runs ahead of 1000/rate from the moment callers start waiting. Default 0.
   */
  catchUp?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A token granted to one request. */
export interface Grant {
  /** Milliseconds spent waiting for the token. */
  waitedMs: number;
  /**
   * Must be called when the request's answer (or its failure) has come: until then the request
   * holds its place in the window. Later calls do nothing.
   */
  answered(): void;
}

interface Waiter {
  since: number;
  resolve: (grant: Grant) => void;
  reject: (err: unknown) => void;
  /** Served, or gave up (its signal fired): skipped. */
  gone: boolean;
}

/** The window the server counts requests in. */
const WINDOW_MS = 1000;
/**
 * The window a leaky bucket (nginx limit_req) effectively checks: no SLICE_MS holds more than
 * rate/10 + 1 grants, so catching up after a stall spreads out instead of bursting.
 */
const SLICE_MS = 100;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TokenBucket {
  private rateNow: number;
  readonly catchUp: number;
  /** Spacing between tokens in ms. */
  private interval: number;
  /** At most this many requests in any 1 s window of the server. */
  private cap: number;
  /** `catchUp` scaled to the current rate (the same stretch of time), never more than `catchUp`. */
  private catchUpNow = 0;
  private readonly initialRate: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly queue: Waiter[] = [];
  private head = 0;
  private pumping = false;
  /** Theoretical arrival time of the next token, plus `catchUp` intervals (GCRA). */
  private tat = -Infinity;
  /** Requests granted and not answered yet. */
  private inFlight = 0;
  /** When the answered requests that still hold a place were answered, oldest first (from `first`). */
  private readonly answers: number[] = [];
  private first = 0;
  /** Times of the latest grants (up to sliceLimit of them), oldest first. */
  private recent: number[] = [];
  /** Wakes the pump when it waits for an answer. */
  private onAnswer: (() => void) | undefined;

  constructor(rate: number, opts: TokenBucketOptions = {}) {
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
      throw new RangeError(`Expected \`rate\` to be a number above 0 (requests per second), got ${rate}`);
    }
    const catchUp = opts.catchUp ?? 0;
    if (!Number.isInteger(catchUp) || catchUp < 0) {
      throw new RangeError(`Expected \`catchUp\` to be an integer from 0 and up, got ${catchUp}`);
    }
    this.catchUp = catchUp;
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? defaultSleep;
    this.rateNow = this.interval = this.cap = 0;
    this.initialRate = rate;
    this.setRate(rate);
  }

  get rate(): number {
    return this.rateNow;
  }

  get intervalMs(): number {
    return this.interval;
  }

  get limit(): number {
    return this.cap;
  }

  /**
   * Changes the rate from the next grant on (the adaptive rate). A token already scheduled keeps
   * its time; the 1 s window cap follows the new rate, so a lower one also holds back the
   * requests the window still counts.
   */
  setRate(rate: number): void {
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
      throw new RangeError(`Expected \`rate\` to be a number above 0 (requests per second), got ${rate}`);
    }
    this.rateNow = rate;
    this.interval = WINDOW_MS / rate;
    // For a fractional rate, round down ("never exceed").
    this.cap = Math.max(1, Math.floor(rate + 1e-9));
    this.catchUpNow = Math.min(this.catchUp, Math.floor((this.catchUp * rate) / this.initialRate + 1e-9));
  }

  /**
   * Waits for a token; callers are served first come, first served. A caller whose `signal` fires
   * while it waits leaves the queue without a token (the promise rejects with the signal's reason).
   */
  take(signal?: AbortSignal): Promise<Grant> {
    return new Promise<Grant>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter: Waiter = { since: this.now(), resolve, reject, gone: false };
      if (signal) {
        const leave = () => {
          if (waiter.gone) return;
          waiter.gone = true;
          reject(signal.reason);
        };
        signal.addEventListener('abort', leave, { once: true });
        waiter.resolve = (grant) => {
          signal.removeEventListener('abort', leave);
          resolve(grant);
        };
      }
      this.queue.push(waiter);
      if (!this.pumping) void this.pump();
    });
  }

  /** Callers waiting for a token (those that gave up may still be counted until their turn). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    // Callers start waiting: the time nobody waited earns no tokens (the schedule starts now).
    this.tat = Math.max(this.tat, this.now() + this.catchUpNow * this.intervalMs);
    try {
      while (this.skipGone()) {
        const scheduled = Math.max(this.now(), this.tat - this.catchUpNow * this.intervalMs);
        let t: number;
        for (;;) {
          t = this.now();
          const free = this.placeFreeAt(t);
          if (free === undefined) {
            await this.nextAnswer();
            continue;
          }
          const due = Math.max(scheduled, free, this.sliceFreeAt(t));
          if (t >= due) break;
          await this.sleep(due - t);
        }
        // The one at the head may have given up while we slept; the next one takes its turn.
        if (!this.skipGone()) break;
        const waiter = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Waiter;
        // Advance from the schedule, not from `t`, so late timers do not slow the rate down.
        this.tat = Math.max(this.tat, scheduled) + this.intervalMs;
        waiter.gone = true;
        this.recent.push(t);
        if (this.recent.length > this.sliceLimit()) this.recent.shift();
        waiter.resolve(this.grant(t - waiter.since));
      }
    } catch (err) {
      // A failing sleep is a bug in the injected clock; do not leave callers hanging.
      for (let i = this.head; i < this.queue.length; i++) {
        const w = this.queue[i]!;
        if (!w.gone) w.reject(err);
        w.gone = true;
      }
    } finally {
      this.queue.length = 0;
      this.head = 0;
      this.pumping = false;
    }
  }

  /** Drops the callers at the head that were served or gave up; true if someone is still waiting. */
  private skipGone(): boolean {
    while (this.head < this.queue.length && this.queue[this.head]!.gone) this.queue[this.head++] = undefined as unknown as Waiter;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return this.head < this.queue.length;
  }

  /**
   * When a place in the window is free for a grant at `t` or later: `t` or earlier if one is free
   * now, the time the oldest answer that must leave leaves, or undefined when only answers of
   * requests still in flight can free one.
   */
  private placeFreeAt(t: number): number | undefined {
    this.forget(t);
    const held = this.inFlight + this.answers.length - this.first;
    if (held < this.limit) return t;
    const mustLeave = held - this.limit; // answers that must leave the window, besides one more
    const i = this.first + mustLeave;
    return i < this.answers.length ? this.answers[i]! + WINDOW_MS : undefined;
  }

  /** Grants allowed within any SLICE_MS. */
  private sliceLimit(): number {
    return Math.floor((this.rateNow * SLICE_MS) / WINDOW_MS + 1e-9) + 1;
  }

  /** When a grant keeps the latest SLICE_MS within sliceLimit: `t` or the time the oldest that must leave leaves. */
  private sliceFreeAt(t: number): number {
    const k = this.sliceLimit();
    if (this.recent.length < k) return t;
    return this.recent[this.recent.length - k]! + SLICE_MS;
  }

  /** Drops the answers that left the window by `t`. */
  private forget(t: number): void {
    while (this.first < this.answers.length && this.answers[this.first]! + WINDOW_MS <= t) this.first++;
    if (this.first > 1024 && this.first * 2 > this.answers.length) {
      this.answers.splice(0, this.first);
      this.first = 0;
    }
  }

  private nextAnswer(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.onAnswer = resolve;
    });
  }

  private grant(waitedMs: number): Grant {
    this.inFlight++;
    let done = false;
    return {
      waitedMs,
      answered: () => {
        if (done) return;
        done = true;
        this.inFlight--;
        // The clock is monotonic, so the answers stay in order.
        const t = this.now();
        this.answers.push(t);
        this.forget(t);
        const wake = this.onAnswer;
        this.onAnswer = undefined;
        wake?.();
      },
    };
  }
}
