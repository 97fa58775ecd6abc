// The import merge reads the temporary staging table a batch is copied into. To explain it, the
// table is made and filled inside the transaction that is rolled back afterwards, with a batch
// like a dealer's export brings: cars already listed (half of them with a new price) and new ones.
import type postgres from 'postgres';
import { STAGING } from '../import/writer.js';

type Tx = postgres.Sql<Record<string, never>>;


/** `cars import`'s default --batch-size. */
export const STAGED_ROWS = 10000;

/** Does this query text read the staging table? */
export function readsStaging(text: string): boolean {
  return /\bcars_staging\b/.test(text);
}

/**
 * Creates and fills cars_staging; returns how many rows it holds. `new`: only new cars (the
 * batch the fresh-load insert expects), each a listed car's values under a fresh VIN.
 */
export async function fillStaging(tx: Tx, kind: 'mixed' | 'new' = 'mixed', rows = STAGED_ROWS): Promise<number> {
  await tx.unsafe(STAGING);
  // Each car picked is staged as a new car, and for a mix also as itself (listed).
  const picked = kind === 'new' ? rows : Math.floor(rows / 2);
  const listed = kind === 'new' ? 0 : picked;
  // Rows of existing cars spread over the table; the new cars copy them under fresh VINs (md5 hex
  // is a valid VIN alphabet), interleaved as in a real file.
  const [r] = await tx`
    with bounds as (select min(id) as lo, max(id) as hi from cars),
    picked as (
      select c.*, g.n
      from bounds
      cross join lateral generate_series(bounds.lo, bounds.hi, greatest(1, (bounds.hi - bounds.lo) / ${picked})) with ordinality as g(id, n)
      join cars c on c.id = g.id
      limit ${picked}
    ), staged as (
      insert into cars_staging (ord, vin, brand, model, year, price, mileage, condition, color, listed_at)
      select 2 * n, vin, brand, model, year::text,
             (case when n % 2 = 0 then round(price * 0.97, 2) else price end)::text,
             mileage::text, condition, color, listed_at::text
      from picked
      where n <= ${listed}
      union all
      select 2 * n + 1, upper(substr(md5(vin || 'new'), 1, 17)), brand, model, year::text, price::text,
             mileage::text, condition, color, listed_at::text
      from picked
      returning 1
    )
    select count(*)::int as n from staged`;
  return r.n as number;
}
