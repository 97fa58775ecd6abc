-- Snapshot imports (`cars import --source NAME --snapshot`): the dealer a car came from, the
-- history of condition changes (a car marked sold because its dealer's full export no longer
-- lists it, and back), and the VINs a snapshot run has read so far (until it ends).
alter table cars add column if not exists source text;
-- The marking reads a source's available and reserved cars. Cars without a source are not in it:
-- an import without --source pays nothing for it.
create index if not exists cars_source_active_idx on cars (source) where source is not null and condition in ('available', 'reserved');

create table if not exists car_condition_history (
  id             bigint generated always as identity primary key,
  car_id         bigint not null references cars (id) on delete cascade,
  old_condition  text,
  new_condition  text not null,
  changed_at     timestamptz not null default now(),
  run_id         bigint references runs (id),
  -- snapshot: marked sold, missing from its source's export; relisted: back in one after that
  reason         text not null
);
create index if not exists car_condition_history_car_idx on car_condition_history (car_id, changed_at);
create index if not exists car_condition_history_run_idx on car_condition_history (run_id);

-- Written by each batch of a snapshot run, in the batch's transaction; emptied when the run ends.
-- Unlogged: it is scratch space, and a crash loses only what an interrupted run would not use.
create unlogged table if not exists snapshot_seen (
  run_id  bigint not null,
  vin     text not null
);
-- (run_id, vin): the marking's anti-join probes it, should the planner not hash the run's VINs.
create index if not exists snapshot_seen_run_vin_idx on snapshot_seen (run_id, vin);
