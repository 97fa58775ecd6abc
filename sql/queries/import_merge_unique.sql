-- name: import_merge_unique
-- budget_ms: 500
-- index: cars_vin_key
-- The import merge of a batch whose VINs are all different (the importer knows): import_merge
-- without the sort that finds each VIN's last row. The rest is the same; keep them in step.
with staged as (
  select vin, brand, model, year::integer as year, price::numeric(12,2) as price,
         mileage::integer as mileage, condition, color, listed_at::timestamptz as listed_at
  from cars_staging
), changed as (
  select s.* from staged s
  left join cars c on c.vin = s.vin
  where c.vin is null
     or (c.brand, c.model, c.year, c.price, c.mileage, c.condition, c.color, c.listed_at)
        is distinct from
        (s.brand, s.model, s.year, s.price, s.mileage, s.condition, s.color, s.listed_at)
), merged as (
  insert into cars as c (vin, brand, model, year, price, mileage, condition, color, listed_at)
  select vin, brand, model, year, price, mileage, condition, color, listed_at from changed
  on conflict (vin) do update set
    brand = excluded.brand, model = excluded.model, year = excluded.year, price = excluded.price,
    mileage = excluded.mileage, condition = excluded.condition, color = excluded.color,
    listed_at = excluded.listed_at, updated_at = now()
  where (c.brand, c.model, c.year, c.price, c.mileage, c.condition, c.color, c.listed_at)
        is distinct from
        (excluded.brand, excluded.model, excluded.year, excluded.price, excluded.mileage,
         excluded.condition, excluded.color, excluded.listed_at)
  returning (xmax = 0) as inserted
)
select (select count(*) from staged) as distinct_rows,
       count(*) filter (where inserted) as inserted,
       count(*) filter (where not inserted) as updated
from merged
