// The sync's advisory lock, held on a dedicated connection for the whole run (no idle timeout and
// no max lifetime, which would end the session and drop the lock). The holder writes its host, pid
// and run into sync_lock_holders so that a second run can name it; the lock itself is the
// PostgreSQL advisory lock, which dies with the session, so a crashed run never blocks the next.
import os from 'node:os';
import { CarsError } from '../errors.js';
import { createPool, databaseError, isConnectionError, isLostConnection, POOL_DEFAULTS, type Sql } from '../db/pool.js';
import type { Target } from '../db/target.js';
import { stopRefetchingTypes } from './driver.js';
import { LOCK_CLASS, shardKey, shardLabel, WHOLE_TABLE_KEY, type Shard } from './shard.js';

export interface SyncLock {
  /** False when the lock's session was lost during the run (another sync may have started). */
  stillHeld(): Promise<boolean>;
  release(): Promise<void>;
}

export interface HolderInfo {
  runId: number | null;
  host?: string;
  pid?: number;
}

interface HolderRow {
  backend_pid: number;
  mode: string;
  application_name: string | null;
  client: string | null;
  backend_start: Date | null;
  host: string | null;
  os_pid: number | null;
  run_id: number | null;
  started_at: Date | null;
  lock_name: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : 'an unknown time');

export async function acquireSyncLock(target: Target, shard: Shard | undefined, info: HolderInfo): Promise<SyncLock> {
  // A connection lost while taking the lock (nothing is done yet) is tried once more on a new one;
  // a server that cannot be reached at all is not (a connect timeout would only double).
  const cause = (e: unknown) => (e as CarsError).cause ?? e;
  try {
    return await acquireOnce(target, shard, info);
  } catch (e) {
    if (!isLostConnection(cause(e))) throw e;
    return acquireOnce(target, shard, info).catch((again: CarsError) => {
      throw isConnectionError(cause(again)) ? new CarsError(again.code, `${again.message}; this run changed nothing`, { cause: again }) : again;
    });
  }
}

async function acquireOnce(target: Target, shard: Shard | undefined, info: HolderInfo): Promise<SyncLock> {
  const sql = createPool(target, { ...POOL_DEFAULTS, max: 1, idleTimeout: 0, maxLifetime: 0, statementTimeout: 30_000 });
  stopRefetchingTypes(sql); // it uses no arrays (see driver.ts)
  const name = `cars sync-prices ${shardLabel(shard)}`;
  const mine: number[] = shard ? [WHOLE_TABLE_KEY, shardKey(shard)] : [WHOLE_TABLE_KEY];
  try {
    await sql`select set_config('application_name', ${name}, false)`;
    const tries: Array<[number, 'shared' | 'exclusive']> = shard ? [[WHOLE_TABLE_KEY, 'shared'], [shardKey(shard), 'exclusive']] : [[WHOLE_TABLE_KEY, 'exclusive']];
    for (const [key, mode] of tries) {
      const [r] =
        mode === 'shared'
          ? await sql`select pg_try_advisory_lock_shared(${LOCK_CLASS}::int, ${key}::int) as ok`
          : await sql`select pg_try_advisory_lock(${LOCK_CLASS}::int, ${key}::int) as ok`;
      if (!r.ok) {
        const holders = await describeHolders(sql, key);
        const what = shard ? (key === WHOLE_TABLE_KEY ? `shard ${shardLabel(shard)} (a run over all cars holds the whole table)` : `shard ${shardLabel(shard)}`) : 'all cars';
        throw new CarsError('LOCKED', `another cars sync-prices holds the lock for ${what}: ${holders}; this run changed nothing`);
      }
    }
    await sql`
      insert into sync_lock_holders (backend_pid, lock_name, host, pid, run_id)
      values (pg_backend_pid(), ${name}, ${info.host ?? os.hostname()}, ${info.pid ?? process.pid}, ${info.runId})
      on conflict (backend_pid) do update set lock_name = excluded.lock_name, host = excluded.host, pid = excluded.pid,
        run_id = excluded.run_id, started_at = now()`;
  } catch (e) {
    await sql.end({ timeout: 2 }).catch(() => undefined);
    throw databaseError(e, target);
  }
  return {
    async stillHeld() {
      const [r] = await sql`
        select count(*)::int as n from pg_locks
        where pid = pg_backend_pid() and locktype = 'advisory' and granted
          and classid = ${String(LOCK_CLASS)}::oid and objid = ${String(mine[mine.length - 1])}::oid and objsubid = 2`.catch(() => [{ n: 0 }]);
      return r.n > 0;
    },
    async release() {
      try {
        await sql`delete from sync_lock_holders where backend_pid = pg_backend_pid()`;
        await sql`select pg_advisory_unlock_all()`;
      } catch {
        // Ending the session below releases the lock all the same.
      } finally {
        await sql.end({ timeout: 2 }).catch(() => undefined);
      }
    },
  };
}

/** Who holds a key: host, pid and start of a cars run, or what the server knows of another session. */
async function describeHolders(sql: Sql, key: number): Promise<string> {
  const rows = (await sql`
    select l.pid as backend_pid, l.mode, a.application_name, host(a.client_addr) as client, a.backend_start,
           h.host, h.pid as os_pid, h.run_id, h.started_at, h.lock_name
    from pg_locks l
    left join pg_stat_activity a on a.pid = l.pid
    left join sync_lock_holders h on h.backend_pid = l.pid and (a.backend_start is null or h.started_at >= a.backend_start)
    where l.locktype = 'advisory' and l.granted and l.objsubid = 2
      and l.database = (select oid from pg_database where datname = current_database())
      and l.classid = ${String(LOCK_CLASS)}::oid and l.objid = ${String(key)}::oid
    order by h.started_at nulls last, l.pid`) as unknown as HolderRow[];
  if (!rows.length) return 'its holder has just finished (run again now)';
  const seen = new Set<number>();
  const out: string[] = [];
  for (const r of rows) {
    if (seen.has(r.backend_pid)) continue;
    seen.add(r.backend_pid);
    if (r.host !== null) {
      const about = [r.run_id ? `run ${r.run_id}` : '', r.lock_name ?? ''].filter(Boolean).join(', ');
      out.push(`host ${r.host}, pid ${r.os_pid}, started ${iso(r.started_at)}${about ? ` (${about})` : ''}`);
    } else {
      out.push(
        `database session ${r.backend_pid}${r.application_name ? ` (application_name "${r.application_name}")` : ''}, client ${r.client ?? 'local socket'}, connected since ${iso(r.backend_start)}`,
      );
    }
  }
  return out.join('; ');
}
