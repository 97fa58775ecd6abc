// API mode: every car of the table (of this shard, in this condition) is asked for its price.
// The cars are read with keyset pagination (one page in hand, the next one on its way), requests go
// through the run's HTTP client (rate, concurrency, retries), and at most a bounded number of cars
// are in flight at once, so memory stays flat whatever the table size. Answers go to the writers
// as they arrive.
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { CarsError, isCarsError } from '../errors.js';
import { isConnectionError, type Sql } from '../db/pool.js';
import type { HttpClient } from '../http/client.js';
import { validatePrice } from '../car.js';
import type { Progress } from '../progress.js';
import type { RunReport } from '../report.js';
import { scalarText, vinKey } from './feed-rows.js';
import type { CsvList } from '../csv-list.js';
import { shardOf, type Shard } from './shard.js';
import type { PriceWriter } from './writer.js';

export const PAGE_SIZE = 1000;

export interface ApiRun {
  base: string;
  sql: Sql;
  http: HttpClient;
  condition: string | undefined;
  shard: Shard | undefined;
  writer: PriceWriter;
  failures: CsvList;
  unknown: CsvList;
  /** Stop early once more than this many cars failed (the rate is then over the limit whatever comes). */
  maxFailures: number;
  /** Cars asked at once, at most. */
  maxInFlight: number;
  report: RunReport;
  progress: Progress;
  signal: AbortSignal;
}

export interface ApiTally {
  checked: number;
  /** Cars the service answered (a price, a bad price or 404). */
  answered: number;
  /** 404 from the service. */
  unknown: number;
  failed: number;
  skipped: number;
  /** interrupted; failures: over the rate for sure; down: not one answer from the service yet. */
  stop: 'interrupted' | 'failures' | 'down' | undefined;
}

/** The price URL of one car. */
export function priceUrl(base: string, vin: string): string {
  return `${base}/cars/${encodeURIComponent(vin)}/price`;
}

/** What a 2xx answer means: the price to write, or why it cannot be used. */
export function readAnswer(vin: string, data: unknown): { ok: true; price: string } | { ok: false; error: string } {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, error: `the service answered ${Array.isArray(data) ? 'an array' : data === null ? 'null' : typeof data}, not {"vin", "price"}` };
  }
  const o = data as Record<string, unknown>;
  if (o.vin !== undefined && o.vin !== null && vinKey(scalarText(o.vin)) !== vin) {
    return { ok: false, error: `the service answered for another VIN (${JSON.stringify(o.vin)})` };
  }
  const p = validatePrice(scalarText(o.price));
  return p.ok ? p : { ok: false, error: `the service answered an unusable price: ${p.error}` };
}

export async function syncFromApi(r: ApiRun, tally: ApiTally): Promise<void> {
  const { http, writer, report } = r;
  let fatal: unknown;

  const fail = async (vin: string, url: string, error: string) => {
    tally.failed++;
    await r.failures.add([vin, url, error]);
  };
  const check = async (vin: string) => {
    const url = priceUrl(r.base, vin);
    let answer: { status: number; data: unknown };
    try {
      answer = await http.getJson(url);
    } catch (e) {
      if (isCarsError(e) && e.code === 'REMOTE_FAILED') return fail(vin, url, e.message.replace(`GET ${url} `, ''));
      throw e;
    }
    tally.answered++;
    if (answer.status === 404) {
      tally.unknown++;
      await r.unknown.add([vin, url]);
      return;
    }
    const a = readAnswer(vin, answer.data);
    if (!a.ok) return fail(vin, url, a.error);
    await writer.add(vin, a.price);
  };

  // Cars asked at once: at most maxInFlight (the HTTP client's own limit and rate pace the requests).
  const limit = pLimit(r.maxInFlight);
  /** Whether to ask no more cars, and why (checked before each car). */
  const stopping = (): boolean => {
    if (fatal !== undefined || tally.stop) return true;
    if (r.signal.aborted) tally.stop = 'interrupted';
    else if (tally.failed > r.maxFailures) tally.stop = 'failures';
    // The service is down, not one car at fault: stop before asking thousands more in vain.
    else if (tally.answered === 0 && tally.failed >= Math.max(2 * r.maxInFlight, 20)) tally.stop = 'down';
    return !!tally.stop;
  };
  const ask = async (vin: string): Promise<void> => {
    if (stopping()) return;
    tally.checked++;
    await check(vin).catch((e) => {
      fatal ??= e;
    });
  };
  try {
    for await (const page of carPages(r)) {
      const mine = r.shard ? page.filter((vin) => shardOf(vin, r.shard!.count) === r.shard!.index) : page;
      tally.skipped += page.length - mine.length;
      await limit.map(mine, ask);
      r.progress.update(tally.checked, 0);
      if (fatal !== undefined || tally.stop) break;
    }
  } catch (e) {
    fatal ??= e;
  }
  const t0 = performance.now();
  try {
    await writer.close();
  } catch (e) {
    fatal ??= e;
    await writer.settle();
  } finally {
    report.add('flush', performance.now() - t0);
    r.progress.update(tally.checked, 0);
  }
  if (fatal !== undefined) throw writer.finalError(fatal);
}

/** Pages of VINs in VIN order (keyset: `vin > last`), the next page read while this one is asked. */
async function* carPages(r: ApiRun): AsyncGenerator<string[]> {
  const read = async (after: string): Promise<string[]> => {
    const t0 = performance.now();
    const q = () =>
      r.sql`select vin from cars where vin > ${after} ${r.condition ? r.sql`and condition = ${r.condition}` : r.sql``} order by vin limit ${PAGE_SIZE}`;
    try {
      let rows;
      try {
        rows = await q();
      } catch (e) {
        if (!isConnectionError(e)) throw e;
        await sleep(500); // a killed connection: once more on a new one
        rows = await q();
      }
      return rows.map((x) => x.vin as string);
    } catch (e) {
      if (!isConnectionError(e)) throw e;
      throw new CarsError('DB_UNAVAILABLE', `database connection lost and not regained while reading the cars (${(e as { code?: string }).code}): ${r.writer.committedSoFar()}; run the same command again to finish`, { cause: e });
    } finally {
      r.report.add('list', performance.now() - t0);
    }
  };
  let next: Promise<string[]> | undefined = read('');
  while (next) {
    const page: string[] = await next;
    if (page.length === 0) return;
    next = page.length === PAGE_SIZE ? read(page[page.length - 1]) : undefined;
    // Not awaited until the consumer is done with this page; its failure is seen then.
    next?.catch(() => undefined);
    yield page;
  }
}
