-- name: available_by_brand_year_price
-- budget_ms: 50
-- index: cars_available_brand_year_price_idx
-- params: common_brand, year_low, year_high, price_high, 50
-- Cars for sale of one brand, model years $2 to $3, at most $4, a page of $5 at a time, by model
-- year and then price: the order of the partial (brand, year, price) index, so the page is read
-- straight from it.
select id, vin, brand, model, year, price, mileage, condition, color, listed_at, created_at
from cars
where condition = 'available'
  and brand = $1
  and year between $2 and $3
  and price <= $4
order by year, price, id
limit $5
