// Realistic parameters drawn from the data, so a query is explained the way it runs in production:
// the most common brand rather than one nobody sells, VINs and prices of cars that exist. Every
// draw reads an index or a bounded sample, so it stays cheap on a big table.
import type postgres from 'postgres';
import type { Samples } from './params.js';

type Db = postgres.Sql<Record<string, never>> | postgres.TransactionSql<Record<string, never>>;

/** The ISO form with microseconds that keyset cursors carry (a JS Date keeps milliseconds only). */
export const ISO_MICROS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/** How many rows the brand's price and year percentiles are drawn from. */
const PERCENTILE_SAMPLE = 20_000;
/** Batch writes are explained with this many rows (the brief's `vin_array_1000`). */
export const BATCH_ROWS = 1000;

export async function drawSamples(sql: Db): Promise<Samples> {
  // The planner's own statistics name the most common brand without reading the table; a table
  // never analyzed falls back to counting.
  const [stat] = await sql`
    select (most_common_vals::text::text[])[1] as brand
    from pg_stats
    where schemaname = current_schema() and tablename = 'cars' and attname = 'brand' and most_common_vals is not null`;
  let brand = (stat?.brand as string | undefined) ?? null;
  if (brand === null) {
    const [top] = await sql`select brand from cars group by brand order by count(*) desc, brand limit 1`;
    brand = (top?.brand as string | undefined) ?? null;
  }

  // A quarter to three quarters of the brand's prices and model years.
  const [pct] = await sql`
    select percentile_disc(0.25) within group (order by price)::text as price_low,
           percentile_disc(0.75) within group (order by price)::text as price_high,
           percentile_disc(0.25) within group (order by year) as year_low,
           percentile_disc(0.75) within group (order by year) as year_high
    from (select price, year from cars where brand = ${brand} limit ${PERCENTILE_SAMPLE}) s`;

  // Cars spread evenly over the table (by id), for the VIN lookup and the batch writes; their
  // new prices move by a few percent, as a nightly price feed does.
  const spread = await sql`
    with bounds as (select min(id) as lo, max(id) as hi from cars)
    select c.vin, c.price::text as price,
           round(c.price * (case when g.n % 2 = 0 then 0.97 else 1.02 end), 2)::text as new_price
    from bounds
    cross join lateral generate_series(bounds.lo, bounds.hi, greatest(1, (bounds.hi - bounds.lo) / ${BATCH_ROWS})) with ordinality as g(id, n)
    join cars c on c.id = g.id
    limit ${BATCH_ROWS}`;
  const middle = spread[Math.floor(spread.length / 2)];

  // The second page of the newest available listings: where `cars search --after` would start.
  const [page2] = await sql.unsafe(
    `select to_char(created_at at time zone 'UTC', ${ISO_MICROS}) as created_at, id
     from cars where condition = 'available'
     order by created_at desc, id desc offset 50 limit 1`,
  );

  return {
    common_brand: brand,
    price_low: pct?.price_low ?? null,
    price_high: pct?.price_high ?? null,
    year_low: pct?.year_low ?? null,
    year_high: pct?.year_high ?? null,
    some_vin: (middle?.vin as string | undefined) ?? null,
    vin_array_1000: spread.map((r) => r.vin as string),
    price_array_1000: spread.map((r) => r.new_price as string),
    cursor_at: (page2?.created_at as string | undefined) ?? null,
    cursor_id: (page2?.id as number | undefined) ?? null,
  };
}
