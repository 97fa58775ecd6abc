// The batch writers of every command that writes rows (import, sync-prices from a feed or the
// price API). Rows go to lanes by a hash of their VIN, so one VIN is always written by one lane, in
// input order; each lane writes its batches one after the other through a sink (one transaction or
// statement per batch). A fixed set of reusable batches bounds memory by construction: when a lane's
// batch is full and no batch is free, the reader waits for a write to end.
//
// Failures follow one policy: a lost connection is retried once on a new one, a transient error
// (deadlock, timeout, too many connections) with backoff for up to `retry.waitMs`; then, or on any
// other refusal of the server, the pool stops: batches waiting are not written, writes in flight
// see `signal` abort, and the first failure is the pool's (a BatchFailure, exit 5).
import { setTimeout as delay } from 'node:timers/promises';
import postgres from 'postgres';
import { isConnectionError } from '../db/pool.js';
import { describeError, isTransientError, TRANSIENT_BACKOFF } from '../db/sqlstate.js';
import { backoffDelay } from '../http/backoff.js';

export interface PoolBatch {
  readonly length: number;
  readonly full: boolean;
  /** Empties the batch for reuse (its buffers stay). */
  clear(): void;
}

export interface Attempt<H> {
  lane: number;
  /** What the lane's last batch said about the next one (the sink's last answer, or `firstHint`). */
  hint: H;
  /** An earlier attempt at this batch failed (a lost connection or a transient error). */
  retry: boolean;
  /** Aborted when the pool stops after a failure: a write may give up what it waits for. */
  signal: AbortSignal;
}

export interface Sink<B, H> {
  /** Writes one batch, once; resolves to the lane's hint for its next batch. */
  write(batch: B, attempt: Attempt<H>): Promise<H>;
  /** After a lost connection: may the attempt have committed (COMMIT had gone out)? */
  mayHaveCommitted(e: unknown): boolean;
  /** "batch of 5000 rows from line 2", for messages. */
  describe(batch: B): string;
}

export interface RetryPolicy {
  /** How long a batch is retried after transient errors, from the first one, in ms. */
  waitMs: number;
  /** The pause before the one retry after a lost connection, in ms (default 500). */
  lostPauseMs?: number;
  random?: () => number;
}

export interface WriterPoolOptions<B, H> {
  lanes: number;
  /** Batches per lane: one filling, the others being written or waiting to be (at least 2). */
  batchesPerLane: number;
  newBatch(): B;
  firstHint: H;
  retry: RetryPolicy;
  warn(message: string): void;
  /** A batch that has been filling this long is handed over at its next row (rows that trickle in). */
  maxBatchAgeMs?: number;
  /** Called as each write of a batch starts; what it returns, as the write ends (busy time for the report). */
  measure?(): () => void;
}

/** A batch that could not be written: the pool's failure, the run's exit 5. */
export class BatchFailure extends Error {
  constructor(
    readonly code: 'DB_UNAVAILABLE' | 'DB_BUSY' | 'DB_REFUSED',
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

interface Lane<B, H> {
  index: number;
  filling: B;
  startedAt: number;
  /** Batches handed over, in order; the first one is being written. */
  queue: B[];
  draining: Promise<void> | undefined;
  hint: H;
}

export class WriterPool<B extends PoolBatch, H> {
  /** Rows of batches left when the pool stopped whose changes may have been committed, or not. */
  inDoubt = 0;
  private readonly lanes: Lane<B, H>[];
  private readonly free: B[] = [];
  private readonly freed: Array<() => void> = [];
  private readonly stop = new AbortController();
  private failure: unknown;

  constructor(
    private readonly sink: Sink<B, H>,
    private readonly o: WriterPoolOptions<B, H>,
  ) {
    if (o.lanes < 1 || o.batchesPerLane < 2) throw new RangeError('a writer pool needs a lane and two batches per lane');
    for (let i = o.lanes * (o.batchesPerLane - 1); i > 0; i--) this.free.push(o.newBatch());
    this.lanes = Array.from({ length: o.lanes }, (_, index) => ({ index, filling: o.newBatch(), startedAt: 0, queue: [], draining: undefined, hint: o.firstHint }));
  }

  /** The lane of a VIN's hash. */
  lane(hash: number): number {
    return hash % this.lanes.length;
  }

  /** The batch a row of this lane goes into; never full. Throws the pool's failure, if any. */
  batch(lane: number): B {
    if (this.failure !== undefined) throw this.failure;
    const l = this.lanes[lane];
    if (l.filling.length === 0) l.startedAt = performance.now();
    return l.filling;
  }

  /**
   * After a row went into `batch(lane)`: hands the batch over when it is full (or old). Returns a
   * promise only when the caller must wait: until a batch is free to fill.
   */
  added(lane: number): Promise<void> | undefined {
    const l = this.lanes[lane];
    const old = this.o.maxBatchAgeMs !== undefined && performance.now() - l.startedAt >= this.o.maxBatchAgeMs;
    if (!l.filling.full && !old) return undefined;
    if (this.failure !== undefined) throw this.failure;
    if (this.free.length === 0) return this.handOver(l);
    this.queueFilling(l);
    l.filling = this.free.pop()!;
    return undefined;
  }

  /** Whether the pool stopped after a failure. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Writes every batch still filling, waits for every lane; then throws the first failure, if any. */
  async close(): Promise<void> {
    try {
      for (const l of this.lanes) if (this.failure === undefined && l.filling.length) await this.handOver(l);
    } finally {
      await this.settle();
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits until no lane writes (after a failure elsewhere, say); throws nothing. */
  async settle(): Promise<void> {
    for (const l of this.lanes) while (l.draining) await l.draining;
  }

  /**
   * Hands the lane's batch to its writer at once (so the lane never idles behind another lane's
   * write), then waits for a batch to be free to fill in its place.
   */
  private async handOver(l: Lane<B, H>): Promise<void> {
    this.queueFilling(l);
    while (this.free.length === 0 && this.failure === undefined) await new Promise<void>((r) => this.freed.push(r));
    if (this.failure !== undefined) throw this.failure;
    l.filling = this.free.pop()!;
  }

  /** Queues the lane's filling batch for its writer (started if idle); the caller gives the lane a new one. */
  private queueFilling(l: Lane<B, H>): void {
    l.queue.push(l.filling);
    l.draining ??= this.drain(l);
  }

  /** Writes a lane's batches one after the other, in the order they came. */
  private async drain(l: Lane<B, H>): Promise<void> {
    while (l.queue.length) {
      const batch = l.queue[0];
      if (this.failure === undefined) await this.write(l, batch);
      batch.clear();
      this.free.push(l.queue.shift()!);
      this.freed.shift()?.();
    }
    l.draining = undefined;
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    this.stop.abort(new Error('the run is stopping: another batch failed'));
    // Readers waiting for a free batch hear the failure now.
    for (const wake of this.freed.splice(0)) wake();
  }

  private async write(l: Lane<B, H>, batch: B): Promise<void> {
    const signal = this.stop.signal;
    const describe = () => this.sink.describe(batch);
    let lostRetried = false;
    let doubt = 0;
    let firstTransient: number | undefined;
    let tries = 0;
    for (let retry = false; ; retry = true) {
      if (signal.aborted) {
        this.inDoubt += doubt;
        return;
      }
      const measured = this.o.measure?.();
      try {
        l.hint = await this.sink.write(batch, { lane: l.index, hint: l.hint, retry, signal });
        return;
      } catch (e) {
        if (signal.aborted) continue; // another batch failed first: this one stops (above)
        if (isConnectionError(e)) {
          if (this.sink.mayHaveCommitted(e)) doubt = batch.length;
          const code = (e as { code?: string }).code;
          if (lostRetried) return this.giveUp(new BatchFailure('DB_UNAVAILABLE', `database connection lost and not regained (${code})`, { cause: e }), doubt);
          lostRetried = true;
          this.o.warn(`warning: database connection lost (${code}); retrying the batch once on a new connection`);
          await this.pause(this.o.retry.lostPauseMs ?? 500);
          continue;
        }
        if (isTransientError(e)) {
          const now = performance.now();
          firstTransient ??= now;
          const wait = Math.round(backoffDelay(++tries, TRANSIENT_BACKOFF, this.o.retry.random));
          if (now - firstTransient + wait > this.o.retry.waitMs) {
            const s = ((now - firstTransient) / 1000).toFixed(1);
            return this.giveUp(new BatchFailure('DB_BUSY', `the database kept failing a ${describe()} with transient errors for ${s} s (${tries} tries; the last: ${describeError(e)})`, { cause: e }), doubt);
          }
          this.o.warn(`warning: ${describe()}: ${describeError(e)}; retrying it whole in ${wait} ms`);
          await this.pause(wait);
          continue;
        }
        if (e instanceof postgres.PostgresError) return this.giveUp(new BatchFailure('DB_REFUSED', `the database refused a ${describe()}: ${describeError(e)}`, { cause: e }), doubt);
        return this.giveUp(e, doubt);
      } finally {
        measured?.();
      }
    }
  }

  private giveUp(e: unknown, doubt: number): void {
    this.inDoubt += doubt;
    this.fail(e);
  }

  /** A pause that ends early when the pool stops. */
  private pause(ms: number): Promise<void> {
    return delay(ms, undefined, { signal: this.stop.signal }).catch(() => undefined);
  }
}
