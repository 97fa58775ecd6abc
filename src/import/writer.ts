// Writing one batch: COPY into an all-text staging table (so the COPY itself cannot be refused,
// see API-NOTES on postgres.js#1173), then the named merge query, in one transaction.
// When the server refuses a batch the validator let through, the batch is split in halves until
// the refused rows are alone: those are rejected, every other row still loads.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import postgres from 'postgres';
import type { Sql } from '../db/pool.js';
import { isConnectionError } from '../db/pool.js';
import { namedQuery } from '../db/queries.js';
import { inTransaction } from '../db/transaction.js';
import { chunked, copyLine } from './copy-text.js';
import type { CarRow } from './validate.js';

/** One valid row waiting for its batch, kept small: millions pass through in constant memory. */
export interface StagedRow {
  /** Where it came from: a line number, or a page and index. */
  where: number | string;
  /** Its line for COPY into cars_staging, starting with its position in the input (the later row of a VIN wins). */
  copy: string;
  /** The record's original fields joined by US (0x1f), for the rejects file. */
  orig: string;
}

export const FIELD_SEP = '\x1f';

export function stageRow(ord: number, where: number | string, r: CarRow, fields: Array<string | undefined>): StagedRow {
  return {
    where,
    copy: copyLine([ord, r.vin, r.brand, r.model, r.year, r.price, r.mileage, r.condition, r.color, r.listed_at]),
    orig: fields.join(FIELD_SEP),
  };
}

export interface BatchResult {
  inserted: number;
  updated: number;
  unchanged: number;
  superseded: number;
  refused: Array<{ row: StagedRow; error: string }>;
}

/** The all-text staging table a batch is copied into (also explained by `cars explain`). */
export const STAGING = `create temp table if not exists cars_staging (
  ord integer, vin text, brand text, model text, year text, price text, mileage text,
  condition text, color text, listed_at text) on commit delete rows`;
/** How long the server may take to acknowledge a batch's COPY once all of it was sent. */
const COPY_ACK_MS = 5_000;
const COPY_COLUMNS = ['ord', 'vin', 'brand', 'model', 'year', 'price', 'mileage', 'condition', 'color', 'listed_at'];

function* lines(rows: StagedRow[]) {
  for (const r of rows) yield r.copy;
}

async function mergeOnce(sql: Sql, rows: StagedRow[]): Promise<Omit<BatchResult, 'refused'>> {
  const merge = namedQuery('import_merge').text;
  return inTransaction(sql, async (c) => {
    await c.unsafe(STAGING);
    const copy = c`copy cars_staging (${c(COPY_COLUMNS)}) from stdin`;
    const writable = await copy.writable();
    // When the connection dies mid-COPY, the stream errors again while being destroyed, after
    // pipeline() stopped listening: without a listener that late 'error' would crash the process.
    writable.on('error', () => {});
    // postgres.js acknowledges the end of a COPY only when the server answers; when the
    // connection died after our last chunk, it never does (porsager/postgres#1173), so a
    // watchdog starts once the input is exhausted.
    const watchdog = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    async function* input() {
      yield* chunked(lines(rows));
      timer = setTimeout(() => watchdog.abort(new Error(`COPY not acknowledged within ${COPY_ACK_MS / 1000} s`)), COPY_ACK_MS);
    }
    await pipeline(Readable.from(input()), writable, { signal: watchdog.signal }).finally(() => clearTimeout(timer)).catch((e) => {
      // The staging table takes any text, so a failed COPY is a connection that went away
      // (the stream reports it as a premature close, or worse).
      if (e instanceof postgres.PostgresError || isConnectionError(e)) throw e;
      throw Object.assign(new Error(`connection lost during COPY: ${e?.message ?? e}`, { cause: e }), { code: 'CONNECTION_CLOSED' });
    });
    const [r] = await c.unsafe(merge);
    const distinct = Number(r.distinct_rows);
    const inserted = Number(r.inserted);
    const updated = Number(r.updated);
    return { inserted, updated, unchanged: distinct - inserted - updated, superseded: rows.length - distinct };
  });
}

/** Writes a batch; connection errors are thrown (the caller retries), refusals are isolated. */
export async function writeBatch(sql: Sql, rows: StagedRow[]): Promise<BatchResult> {
  try {
    return { ...(await mergeOnce(sql, rows)), refused: [] };
  } catch (e) {
    if (!(e instanceof postgres.PostgresError) || isConnectionError(e)) throw e;
    if (rows.length === 1) {
      return { inserted: 0, updated: 0, unchanged: 0, superseded: 0, refused: [{ row: rows[0], error: `refused by the database: ${e.message}${e.detail ? ` (${e.detail})` : ''}` }] };
    }
    const mid = rows.length >> 1;
    const a = await writeBatch(sql, rows.slice(0, mid));
    const b = await writeBatch(sql, rows.slice(mid));
    return {
      inserted: a.inserted + b.inserted,
      updated: a.updated + b.updated,
      unchanged: a.unchanged + b.unchanged,
      superseded: a.superseded + b.superseded,
      refused: [...a.refused, ...b.refused],
    };
  }
}
