// One transaction on a reserved connection, safe when the connection dies under it.
//
// Not sql.begin(): when its connection dies, sql.begin() sends ROLLBACK on it, and a reserved
// connection released after it closed goes back to the pool as open; either way postgres.js
// 3.4.9 later writes to the closed socket from a timer and crashes the process (TypeError:
// Cannot read properties of null (reading 'write')). Here a dead connection gets neither.
import postgres from 'postgres';
import { isConnectionError, type Sql } from './pool.js';

export type Tx = postgres.ReservedSql<Record<string, never>>;

/** Thrown by a transaction's body to roll it back on a connection that is fine. */
export class Rollback extends Error {}

export async function inTransaction<T>(sql: Sql, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const c = (await sql.reserve()) as unknown as Tx;
  let alive = true;
  try {
    // BEGIN goes out with the body's first statements instead of taking a round trip of its own:
    // the server answers in order, so the body's first answer comes after BEGIN's, and on one
    // connection a BEGIN that failed fails the statements after it too.
    const begun = c`begin`;
    begun.catch(() => {}); // (sends it; its error, if any, is awaited below)
    const result = await fn(c);
    await begun;
    await c`commit`;
    return result;
  } catch (e) {
    // Only a statement the server refused, or the body's own Rollback, leaves a live connection.
    alive = e instanceof Rollback || (e instanceof postgres.PostgresError && !isConnectionError(e));
    if (alive) await c`rollback`.catch(() => (alive = false));
    throw e;
  } finally {
    if (alive) c.release();
  }
}
