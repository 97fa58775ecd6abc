-- name: search_by_brand_price
-- budget_ms: 50
-- index: cars_brand_price_idx
-- params: common_brand, price_low, price_high, 50
-- One brand in a price range, cheapest first, a page at a time: $1 brand, $2 and $3 the lowest
-- and highest price, $4 the page size. (brand, price) hands the rows over in price order, so
-- only a page is read, not every car of the brand.
select id, vin, brand, model, year, price, mileage, condition, color, listed_at, created_at
from cars
where brand = $1
  and price between $2 and $3
order by price, id
limit $4
