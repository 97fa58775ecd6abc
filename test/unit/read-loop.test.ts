// The shared read loop: every item handed on in order, waits not counted as validation, the
// reasons to stop, and the source closed however the loop ends.
import { describe, expect, it } from 'vitest';
import { readLoop } from '../../src/pipeline/read-loop.js';

function source(chunks: number[][], failAt?: number) {
  const state = { returned: false, read: 0 };
  const items: AsyncIterable<number[]> = {
    [Symbol.asyncIterator]() {
      return {
        async next() {
          if (state.read === failAt) throw new Error('cut');
          const value = chunks[state.read++];
          return value ? { done: false, value } : { done: true, value: undefined };
        },
        async return() {
          state.returned = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return { items, state };
}

function phases() {
  const ms: Record<string, number> = {};
  return { ms, report: { add: (p: string, t: number) => (ms[p] = (ms[p] ?? 0) + t) } };
}

describe('readLoop', () => {
  it('hands on every item in order and reads to the end', async () => {
    const { items, state } = source([[1, 2], [3], []]);
    const seen: number[] = [];
    const { report } = phases();
    let chunks = 0;
    const stop = await readLoop({ items, report, signal: new AbortController().signal, handle: (i) => void seen.push(i), afterChunk: () => void chunks++ });
    expect(stop).toBeUndefined();
    expect(seen).toEqual([1, 2, 3]);
    expect(chunks).toBe(3);
    expect(state.returned).toBe(true);
  });

  it('does not count the time waiting for a writer as validation', async () => {
    const { items } = source([[1, 2]]);
    const { ms, report } = phases();
    await readLoop({ items, report, signal: new AbortController().signal, handle: () => new Promise((r) => setTimeout(r, 100)), afterChunk: () => undefined });
    // (200 ms waited in all; handing on two items takes far less than half of it.)
    expect(ms.validate).toBeLessThan(100);
  });

  it("stops at afterChunk's reason or at the signal, and closes the source", async () => {
    const a = source([[1], [2], [3]]);
    expect(await readLoop({ items: a.items, report: phases().report, signal: new AbortController().signal, handle: () => undefined, afterChunk: () => (a.state.read === 2 ? 'max-rejects' : undefined) })).toBe('max-rejects');
    expect(a.state.returned).toBe(true);
    const b = source([[1], [2]]);
    const ac = new AbortController();
    ac.abort();
    expect(await readLoop({ items: b.items, report: phases().report, signal: ac.signal, handle: () => undefined, afterChunk: () => undefined })).toBe('interrupted');
    expect(b.state.read).toBe(1);
  });

  it('throws a failed read as readError makes it, and still closes the source', async () => {
    const { items, state } = source([[1], [2]], 1);
    const e = await readLoop({ items, report: phases().report, signal: new AbortController().signal, handle: () => undefined, afterChunk: () => undefined, readError: (x) => new Error(`feed broke: ${(x as Error).message}`) }).catch((x) => x);
    expect(e.message).toBe('feed broke: cut');
    expect(state.returned).toBe(true);
  });
});
