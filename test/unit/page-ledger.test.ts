import { describe, expect, it } from 'vitest';
import { PageLedger } from '../../src/pipeline/page-ledger.js';

const url = (n: number) => `http://x/p/${n}`;

describe('PageLedger', () => {
  it('a page counts as committed only when it and every page before it are', () => {
    const l = new PageLedger({ url: url(1), page: 1 });
    const a = {};
    const b = {};
    // Page 1: two rows in batch a, one in b; page 2: one row in b, one in a.
    l.rowAdded(a);
    l.rowAdded(a);
    l.rowAdded(b);
    expect(l.pageRead(url(2))).toBe(false);
    l.rowAdded(b);
    l.rowAdded(a);
    l.pageRead(url(3));
    expect(l.point()).toEqual({ url: url(1), page: 1 });
    // b commits first (page 1's last row and one of page 2's): page 1 still waits for a.
    expect(l.batchCommitted(b)).toBe(false);
    expect(l.point()).toEqual({ url: url(1), page: 1 });
    // a commits: pages 1 and 2 are done; page 3 is being read.
    expect(l.batchCommitted(a)).toBe(true);
    expect(l.point()).toEqual({ url: url(3), page: 3 });
    expect(l.complete).toBe(false);
  });

  it('a later page committed first does not move the point past an earlier one', () => {
    const l = new PageLedger({ url: url(5), page: 5 });
    const early = {};
    const late = {};
    l.rowAdded(early);
    l.pageRead(url(6));
    l.rowAdded(late);
    l.pageRead(url(7));
    expect(l.batchCommitted(late)).toBe(false);
    expect(l.point()).toEqual({ url: url(5), page: 5 });
    expect(l.batchCommitted(early)).toBe(true);
    expect(l.point()).toEqual({ url: url(7), page: 7 });
  });

  it('pages without rows (empty, or every item rejected) pass once read; a batch reused after its commit starts afresh', () => {
    const l = new PageLedger({ url: url(1), page: 1 });
    expect(l.pageRead(url(2))).toBe(true);
    expect(l.point()).toEqual({ url: url(2), page: 2 });
    const batch = {};
    l.rowAdded(batch);
    l.batchCommitted(batch);
    expect(l.point()).toEqual({ url: url(2), page: 2 }); // page 2 is still being read
    l.rowAdded(batch);
    l.pageRead(null);
    expect(l.complete).toBe(false);
    expect(l.batchCommitted(batch)).toBe(true);
    expect(l.point()).toBeNull();
    expect(l.complete).toBe(true);
    expect(l.batchCommitted({})).toBe(false);
  });

  it('a page being read when the run stops stays the point; so does a batch never committed', () => {
    const l = new PageLedger({ url: url(1), page: 1 });
    const a = {};
    l.rowAdded(a);
    l.pageRead(url(2));
    l.rowAdded(a); // page 2, never read to its end, a never committed
    expect(l.point()).toEqual({ url: url(1), page: 1 });
    l.batchCommitted(a);
    expect(l.point()).toEqual({ url: url(2), page: 2 });
  });

  it('refuses rows and pages after the end of the feed', () => {
    const l = new PageLedger({ url: url(1), page: 1 });
    l.pageRead(null);
    expect(() => l.rowAdded({})).toThrow('a row after the end of the feed');
    expect(() => l.pageRead(url(2))).toThrow('a page after the end of the feed');
  });
});
