-- The run history (`cars runs`): which host and process run a run, when it last showed it was
-- alive (a run whose process is gone becomes `abandoned`), and the timeline of its figures.
alter table runs
  add column if not exists host text,
  add column if not exists pid integer,
  add column if not exists heartbeat_at timestamptz,
  add column if not exists timeline jsonb;
-- Finding the runs still marked running is cheap however long the history grows.
create index if not exists runs_running_idx on runs (id) where status = 'running';
create index if not exists runs_started_at_idx on runs (started_at);
-- The summary keeps the order it was written in (jsonb sorts keys), so `cars runs show` prints the
-- report as it was printed.
alter table runs alter column summary type json using summary::json;
