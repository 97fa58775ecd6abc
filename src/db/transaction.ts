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

export async function inTransaction<T>(sql: Sql, fn: (tx: Tx, commitNow: CommitNow) => Promise<T>): Promise<T> {
  const c = (await sql.reserve()) as unknown as Tx;
  let alive = true;
  let committing: Promise<unknown> | undefined;
  const commitNow: CommitNow = () => {
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
    const result = await fn(c, commitNow);
    await begun;
    await commitNow();
    return result;
  } catch (e) {
    // Only a statement the server refused leaves a live connection (a ROLLBACK after a COMMIT
    // sent early is answered with a warning, no harm).
    alive = e instanceof postgres.PostgresError && !isConnectionError(e);
    if (alive) await c`rollback`.catch(() => (alive = false));
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
