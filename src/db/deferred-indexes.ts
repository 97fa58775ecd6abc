// Building the secondary indexes of cars after a large load into an empty table instead of during
// it (see sql/011_deferred_indexes.sql). The unique indexes (id, vin) stay: the merges need them.
import type { Sql } from './pool.js';
import type { Logger } from '../logger.js';

// Any constants will do, as long as every cars process uses the same ones.
const DEFER_LOCK = 727_002;

/**
 * Drops the secondary indexes of cars, their definitions recorded first, when the table is empty
 * and no other run has deferred them. Returns the names dropped (none: nothing was deferred).
 */
export async function deferIndexes(sql: Sql, runId: number | null): Promise<string[]> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${DEFER_LOCK})`;
    const [state] = await tx`select exists (select 1 from cars) as has_rows, exists (select 1 from cars_deferred_indexes) as deferred`;
    if (state.has_rows || state.deferred) return [];
    const indexes = await tx`
      select i.relname as name, pg_get_indexdef(i.oid) as definition
      from pg_index x join pg_class i on i.oid = x.indexrelid
      where x.indrelid = 'cars'::regclass and not x.indisunique and not x.indisprimary
      order by i.relname`;
    for (const ix of indexes) {
      await tx`insert into cars_deferred_indexes (name, definition, run_id) values (${ix.name}, ${ix.definition}, ${runId})`;
      await tx.unsafe(`drop index ${quoteIdent(ix.name as string)}`);
    }
    return indexes.map((ix) => ix.name as string);
  }) as Promise<string[]>;
}

/**
 * Builds the deferred indexes, two at a time (each on a connection of its own, with room to sort),
 * and forgets each once built. `onlyLeftovers`: only those of runs no longer running (a run that
 * died), not those of an import still loading. Returns how many were built.
 */
export async function buildDeferredIndexes(sql: Sql, opts: { onlyLeftovers?: boolean } = {}): Promise<number> {
  const rows = opts.onlyLeftovers
    ? await sql`select d.name, d.definition from cars_deferred_indexes d left join runs r on r.id = d.run_id where r.id is null or r.status <> 'running' order by d.name`
    : await sql`select name, definition from cars_deferred_indexes order by name`;
  let built = 0;
  const queue = [...rows];
  const builder = async () => {
    for (let ix = queue.shift(); ix; ix = queue.shift()) {
      const done = await sql.begin(async (tx) => {
        // One process builds an index; another that comes for it finds it gone from the list.
        await tx`select pg_advisory_xact_lock(${DEFER_LOCK}, hashtext(${ix.name as string}))`;
        const [still] = await tx`delete from cars_deferred_indexes where name = ${ix.name as string} returning name`;
        if (!still) return false;
        await tx`set local maintenance_work_mem = '128MB'`;
        await tx.unsafe(String(ix.definition).replace(/^CREATE INDEX /, 'CREATE INDEX IF NOT EXISTS '));
        return true;
      });
      if (done) built++;
    }
  };
  await Promise.all([builder(), builder()]);
  return built;
}

/** At the start of a command: builds what a run that died left deferred, and says so. */
export async function buildLeftoverIndexes(sql: Sql, log: Logger): Promise<void> {
  const [left] = await sql`select count(*)::int as n from cars_deferred_indexes d left join runs r on r.id = d.run_id where r.id is null or r.status <> 'running'`;
  if (!left?.n) return;
  log.warn(`note: building ${left.n} index${left.n === 1 ? '' : 'es'} of cars that an import which ended early left for after its load`);
  await buildDeferredIndexes(sql, { onlyLeftovers: true });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
