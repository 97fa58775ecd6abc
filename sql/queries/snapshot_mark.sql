-- name: snapshot_mark
-- budget_ms: 500
-- index: cars_source_active_idx
-- params: 'dealer-a', null
-- The end of a snapshot import (`--source $1 --snapshot`, run $2): the source's available and
-- reserved cars that its full export did not list (no row in snapshot_seen for the run) become
-- sold, each change recorded in car_condition_history, in this one statement. No per-car
-- statement: the source's active cars come from cars_source_active_idx, the listed VINs are
-- hashed once. Run only once the whole input is committed, and the share it marks was checked
-- against --max-missing (snapshot_missing counts them first, in the same transaction).
with missing as (
  select c.id, c.condition
  from cars c
  where c.source = $1 and c.condition in ('available', 'reserved')
    and not exists (select 1 from snapshot_seen s where s.run_id = $2 and s.vin = c.vin)
  for update of c
), marked as (
  update cars c set condition = 'sold', updated_at = now()
  from missing m
  where c.id = m.id
  returning c.id, m.condition as old_condition
), recorded as (
  insert into car_condition_history (car_id, old_condition, new_condition, run_id, reason)
  select id, old_condition, 'sold', $2, 'snapshot' from marked
  returning 1
)
select count(*) as marked_sold from recorded
