-- The secondary indexes of cars that an import into an empty table dropped, to build them once its
-- rows are in (sorting once is far cheaper than keeping nine indexes in order row by row, as
-- pgloader does for a new table). The import builds them when it ends, however it ends; a run that
-- died first leaves them here, and the next cars command builds them.
create table if not exists cars_deferred_indexes (
  name        text primary key,
  -- pg_get_indexdef() of the index, as it was dropped
  definition  text not null,
  run_id      bigint references runs (id) on delete set null,
  deferred_at timestamptz not null default now()
);
