-- name: import_merge
-- budget_ms: 1000
-- index: cars_vin_hash, cars_vin_key
-- settings: enable_hashjoin=off enable_mergejoin=off
-- The import merge: one batch from the all-text staging table into cars. The later row of a VIN
-- wins (highest ord). Rows equal to what is stored are filtered out before the INSERT, so a
-- re-import of unchanged data neither locks nor rewrites a row; they count as unchanged.
-- Settings: the merge probes cars_vin_hash once per staged row. The planner cannot see how few rows
-- the staging table holds (a temporary table is never analyzed): from a few thousand rows, or
-- after a rolled-back batch left it bloated, it hashed the whole of cars instead (1M cars: 380 ms
-- a batch instead of 25). A batch is always small next to the table it merges into.
-- The source: the session's cars.source (a run with --source sets it), else the car keeps its own.
with staged as (
  select distinct on (vin) vin, brand, model, year::integer as year, price::numeric(12,2) as price,
         mileage::integer as mileage, condition, color, listed_at::timestamptz as listed_at,
         nullif(current_setting('cars.source', true), '') as source
  from cars_staging
  order by vin, ord desc
), changed as (
  select s.*, c.id as car_id, c.price as old_price from staged s
  left join cars c on c.vin = s.vin
  where c.vin is null
     or (c.brand, c.model, c.year, c.price, c.mileage, c.condition, c.color, c.listed_at, c.source)
        is distinct from
        (s.brand, s.model, s.year, s.price, s.mileage, s.condition, s.color, s.listed_at, coalesce(s.source, c.source))
), merged as (
  insert into cars as c (vin, brand, model, year, price, mileage, condition, color, listed_at, source)
  select vin, brand, model, year, price, mileage, condition, color, listed_at, source from changed
  on conflict (vin) do update set
    brand = excluded.brand, model = excluded.model, year = excluded.year, price = excluded.price,
    mileage = excluded.mileage, condition = excluded.condition, color = excluded.color,
    listed_at = excluded.listed_at, source = coalesce(excluded.source, c.source), updated_at = now()
  where (c.brand, c.model, c.year, c.price, c.mileage, c.condition, c.color, c.listed_at, c.source)
        is distinct from
        (excluded.brand, excluded.model, excluded.year, excluded.price, excluded.mileage,
         excluded.condition, excluded.color, excluded.listed_at, coalesce(excluded.source, c.source))
  returning (xmax = 0) as inserted
), history as (
  -- Every price change is in car_price_history, whatever made it (run id: see
  -- import_merge_unique). From the join, not from merged: RETURNING cannot name the old price
  -- (before PostgreSQL 18), and joining merged back to changed would compare every pair of rows
  -- without hash joins. So the old price is the one this statement's snapshot saw; a car another
  -- session created or repriced during the batch is recorded as of that snapshot, or not at all.
  insert into car_price_history (car_id, old_price, new_price, run_id)
  select car_id, old_price, price, nullif(current_setting('cars.run_id', true), '')::bigint
  from changed
  where car_id is not null and old_price is distinct from price
)
select (select count(*) from staged) as distinct_rows,
       count(*) filter (where inserted) as inserted,
       count(*) filter (where not inserted) as updated
from merged
