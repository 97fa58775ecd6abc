-- The data model of DESIGN.md.
create table cars (
  id          bigint generated always as identity primary key,
  vin         text not null unique check (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
  brand       text not null check (length(brand) between 1 and 200),
  model       text not null check (length(model) between 1 and 200),
  year        integer not null check (year >= 1886),
  price       numeric(12,2) not null check (price >= 0),
  mileage     integer check (mileage >= 0),
  condition   text not null default 'available' check (condition in ('available', 'sold', 'reserved')),
  color       text check (length(color) <= 200),
  listed_at   timestamptz,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

create table runs (
  id           bigint generated always as identity primary key,
  command      text not null,
  source       text,
  started_at   timestamptz not null default now(),
  finished_at  timestamptz,
  status       text not null default 'running',
  counts       jsonb not null default '{}',
  peak_rss_mb  numeric(10,1),
  error        text,
  summary      jsonb
);

create table car_price_history (
  id          bigint generated always as identity primary key,
  car_id      bigint not null references cars (id) on delete cascade,
  old_price   numeric(12,2),
  new_price   numeric(12,2) not null,
  changed_at  timestamptz not null default now(),
  run_id      bigint references runs (id)
);
create index car_price_history_car_idx on car_price_history (car_id, changed_at);
create index car_price_history_run_idx on car_price_history (run_id);

-- The performance guide's indexes. Its "created in the last 30 days" partial index cannot exist
-- (index predicates must be immutable, NOW() is not); recent listings use the created_at indexes.
-- created_at carries id as a tie-breaker so keyset pagination on (created_at, id) uses it.
create index cars_brand_idx on cars (brand);
create index cars_price_idx on cars (price);
create index cars_year_idx on cars (year);
create index cars_created_at_idx on cars (created_at desc, id desc);
create index cars_brand_price_idx on cars (brand, price);
create index cars_available_brand_year_price_idx on cars (brand, year, price) where condition = 'available';
create index cars_available_created_at_idx on cars (created_at desc, id desc) where condition = 'available';
