// sources/json-pages.ts: paginated JSON feeds: pages, their items, the numbered pages predicted and
// fetched ahead.
import { describe, expect, it } from 'vitest';
import { CarsError } from '../../src/errors.js';
import { CAR_COLUMNS } from '../../src/car.js';
import { pageItems, pageStep, parsePage, type Page } from '../../src/sources/json-pages.js';
import { NdjsonSplitter, type NdjsonLine } from '../../src/sources/ndjson.js';
import type { SourceItem } from '../../src/sources/records.js';

const col = (name: string) => CAR_COLUMNS.indexOf(name as (typeof CAR_COLUMNS)[number]);

/** Feeds `text` to a splitter in pieces of `size` characters. */
function split(text: string, size: number, max?: number): NdjsonLine[] {
  const s = new NdjsonSplitter(max);
  const out: NdjsonLine[] = [];
  for (let i = 0; i < text.length; i += size) s.push(text.slice(i, i + size), out);
  return s.end(out);
}


describe('parsePage', () => {
  const url = 'http://x/api/cars?page=2';
  it('converts items, naming each by page URL and index; next as written', () => {
    const p = parsePage('{"items":[{"vin":"A","price":9.90},"oops",{"vin":"B","year":[2020]}],"next":"?page=3"}', url);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.next).toBe('?page=3');
    const items = p.items();
    expect(items[0]).toMatchObject({ kind: 'record', where: `${url}#0` });
    expect((items[0] as { values: string[] }).values[col('price')]).toBe('9.90');
    expect(items[1]).toEqual({ kind: 'malformed', where: `${url}#1`, error: `item 1 of page ${url} is a string, not an object`, raw: '"oops"' });
    expect(items[2]).toMatchObject({ kind: 'malformed', where: `${url}#2`, error: '"year" is an array; expected a string, a number or null' });
  });

  it.each([
    ['{"items":[],"next":null}', { ok: true, next: null }],
    ['{"items":[]}', { ok: true, next: null }],
    ['{"items":[', { ok: false, invalidJson: true }],
    ['<html>502</html>', { ok: false, invalidJson: true }],
    ['{"data":[]}', { ok: false, invalidJson: false, error: 'the page is not {"items": [...], "next": ...}: it has no "items"' }],
    ['{"items":{}}', { ok: false, invalidJson: false, error: 'the page is not {"items": [...], "next": ...}: its "items" is an object' }],
    ['[]', { ok: false, invalidJson: false, error: 'the page is an array, not an object {"items": [...], "next": ...}' }],
    ['{"items":[],"next":3}', { ok: false, invalidJson: false, error: `the page's "next" is a number; expected a URL or null` }],
  ])('%s', (text, expected) => {
    expect(parsePage(text, url)).toMatchObject(expected);
  });
});

describe('pageItems', () => {
  const page = (url: string, n: number, next: string | null): Page => ({
    url,
    base: url,
    next,
    items: () => Array.from({ length: n }, (_, i) => ({ kind: 'record', where: `${url}#${i}`, values: [] })),
  });
  const resolve = (next: string, p: Page) => new URL(next, p.base).href;

  it('starts the next page while this one is consumed, one page ahead and never more', async () => {
    const pages: Record<string, Page> = {
      'http://x/1': page('http://x/1', 2, '/2'),
      'http://x/2': page('http://x/2', 0, 'http://x/3'),
      'http://x/3': page('http://x/3', 1, null),
    };
    const loads: string[] = [];
    const it = pageItems(pages['http://x/1']!, { load: async (u) => (loads.push(u), pages[u]!), resolve });
    const first = await it.next();
    expect((first.value as SourceItem[]).map((i) => i.where)).toEqual(['http://x/1#0', 'http://x/1#1']);
    expect(loads).toEqual(['http://x/2']); // prefetched, not further
    const rest: unknown[] = [];
    for await (const c of it) rest.push(...c.map((i) => i.where));
    expect(rest).toEqual(['http://x/3#0']);
    expect(loads).toEqual(['http://x/2', 'http://x/3']);
  });

  it('a next that repeats a page fails once the current page is consumed', async () => {
    const pages: Record<string, Page> = { 'http://x/1': page('http://x/1', 1, '/2'), 'http://x/2': page('http://x/2', 1, '/1') };
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of pageItems(pages['http://x/1']!, { load: async (u) => pages[u]!, resolve })) seen.push(...c.map((i) => String(i.where)));
      })(),
    ).rejects.toThrow(/pagination loop: page 2 \(http:\/\/x\/2\) has next http:\/\/x\/1, which is page 1/);
    expect(seen).toEqual(['http://x/1#0', 'http://x/2#0']);
  });

  it('tells when each page has been consumed, with the URL of the page after it; not for a page the reader stopped inside', async () => {
    const pages: Record<string, Page> = {
      'http://x/a': page('http://x/a', 2, '/b'),
      'http://x/b': page('http://x/b', 0, '/c'),
      'http://x/c': page('http://x/c', 1, null),
    };
    const read: Array<string | null> = [];
    const onPageRead = (next: string | null) => read.push(next);
    for await (const _ of pageItems(pages['http://x/a']!, { load: async (u) => pages[u]!, resolve, onPageRead })) void _;
    expect(read).toEqual(['http://x/b', 'http://x/c', null]);

    read.length = 0;
    const it = pageItems(pages['http://x/a']!, { load: async (u) => pages[u]!, resolve, onPageRead });
    await it.next(); // page a's items, not yet consumed
    expect(read).toEqual([]);
    await it.return(undefined);
    expect(read).toEqual([]);
  });

  it('numbers pages from firstNumber in its messages (a resumed feed)', async () => {
    const pages: Record<string, Page> = { 'http://x/7': page('http://x/7', 1, '/8'), 'http://x/8': page('http://x/8', 1, '/7') };
    await expect(
      (async () => {
        for await (const _ of pageItems(pages['http://x/7']!, { load: async (u) => pages[u]!, resolve, firstNumber: 7 })) void _;
      })(),
    ).rejects.toThrow(/pagination loop: page 8 \(http:\/\/x\/8\) has next http:\/\/x\/7, which is page 7/);
  });

  it('a prefetch that fails surfaces after the current page, without an unhandled rejection', async () => {
    const seen: string[] = [];
    const load = () => new Promise<Page>((_, reject) => setTimeout(() => reject(new Error('boom')), 1));
    await expect(
      (async () => {
        for await (const c of pageItems(page('http://x/1', 3, '/2'), { load, resolve })) {
          await new Promise((r) => setTimeout(r, 20)); // the prefetch fails while this page is consumed
          seen.push(...c.map((i) => String(i.where)));
        }
      })(),
    ).rejects.toThrow('boom');
    expect(seen).toHaveLength(3);
  });
});

describe('pageStep', () => {
  it.each([
    // first, second -> the third, and the tenth page
    ['http://x/page/1', 'http://x/page/2', 'http://x/page/3', 'http://x/page/10'],
    ['http://x/cars?page=1&size=50', 'http://x/cars?page=2&size=50', 'http://x/cars?page=3&size=50', 'http://x/cars?page=10&size=50'],
    ['http://x/cars?offset=0&limit=50', 'http://x/cars?offset=50&limit=50', 'http://x/cars?offset=100&limit=50', 'http://x/cars?offset=450&limit=50'],
    ['http://x/cars?offset=100', 'http://x/cars?offset=125', 'http://x/cars?offset=150', 'http://x/cars?offset=325'],
    // the port, the API version and the page size stay; only the number that moved moves
    ['http://127.0.0.1:8080/v2/cars/9?size=50', 'http://127.0.0.1:8080/v2/cars/10?size=50', 'http://127.0.0.1:8080/v2/cars/11?size=50', 'http://127.0.0.1:8080/v2/cars/18?size=50'],
    ['http://x/p/007.json', 'http://x/p/008.json', 'http://x/p/009.json', 'http://x/p/016.json'], // zero-padded: the width stays
    ['http://x/p/98', 'http://x/p/99', 'http://x/p/100', 'http://x/p/107'],
    ['http://x/?since=9007199254740993', 'http://x/?since=9007199254740994', 'http://x/?since=9007199254740995', 'http://x/?since=9007199254741002'], // past 2^53, exact
  ])('%s -> %s steps to %s', (first, second, third, tenth) => {
    const step = pageStep(first, second)!;
    expect(step).toBeDefined();
    expect([step(0), step(1), step(2), step(9)]).toEqual([first, second, third, tenth]);
  });

  it.each([
    ['the same URL', 'http://x/page/1', 'http://x/page/1'],
    ['a number that went down', 'http://x/page/2', 'http://x/page/1'],
    ['two numbers that moved', 'http://x/a/1/b/1', 'http://x/a/2/b/2'],
    ['other text', 'http://x/page/1', 'http://x/pages/2'],
    ['a cursor', 'http://x/cars', 'http://x/cars?after=2'],
    ['a cursor of letters', 'http://x/cars?after=a1', 'http://x/cars?after=b2'],
    ['a number that appeared', 'http://x/cars?page=', 'http://x/cars?page=2'],
    ['padding that changed', 'http://x/p/1', 'http://x/p/02'],
    ['another host', 'http://a1/p/1', 'http://a2/p/1'],
    ['another port', 'http://x:8080/p/1', 'http://x:8081/p/1'],
    ['not http', 'file:///feeds/page-1.json', 'file:///feeds/page-2.json'],
  ])('%s: no prediction', (_what, first, second) => {
    expect(pageStep(first, second)).toBeUndefined();
  });
});

describe('pageItems fetching ahead', () => {
  /** Pages http://x/p/1..last of `n` items each; `next` of the last one is null. */
  const numbered = (last: number, n = 2, next: (p: number) => string | null = (p) => (p < last ? `/p/${p + 1}` : null)) =>
    Object.fromEntries(
      Array.from({ length: last }, (_, i) => i + 1).map((p) => {
        const url = `http://x/p/${p}`;
        const page: Page = {
          url,
          base: url,
          next: next(p),
          size: 100,
          count: n,
          items: () => Array.from({ length: n }, (_, i) => ({ kind: 'record', where: `${url}#${i}`, values: [] })),
        };
        return [url, page];
      }),
    ) as Record<string, Page | Error>;
  const resolve = (next: string, p: Page) => new URL(next, p.base).href;

  /** A fake HTTP layer: answers after delay(url) ms; a missing page is a 404; counts loads in flight. */
  function server(pages: Record<string, Page | Error>, delay: (url: string) => number = () => 5) {
    const s = {
      loads: [] as string[],
      inFlight: 0,
      maxInFlight: 0,
      aborted: [] as string[],
      load: (url: string, signal: AbortSignal): Promise<Page> => {
        s.loads.push(url);
        s.inFlight++;
        s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
        signal.addEventListener('abort', () => s.aborted.push(url));
        return new Promise<Page>((res, rej) =>
          setTimeout(() => {
            s.inFlight--;
            const p = pages[url];
            if (p instanceof Error) rej(p);
            else if (p === undefined) rej(new CarsError('REMOTE_FAILED', `GET ${url} failed: HTTP 404 Not Found`));
            else res(p);
          }, delay(url)),
        );
      },
    };
    return s;
  }

  async function wheres(first: Page, opts: Parameters<typeof pageItems>[1], each?: () => Promise<void>): Promise<string[]> {
    const out: string[] = [];
    for await (const chunk of pageItems(first, opts)) {
      out.push(...chunk.map((i) => String(i.where)));
      await each?.();
    }
    return out;
  }
  const all = (pages: number, n = 2) => Array.from({ length: pages }, (_, p) => Array.from({ length: n }, (_, i) => `http://x/p/${p + 1}#${i}`)).flat();

  it('fetches predicted pages several at once, and hands the items on strictly in page order', async () => {
    const pages = numbered(12);
    // Later pages answer sooner: arrival order is not page order.
    const s = server(pages, (u) => 40 - 3 * Number(u.split('/').pop()));
    const started: number[] = [];
    const out = await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4 }, async () => {
      started.push(s.loads.length);
    });
    expect(out).toEqual(all(12));
    expect(s.maxInFlight).toBe(4);
    expect(started[0]).toBe(4); // pages 2..5 asked for before page 1 was consumed
    // Every page once, in order; past the end at most parallel - 1, never loaded.
    expect(s.loads.slice(0, 11)).toEqual(Array.from({ length: 11 }, (_, i) => `http://x/p/${i + 2}`));
    expect(s.loads.length - 11).toBeLessThanOrEqual(3);
    expect(s.inFlight).toBe(0); // nothing outlives the generator
  });

  it('parallel 1, or URLs that do not step: one page ahead, as named', async () => {
    const pages = numbered(4);
    const s = server(pages);
    expect(await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve })).toEqual(all(4));
    expect(s.loads).toEqual(['http://x/p/2', 'http://x/p/3', 'http://x/p/4']);
    expect(s.maxInFlight).toBe(1);

    // Cursors: the URLs do not step by a number, so nothing is predicted.
    const cursor = (p: number): Page => {
      const url = p === 1 ? 'http://x/c' : `http://x/c?after=k${p - 1}`;
      return { url, base: url, next: p < 4 ? `/c?after=k${p}` : null, size: 100, count: 1, items: () => [{ kind: 'record', where: `${url}#0`, values: [] }] };
    };
    const cursors = Object.fromEntries([1, 2, 3, 4].map((p) => [cursor(p).url, cursor(p)]));
    const c = server(cursors);
    expect(await wheres(cursors['http://x/c']!, { load: c.load, resolve, parallel: 4 })).toHaveLength(4);
    expect(c.loads).toEqual(['http://x/c?after=k1', 'http://x/c?after=k2', 'http://x/c?after=k3']);
    expect(c.maxInFlight).toBe(1);
  });

  it('a page that names another next drops every page fetched ahead and follows next as written from then on', async () => {
    // Pages 1..3 step; page 3 switches to cursors; /p/4 .. /p/9 exist but are not the feed's.
    const pages = numbered(9);
    (pages['http://x/p/3'] as Page).next = '/cursor/c1';
    const cursorPage = (name: string, next: string | null): Page => {
      const url = `http://x/cursor/${name}`;
      return { url, base: url, next, size: 100, count: 1, items: () => [{ kind: 'record', where: `${url}#0`, values: [] }] };
    };
    pages['http://x/cursor/c1'] = cursorPage('c1', '/cursor/c2');
    pages['http://x/cursor/c2'] = cursorPage('c2', null);
    const s = server(pages);
    const out = await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4 });
    expect(out).toEqual([...all(3), 'http://x/cursor/c1#0', 'http://x/cursor/c2#0']);
    // The cursor pages were asked for one by one, as named: no more predicting.
    expect(s.loads.filter((u) => u.includes('cursor'))).toEqual(['http://x/cursor/c1', 'http://x/cursor/c2']);
    const predicted = s.loads.filter((u) => /\/p\/\d+$/.test(u)).map((u) => Number(u.split('/').pop()));
    expect(predicted.slice(0, 2)).toEqual([2, 3]);
    expect(Math.max(...predicted)).toBeLessThanOrEqual(6); // page 3 ends the predicting as soon as it arrives
    expect(s.aborted.length).toBeGreaterThan(0);
    expect(s.inFlight).toBe(0);
  });

  it('a page fetched ahead that fails is no error when the feed turns out not to need it', async () => {
    const pages = numbered(6);
    (pages['http://x/p/2'] as Page).next = '/p/2b';
    pages['http://x/p/3'] = new CarsError('REMOTE_FAILED', 'GET http://x/p/3 failed after 6 attempts: HTTP 503 Service Unavailable');
    const b = numbered(1)['http://x/p/1'] as Page;
    pages['http://x/p/2b'] = { ...b, url: 'http://x/p/2b', base: 'http://x/p/2b', next: null, items: () => [{ kind: 'record', where: 'http://x/p/2b#0', values: [] }] };
    const s = server(pages);
    const out = await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4 });
    expect(out).toEqual([...all(2), 'http://x/p/2b#0']);
    expect(s.loads).toContain('http://x/p/3');
  });

  it('pages predicted past the end (404, an empty page) fail nothing and load nothing; all loads have settled when it ends', async () => {
    for (const pastTheEnd of ['404', 'empty'] as const) {
      const pages = numbered(5);
      if (pastTheEnd === 'empty') {
        for (let p = 6; p <= 12; p++) {
          const url = `http://x/p/${p}`;
          pages[url] = { url, base: url, next: null, size: 20, count: 0, items: () => [] };
        }
      }
      // The last page is slow: everything after it is answered long before.
      const s = server(pages, (u) => (u.endsWith('/p/5') ? 60 : 2));
      const out = await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4 });
      expect(out).toEqual(all(5));
      expect(s.inFlight).toBe(0);
      // Predicting stops at the first page past the end that answers: a few wasted loads, no more.
      const past = s.loads.filter((u) => Number(u.split('/').pop()) > 5);
      expect(past.length).toBeGreaterThan(0);
      expect(past.length).toBeLessThanOrEqual(3);
    }
  });

  it('a needed page that failed fails the run after the pages before it, naming its error', async () => {
    const pages = numbered(8);
    pages['http://x/p/4'] = new CarsError('REMOTE_FAILED', 'GET http://x/p/4 failed after 6 attempts: HTTP 503 Service Unavailable');
    const s = server(pages, (u) => (u.endsWith('/p/4') ? 1 : 15)); // it fails before the pages before it arrive
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of pageItems(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4 })) seen.push(...c.map((i) => String(i.where)));
      })(),
    ).rejects.toThrow('GET http://x/p/4 failed after 6 attempts: HTTP 503 Service Unavailable');
    expect(seen).toEqual(all(3));
    expect(s.inFlight).toBe(0);
  });

  it('the loop check still holds while predicting', async () => {
    const pages = numbered(6);
    (pages['http://x/p/3'] as Page).next = '/p/1';
    const s = server(pages);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of pageItems(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4 })) seen.push(...c.map((i) => String(i.where)));
      })(),
    ).rejects.toThrow(/pagination loop: page 3 \(http:\/\/x\/p\/3\) has next http:\/\/x\/p\/1, which is page 1/);
    expect(seen).toEqual(all(3));
    expect(s.inFlight).toBe(0);
  });

  it('an empty page in the middle that names the predicted next: predicting goes on past it', async () => {
    const pages = numbered(10);
    const empty = pages['http://x/p/3'] as Page;
    pages['http://x/p/3'] = { ...empty, count: 0, items: () => [] };
    const s = server(pages);
    const out = await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 3 });
    expect(out).toEqual(all(10).filter((w) => !w.includes('/p/3#')));
    expect(s.maxInFlight).toBe(3);
  });

  it('a page waiting to retry does not hold a fetch: the pages after it are fetched meanwhile', async () => {
    const pages = numbered(12);
    const sent: string[] = [];
    let fetching = 0;
    let mostFetching = 0;
    const waitingToRetry = new Set<string>();
    // Pages 3 and 4 fail once and wait 80 ms to retry; every other fetch takes 5 ms. Counted as
    // fetches, the two would hold both of the 2 fetches at once for those 80 ms.
    const load = async (url: string, _signal: AbortSignal, onBackoff: (waiting: boolean) => void): Promise<Page> => {
      const fetchOnce = async () => {
        sent.push(url);
        fetching++;
        mostFetching = Math.max(mostFetching, fetching);
        await new Promise((r) => setTimeout(r, 5));
        fetching--;
      };
      await fetchOnce();
      if ((url.endsWith('/p/3') || url.endsWith('/p/4')) && !waitingToRetry.has(url)) {
        waitingToRetry.add(url);
        onBackoff(true);
        await new Promise((r) => setTimeout(r, 80));
        onBackoff(false);
        await fetchOnce();
      }
      return pages[url] as Page;
    };
    const out = await wheres(pages['http://x/p/1'] as Page, { load, resolve, parallel: 2 });
    expect(out).toEqual(all(12));
    // While pages 3 and 4 waited, the fetching slid on past them: up to the end before their retries.
    expect(sent.lastIndexOf('http://x/p/3')).toBeGreaterThan(sent.indexOf('http://x/p/12'));
    expect(sent.lastIndexOf('http://x/p/4')).toBeGreaterThan(sent.indexOf('http://x/p/12'));
    expect(mostFetching).toBeLessThanOrEqual(2);
  });

  it('once a page fetched ahead shows the end, the pages after it are called off before they are sent', async () => {
    const pages = numbered(6);
    const sent: string[] = [];
    const calledOff: string[] = [];
    // A rate limit: one request every 20 ms, in order; a page called off while it waits is never sent.
    let nextSlot = 0;
    const load = async (url: string, signal: AbortSignal): Promise<Page> => {
      const wait = Math.max(0, nextSlot - performance.now());
      nextSlot = Math.max(nextSlot, performance.now()) + 20;
      await new Promise<void>((resolveWait, rejectWait) => {
        const t = setTimeout(resolveWait, wait);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          calledOff.push(url);
          rejectWait(signal.reason);
        });
      });
      sent.push(url);
      const page = pages[url];
      if (page === undefined) throw new CarsError('REMOTE_FAILED', `GET ${url} failed: HTTP 404 Not Found`);
      return page as Page;
    };
    // The consumer is slow: without calling off, every page predicted past the end would be sent by the time it gets there.
    const out = await wheres(pages['http://x/p/1'] as Page, { load, resolve, parallel: 8 }, () => new Promise((r) => setTimeout(r, 30)));
    expect(out).toEqual(all(6));
    expect(sent.slice(0, 5)).toEqual([2, 3, 4, 5, 6].map((p) => `http://x/p/${p}`));
    expect(sent.filter((u) => Number(u.split('/').pop()) > 6)).toEqual([]);
    expect(calledOff.length).toBeGreaterThan(0);
    expect(calledOff.every((u) => Number(u.split('/').pop()) > 6)).toBe(true);
  });

  it('holds no more ahead than the budget of bytes and of pages', async () => {
    const pages = numbered(10); // 100 each
    const s = server(pages);
    const held: number[] = [];
    // The consumer is slow: the fetching would run far ahead without the budget.
    await wheres(pages['http://x/p/1'] as Page, { load: s.load, resolve, parallel: 4, aheadBytes: 250 }, async () => {
      await new Promise((r) => setTimeout(r, 30));
      held.push(s.loads.length);
    });
    // Page n being consumed: pages up to n + 2 asked for (2 x 100 + the next estimate 100 > 250 stops a third).
    expect(held.slice(0, 5)).toEqual([2, 3, 4, 5, 6]);

    const t = server(pages);
    const count: number[] = [];
    await wheres(pages['http://x/p/1'] as Page, { load: t.load, resolve, parallel: 4, aheadPages: 1 }, async () => {
      await new Promise((r) => setTimeout(r, 30));
      count.push(t.loads.length);
    });
    expect(count.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
  });
});
