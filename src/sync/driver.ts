// Two guards around postgres.js 3.4.9 for a run whose connections may be killed mid-way.
import { isConnectionError, type Sql } from '../db/pool.js';

/**
 * The connection went away (as opposed to the server refusing a statement). Adds to pool.ts's list
 * what a killed connection also shows up as when a query is written to its socket after the kill.
 */
export function connectionLost(e: unknown): boolean {
  if (isConnectionError(e)) return true;
  const code = (e as { code?: string })?.code;
  return code === 'ECONNABORTED' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_SOCKET_CLOSED';
}

/**
 * postgres.js reads the array types (`select b.oid, b.typarray from pg_type ...`) on every new
 * connection, from a promise nobody handles: a connection killed or cut during that query rejects
 * it unhandled, and Node ends the process (exit 1) in the middle of the run. The types it reads go
 * into the pool's shared options on the first connection, so once the pool has connected (the
 * runner's `select 1` did), later connections need not read them again: turning the fetch off then
 * closes that window and arrays keep working. (Belongs in src/db/database.ts after `select 1`.)
 */
export function stopRefetchingTypes(sql: Sql): void {
  sql.options.fetch_types = false;
}
