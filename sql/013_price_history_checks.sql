-- car_price_history without per-row foreign-key checks. Its rows are written only by cars, in the
-- statement that changes the price they record (price_update, the import's merges): car_id is a car
-- that statement has just updated, and run_id the run doing it. The two foreign keys checked each
-- row again anyway, one query and one row lock (FOR KEY SHARE) per key and row: a `sync-prices
-- --feed` of 1M cars with 100k changed prices took 5.63 s with them and 5.21 s with this migration
-- (PostgreSQL 15, medians of 5 alternating rounds; docs/performance.md).
-- What the keys did is kept:
-- - deleting a car deletes its price history (was ON DELETE CASCADE): the trigger below, once per
--   statement; TRUNCATE cars (which car_condition_history's key still requires to CASCADE) empties it;
-- - `cars runs prune` sets run_id to null in the history of the runs it deletes, as before.
alter table car_price_history drop constraint if exists car_price_history_car_id_fkey;
alter table car_price_history drop constraint if exists car_price_history_run_id_fkey;

create or replace function cars_price_history_cascade() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    truncate car_price_history;
  else
    delete from car_price_history h using deleted_cars d where h.car_id = d.id;
  end if;
  return null;
end
$$;

drop trigger if exists cars_price_history_delete on cars;
create trigger cars_price_history_delete after delete on cars
  referencing old table as deleted_cars for each statement execute function cars_price_history_cascade();
drop trigger if exists cars_price_history_truncate on cars;
create trigger cars_price_history_truncate after truncate on cars
  for each statement execute function cars_price_history_cascade();
