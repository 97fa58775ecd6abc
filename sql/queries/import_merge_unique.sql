-- name: import_merge_unique
-- budget_ms: 1000
-- index: cars_vin_hash
-- settings: enable_hashjoin=off enable_mergejoin=off
-- The import merge of a batch whose VINs are all different (the importer knows, and its writers
-- split VINs between them): no sort to find each VIN's last row, and a plain INSERT of the new
-- cars and an UPDATE of the changed ones at the row versions the join found (by ctid) instead of
-- INSERT ... ON CONFLICT, which probed cars_vin_key two more times per new car. The settings line:
-- see import_merge.sql. Cars equal to what is stored are neither locked nor
-- rewritten; they count as unchanged. Another session writing the same VINs meanwhile shows as a
-- unique violation (nothing is committed) or as fewer updates than expected_updates (a row version
-- updated or deleted since the join is not updated again; the rest is committed): the importer
-- then merges the batch again with import_merge, which is safe against that. (By id, the planner
-- probed cars_pkey for its highest id, which a burst of rolled-back inserts made take 300 ms.)
-- A changed price is recorded in car_price_history with the price the UPDATE replaced (the row
-- version the join found is the one updated, or none is).
-- The source: the session's cars.source (a run with --source sets it), else the car keeps its own.
with staged as (
  select vin, brand, model, year::integer as year, price::numeric(12,2) as price,
         mileage::integer as mileage, condition, color, listed_at::timestamptz as listed_at,
         nullif(current_setting('cars.source', true), '') as source
  from cars_staging
), changed as (
  select s.*, c.ctid as at, c.price as old_price, coalesce(s.source, c.source) as new_source
  from staged s
  left join cars c on c.vin = s.vin
  where c.vin is null
     or (c.brand, c.model, c.year, c.price, c.mileage, c.condition, c.color, c.listed_at, c.source)
        is distinct from
        (s.brand, s.model, s.year, s.price, s.mileage, s.condition, s.color, s.listed_at, coalesce(s.source, c.source))
), inserted as (
  insert into cars (vin, brand, model, year, price, mileage, condition, color, listed_at, source)
  select vin, brand, model, year, price, mileage, condition, color, listed_at, source
  from changed
  where at is null
  returning 1
), updated as (
  update cars c set
    brand = ch.brand, model = ch.model, year = ch.year, price = ch.price, mileage = ch.mileage,
    condition = ch.condition, color = ch.color, listed_at = ch.listed_at, source = ch.new_source, updated_at = now()
  from changed ch
  where c.ctid = ch.at
  returning c.id, ch.old_price, c.price as new_price
), history as (
  -- Every price change is in car_price_history, whatever made it; the run id comes from the
  -- batch's transaction (set_config('cars.run_id', ...), with the planner settings).
  insert into car_price_history (car_id, old_price, new_price, run_id)
  select id, old_price, new_price, nullif(current_setting('cars.run_id', true), '')::bigint
  from updated
  where old_price is distinct from new_price
)
-- (Every row of the batch is distinct: the importer knows how many it sent. Counting them here
-- would read staged a second time, which made it a stored CTE instead of part of the join.)
select inserted, updated, expected_updates,
       -- A batch that changed nothing has nothing to lose in a crash: its commit need not wait
       -- for the disk (decided here, so that the importer may send COMMIT right behind this).
       set_config('synchronous_commit', case when inserted + updated = 0 then 'off' else current_setting('synchronous_commit') end, true) as commit_mode
from (select (select count(*) from inserted) as inserted,
             (select count(*) from updated) as updated,
             (select count(*) from changed where at is not null) as expected_updates) as counts
