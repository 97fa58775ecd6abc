// A price feed that lists a VIN in two batches (a repeat within one batch is superseded there):
// the writers applied both, in order, so the car ends at the last price, but the history holds a
// row per batch, one of them a price that never stood. After the feed, set-based, in one
// transaction: each car's rows of the run become one (the first old price, the last new price);
// the others count as superseded, and a car that ended where it began has no row left.
import type { Sql } from '../db/pool.js';

export interface Collapsed {
  /** History rows removed because a later row of the same car superseded them. */
  superseded: number;
  /** Cars whose last price is the one they had before the run: their change is undone. */
  backToStart: number;
}

export async function collapseRepeats(sql: Sql, runId: number): Promise<Collapsed> {
  return sql.begin(async (tx) => {
    const [r] = await tx`
      with dup as (
        select car_id, count(*)::int as n, min(id) as first_id, max(id) as last_id
        from car_price_history where run_id = ${runId}
        group by car_id having count(*) > 1
      ), fixed as (
        update car_price_history h set old_price = f.old_price
        from dup d join car_price_history f on f.id = d.first_id
        where h.id = d.last_id
        returning h.id
      ), dropped as (
        delete from car_price_history h using dup d
        where h.run_id = ${runId} and h.car_id = d.car_id and h.id <> d.last_id
        returning 1
      )
      select (select count(*)::int from dropped) as superseded, (select count(*)::int from fixed) as fixed`;
    if (r.superseded === 0) return { superseded: 0, backToStart: 0 };
    const back = await tx`delete from car_price_history where run_id = ${runId} and old_price = new_price`;
    return { superseded: r.superseded, backToStart: back.count };
  });
}
