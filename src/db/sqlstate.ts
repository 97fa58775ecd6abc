// What a server error says about the statement that met it: the data is wrong (isolate the rows),
// or the moment was (retry the whole batch). One place, so import and sync judge alike.
import postgres from 'postgres';
import { isConnectionError } from './pool.js';

/**
 * Errors that say nothing about the rows: the same statement may well succeed a moment later.
 * 40P01 deadlock, 40001 serialization failure, 57014 statement timeout (or cancel), 55P03 lock
 * not available (lock_timeout), 53300 too many connections, 53000/53200 out of resources.
 * (Admin shutdown, 57P01, is a lost connection: pool.ts.)
 */
const TRANSIENT = new Set(['40P01', '40001', '57014', '55P03', '53300', '53000', '53200']);

/** The waits between retries of a batch after a transient error: 250 ms, then up to 10 s apart (with full jitter). */
export const TRANSIENT_BACKOFF = { baseMs: 250, factor: 2, capMs: 10_000 };

export function isTransientError(e: unknown): boolean {
  return e instanceof postgres.PostgresError && TRANSIENT.has(e.code);
}

/** The server refused the data itself: class 22 (data exception) or 23 (integrity constraint). */
export function isDataError(e: unknown): e is postgres.PostgresError {
  return e instanceof postgres.PostgresError && !isConnectionError(e) && /^2[23]/.test(e.code);
}

/** "57014: canceling statement due to statement timeout", for messages. */
export function describeError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return `${err?.code ? `${err.code}: ` : ''}${err?.message ?? String(e)}`;
}
