-- cars sync-prices: who holds a sync's advisory lock, so a second run can name the holder's host,
-- pid and start time. One row per holding database session (backend_pid); a row whose session no
-- longer holds the lock is stale and ignored (readers join pg_locks), and the next holder replaces it.
create table sync_lock_holders (
  backend_pid  integer primary key,
  lock_name    text not null,
  host         text not null,
  pid          integer not null,
  run_id       bigint,
  started_at   timestamptz not null default now()
);

-- One row per price batch written, in the batch's own statement: when the connection drops while a
-- batch is in flight, the retry looks its token up here to learn whether (and with how many
-- changes) the batch committed, so it is neither applied nor counted twice. A run deletes its rows
-- when it ends; rows of crashed runs are deleted after a day by the next run.
create table sync_batches (
  token       uuid primary key,
  run_id      bigint,
  changed     integer not null,
  created_at  timestamptz not null default now()
);
