// One transaction on a reserved connection, safe when the connection dies under it.
//
// Not sql.begin(): when its connection dies, sql.begin() sends ROLLBACK on it, and a reserved
// connection released after it closed goes back to the pool as open; either way postgres.js
// 3.4.9 later writes to the closed socket from a timer and crashes the process (TypeError:
// Cannot read properties of null (reading 'write')). Here a dead connection gets neither.
import postgres from 'postgres';
import { isConnectionError, type Sql } from './pool.js';

export type Tx = postgres.ReservedSql<Record<string, never>>;

/**
 * Sends COMMIT right away, behind the statements already sent, without waiting for their answers:
 * if one of them fails, the server turns this COMMIT into a ROLLBACK. Resolves when it is done.
 */
export type CommitNow = () => Promise<unknown>;

/**
 * Waits for a step of the body, or throws when `signal` aborts first, unless COMMIT went out (then
 * the transaction's fate is the server's, and its answer is awaited). Lets a run that is stopping
 * leave a batch that is stuck (postgres.js 3.4.9 can leave a COPY's writable() pending for ever
 * after connections were killed) without that batch being able to commit afterwards.
 */
export type Until = <T>(step: Promise<T>) => Promise<T>;

const committedMaybe = new WeakSet<object>();

/** The connection was lost after COMMIT went out: the transaction may have committed, or not. */
export function commitInDoubt(e: unknown): boolean {
  return typeof e === 'object' && e !== null && committedMaybe.has(e);
}

/**
 * A reserved connection, or an error: after a long wait (a connection error, see below), or when
 * `signal` aborts. postgres.js 3.4.9 can leave a reserve() waiting for ever after connections
 * of the pool were killed, though the server has idle ones; a connection that comes after all is
 * released at once.
 */
async function reserve(sql: Sql, signal: AbortSignal | undefined): Promise<Tx> {
  const pending = sql.reserve() as unknown as Promise<Tx>;
  // Long enough for the pool's other connections to finish a statement each (more writers than
  // connections wait their turn), however slow: the connect timeout and twice the statement timeout.
  const statementMs = Number((sql.options.connection as { statement_timeout?: number } | undefined)?.statement_timeout) || 300_000;
  const seconds = Math.ceil((Number(sql.options.connect_timeout) || 30) + (2 * statementMs) / 1000);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no database connection within ${seconds} s`), { code: 'CONNECT_TIMEOUT' })), seconds * 1000);
    if (signal) {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([pending, limit]);
  } catch (e) {
    pending.then((c) => c.release(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

export async function inTransaction<T>(sql: Sql, signal: AbortSignal | undefined, fn: (tx: Tx, commitNow: CommitNow, until: Until) => Promise<T>): Promise<T> {
  const c = await reserve(sql, signal);
  let alive = true;
  let committing: Promise<unknown> | undefined;
  const until: Until = (step) => {
    if (!signal || committing) return step;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      step.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  };
  const commitNow: CommitNow = () => {
    if (!committing && signal?.aborted) return Promise.reject(signal.reason);
    committing ??= c`commit`;
    committing.catch(() => {}); // (sends it; awaited by the body, and below)
    return committing;
  };
  try {
    // BEGIN goes out with the body's first statements instead of taking a round trip of its own:
    // the server answers in order, so the body's first answer comes after BEGIN's, and on one
    // connection a BEGIN that failed fails the statements after it too.
    const begun = c`begin`;
    begun.catch(() => {}); // (sends it; its error, if any, is awaited below)
    const result = await fn(c, commitNow, until);
    await begun;
    await commitNow();
    return result;
  } catch (e) {
    // Only a statement the server refused leaves a live connection (a ROLLBACK after a COMMIT
    // sent early is answered with a warning, no harm).
    alive = e instanceof postgres.PostgresError && !isConnectionError(e);
    if (alive) await c`rollback`.catch(() => (alive = false));
    else if (committing && typeof e === 'object' && e !== null) committedMaybe.add(e);
    throw e;
  } finally {
    if (alive) c.release();
  }
}

/**
 * A transaction that is always rolled back (BEGIN `mode` ... ROLLBACK), on a reserved connection,
 * with inTransaction's care: a connection that died under it gets no ROLLBACK and is not released,
 * and the body's error (CONNECTION_CLOSED, 57P01, ...) reaches the caller as it is.
 */
export async function inRolledBackTransaction<T>(sql: Sql, mode: 'read only' | 'read write', fn: (tx: Tx) => Promise<T>): Promise<T> {
  const c = (await sql.reserve()) as unknown as Tx;
  let alive = true;
  try {
    await c.unsafe(`begin ${mode}`);
    return await fn(c);
  } catch (e) {
    alive = e instanceof postgres.PostgresError && !isConnectionError(e);
    throw e;
  } finally {
    if (alive) alive = await c`rollback`.then(() => true, () => false);
    if (alive) c.release();
  }
}
