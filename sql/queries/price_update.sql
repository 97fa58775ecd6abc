-- name: price_update
-- budget_ms: 500
-- index: cars_vin_hash
-- params: ["{1HGCM82633A004352,JTDPYMZAXL1PYWYK1}", "{12500,10850.50}", null, "00000000-0000-4000-8000-000000000000"]
-- settings: enable_hashjoin=off enable_mergejoin=off
-- One batch of `cars sync-prices`: $1 VINs and $2 prices (parallel arrays), $3 the run id (null
-- when there is no run), $4 a token naming the batch. Writes only the prices that differ, records
-- each change in car_price_history and the batch in sync_batches, all in this one statement, so in
-- one transaction (it runs on its own: no BEGIN/COMMIT round trips, and nothing to roll back on a
-- dead connection).
-- The VINs of one batch must be distinct: the writer keeps only the last row of a VIN repeated
-- within a batch (the earlier counts as superseded), so one history row records the price that stands.
-- The batch is probed in input order, through cars_vin_hash (migration 012): sorting it by VIN
-- first paid (7%) only while the probe descended cars_vin_key; with the hash index it was a cost.
-- Plan: every join must be a nested loop over an index (cars_vin_hash, then cars_pkey); the writers'
-- connections start with hash and merge joins off (the settings line), because
-- the planner takes every batch row for a change and, from about 10k rows, hashed the whole of
-- cars three times (1M cars, 10k rows: 660 ms a batch instead of about 100). Unknown VINs are therefore
-- the probe's rows without a car (a left join), not an anti join, which without hashing would
-- compare every pair of the batch's rows.
-- Concurrency: `probe` reads the snapshot; only rows whose price differs there are locked, and
-- FOR UPDATE re-reads the newest committed version and checks the price again, so old_price is the
-- price actually replaced even when another writer (cars import) changed it meanwhile. A row made
-- equal meanwhile is skipped; a row made different after our snapshot is left to that writer, which
-- committed later than the price we compare with: either order is a valid serial history.
-- When the connection drops before the answer arrives, the retry looks the token up in
-- sync_batches: found, the batch committed (with `changed` changes) and is not written again.
with probe as materialized (
  select f.vin, f.price as new_price, c.id, c.price as seen_price
  from unnest($1::text[], $2::numeric[]) as f(vin, price)
  left join cars c on c.vin = f.vin
), locked as (
  select c.id, c.price as old_price, k.new_price
  from probe k
  join cars c on c.id = k.id
  where k.seen_price is distinct from k.new_price
    and c.price is distinct from k.new_price
  for update of c
), changed as (
  update cars c set price = l.new_price, updated_at = now()
  from locked l
  where c.id = l.id
  returning c.id, l.old_price, c.price as new_price
), history as (
  insert into car_price_history (car_id, old_price, new_price, run_id)
  select id, old_price, new_price, $3::bigint from changed
  returning car_id
), batch as (
  insert into sync_batches (token, run_id, changed)
  select $4::uuid, $3::bigint, count(*) from history
  returning changed
)
select (select count(id) from probe)::int as known,
       (select changed from batch) as changed,
       (select coalesce(array_agg(p.vin), '{}') from probe p where p.id is null) as unknown
