-- A hash index on VIN beside cars_vin_key, for the lookups of one VIN: an import's merge probes
-- cars once per staged row, and a hash probe reads one bucket page where the btree descends three
-- levels comparing VINs on each (an unchanged re-import of 1M cars on PostgreSQL 15: 5.0-5.2 s
-- with the btree alone, 4.2-4.4 s with this; docs/performance.md). cars_vin_key stays: it keeps
-- VINs unique, and the merge's INSERT ... ON CONFLICT names it. The price sync probes its sorted
-- batches through the btree, whose neighbouring lookups share pages.
create index if not exists cars_vin_hash on cars using hash (vin);
