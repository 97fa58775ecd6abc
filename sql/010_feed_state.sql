-- Where a remote feed stands, per command and URL (`cars import <url>`, `cars sync-prices --feed
-- <url>`, the latter per --shard): the first page a paginated feed's last run did not commit, so a
-- rerun resumes there, and the ETag / Last-Modified of the last complete run, so the next run asks
-- with If-None-Match / If-Modified-Since and a 304 ends it at once.
create table if not exists feed_state (
  -- 'import', or 'sync-prices' with its shard ('sync-prices 0/4')
  command               text not null,
  -- the URL as given on the command line, without a #fragment
  url                   text not null,
  -- A run that stopped before the end: the first page not committed, its number (the first page
  -- is 1) and the run. All null when the next run starts at the first page.
  resume_url            text,
  resume_page           integer,
  resume_run            bigint references runs (id) on delete set null,
  -- The first page's validators, from the run that read it: the feed's once a run reaches its end.
  resume_etag           text,
  resume_last_modified  text,
  -- The validators of the last complete run, and that run.
  etag                  text,
  last_modified         text,
  validated_run         bigint references runs (id) on delete set null,
  updated_at            timestamptz not null default now(),
  primary key (command, url)
);
