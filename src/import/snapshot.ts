// Snapshot imports: a source's full inventory. The VINs a run lists are written to snapshot_seen
// by each batch (in its transaction) and by the rejects (a refused row is no proof of a sale); once
// every row is committed, the source's available and reserved cars it did not list become sold,
// in one transaction, unless that is more than --max-missing percent of them.
import type { Sql } from '../db/pool.js';
import { namedQuery } from '../db/queries.js';
import { CarsError } from '../errors.js';
import { validateVin } from '../car.js';

export interface SnapshotFigures {
  source: string;
  /** Distinct VINs the input listed (rows loaded, and rejected rows with a valid VIN). */
  listed: number;
  /** The source's available and reserved cars that the input did not list. */
  missing: number;
  marked_sold: number;
  /** Cars marked sold by an earlier snapshot of this source that this one lists again. */
  relisted: number;
  /** A dry run: the first of the cars it would mark sold. */
  would_mark?: string[];
}

/** VINs listed outside the batches (rejected rows; every row of a dry run), written to snapshot_seen in batches (bounded memory). */
export class ListedVins {
  private vins: string[] = [];

  constructor(
    private readonly sql: Sql,
    private readonly runId: number,
  ) {}

  async add(vin: string | undefined): Promise<void> {
    const v = validateVin(vin);
    if (!v.ok) return;
    this.vins.push(v.vin);
    if (this.vins.length >= 5000) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.vins.length) return;
    const vins = this.vins;
    this.vins = [];
    await this.sql`insert into snapshot_seen (run_id, vin) select ${this.runId}, unnest(${vins}::text[])`;
  }
}

/**
 * Marks the missing cars sold (or not, over the threshold: then MAX_MISSING, exit 3), records the
 * relisted ones, and says what it did. `dryRun`: counts only.
 */
export async function finishSnapshot(sql: Sql, source: string, runId: number, maxMissingPct: number, dryRun = false): Promise<SnapshotFigures> {
  // The listed VINs were just written: without statistics the planner takes them for a handful
  // and probes them once per car (a 1M-car inventory ran past the statement timeout).
  await sql`analyze snapshot_seen`;
  return sql.begin(async (tx) => {
    const [{ listed }] = await tx`select count(distinct vin)::int as listed from snapshot_seen where run_id = ${runId}`;
    // (A join, not NOT EXISTS inside the aggregate's FILTER: that ran as a subplan per car.)
    const [{ active, missing }] = await tx`
      select count(*)::int as active, count(*) filter (where s.vin is null)::int as missing
      from cars c
      left join (select distinct vin from snapshot_seen where run_id = ${runId}) s on s.vin = c.vin
      where c.source = ${source} and c.condition in ('available', 'reserved')`;
    const figures: SnapshotFigures = { source, listed, missing, marked_sold: 0, relisted: 0 };
    // Back in the export after a snapshot had marked them sold: recorded as relisted.
    const relisted = await tx`
      with last as (
        select distinct on (h.car_id) h.car_id, h.new_condition, h.reason
        from car_condition_history h join cars c on c.id = h.car_id
        where c.source = ${source}
        order by h.car_id, h.changed_at desc, h.id desc
      )
      ${dryRun ? tx`select count(*)::int as n from last join cars c on c.id = last.car_id` : tx`, back as (
        insert into car_condition_history (car_id, old_condition, new_condition, run_id, reason)
        select c.id, 'sold', c.condition, ${runId}, 'relisted'
        from last join cars c on c.id = last.car_id`}
      where last.reason = 'snapshot' and last.new_condition = 'sold' and c.condition <> 'sold'
        and exists (select 1 from snapshot_seen s where s.run_id = ${runId} and s.vin = c.vin)
      ${dryRun ? tx`` : tx`returning 1) select count(*)::int as n from back`}`;
    figures.relisted = relisted[0].n;
    const pct = active ? (100 * missing) / active : 0;
    if (missing > 0 && pct > maxMissingPct) {
      throw Object.assign(
        new CarsError(
          'MAX_MISSING',
          `the snapshot of ${source} would mark ${missing} of its ${active} available and reserved cars sold (${pct.toFixed(1)}%, more than --max-missing ${maxMissingPct}): nothing was marked (the rows loaded). A truncated or partial export looks like this; if the dealer really sold them, run again with --max-missing ${Math.min(100, Math.ceil(pct))}`,
        ),
        { figures },
      );
    }
    if (dryRun && missing > 0) {
      const first = await tx`
        select c.vin from cars c
        where c.source = ${source} and c.condition in ('available', 'reserved')
          and not exists (select 1 from snapshot_seen s where s.run_id = ${runId} and s.vin = c.vin)
        order by c.vin limit 10`;
      figures.would_mark = first.map((r) => r.vin as string);
    }
    if (!dryRun && missing > 0) {
      const [{ marked_sold }] = await tx.unsafe(namedQuery('snapshot_mark').text, [source, runId]);
      figures.marked_sold = Number(marked_sold);
    }
    return figures;
  });
}

/** The run's listed VINs are scratch: removed when it ends, whatever happened. */
export async function forgetListed(sql: Sql, runId: number): Promise<void> {
  await sql`delete from snapshot_seen where run_id = ${runId}`;
}
