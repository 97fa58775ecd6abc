// A guard around postgres.js 3.4.9 for a run whose connections may be killed mid-way.
import type { Sql } from '../db/pool.js';

/**
 * postgres.js reads the array types (`select b.oid, b.typarray from pg_type ...`) on every new
 * connection, from a promise nobody handles: a connection killed or cut during that query rejects
 * it unhandled, and Node ends the process (exit 1) in the middle of the run. The types it reads go
 * into the pool's shared options on the first connection, so once the pool has connected (the
 * runner's `select 1` did), later connections need not read them again: turning the fetch off then
 * closes that window and arrays keep working. Only for pools that never reserve(): without the
 * fetch, a connection opened for reserve() never serves it (see src/db/database.ts).
 */
export function stopRefetchingTypes(sql: Sql): void {
  sql.options.fetch_types = false;
}
