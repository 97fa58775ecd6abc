// The read loop of every command that reads rows (import, sync-prices --feed): chunks of items
// from a source, each item handed on, the time split into reading and validating (time spent
// waiting for a writer is neither), progress after each chunk, and the reasons to stop early (an
// interrupt, a threshold). The source is closed (return()) however the loop ends.

export interface ReadLoopOptions<T> {
  items: AsyncIterable<T[]>;
  report: { add(phase: string, ms: number): void };
  signal: AbortSignal;
  /** One item. A promise when the caller must wait (for a writer, say): that time is not validation. */
  handle(item: T): Promise<void> | undefined;
  /** After each chunk: progress, and a reason to stop early, if any. */
  afterChunk(): string | undefined;
  /** After each read (the chunk may be the end). */
  afterRead?(): void;
  /** What a failed read is thrown as. */
  readError?(e: unknown): unknown;
}

/** Reads to the end, or to the first reason to stop: 'interrupted' (the signal) or afterChunk's. */
export async function readLoop<T>(o: ReadLoopOptions<T>): Promise<string | undefined> {
  const iterator = o.items[Symbol.asyncIterator]();
  try {
    for (;;) {
      let t0 = performance.now();
      let next: IteratorResult<T[]>;
      try {
        next = await iterator.next();
      } catch (e) {
        throw o.readError ? o.readError(e) : e;
      }
      o.report.add('read', performance.now() - t0);
      o.afterRead?.();
      if (next.done) return undefined;
      t0 = performance.now();
      let waited = 0;
      for (const item of next.value) {
        const wait = o.handle(item);
        if (wait) {
          const t1 = performance.now();
          await wait;
          waited += performance.now() - t1;
        }
      }
      o.report.add('validate', performance.now() - t0 - waited);
      const stop = o.afterChunk();
      if (stop) return stop;
      if (o.signal.aborted) return 'interrupted';
    }
  } finally {
    await iterator.return?.(undefined)?.catch(() => undefined);
  }
}
