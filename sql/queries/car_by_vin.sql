-- name: car_by_vin
-- budget_ms: 50
-- index: cars_vin_hash
-- params: some_vin
-- One car by its VIN, as an operator or the per-car price sync looks it up.
select id, vin, brand, model, year, price, mileage, condition, color, listed_at, created_at, updated_at
from cars
where vin = $1
