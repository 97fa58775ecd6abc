-- name: recent_listings
-- budget_ms: 50
-- index: cars_available_created_at_idx
-- params: 'available', null, null, null, null, null, null, cursor_at, cursor_id, 50
-- The listing behind `cars search`, newest first: $1 condition, $2 brand, $3 model, $4 and $5
-- the price range, $6 and $7 the model years, each null when not asked for; $8 and $9 the
-- (created_at, id) of the last row of the previous page, null for the first page (keyset
-- pagination: never OFFSET); $10 the page size. Rows inserted while someone pages are newer
-- than the cursor, so they neither show up on later pages nor shift them.
-- Explained as the recent available listings, second page: (created_at desc, id desc) where
-- available serves the order and the keyset condition. A null filter folds away when the plan is
-- made for the given values (the driver sends these as unnamed statements: custom plans).
-- created_at comes back as text with microseconds, exact enough for the next cursor, and goes in
-- as text too ($8): a timestamptz parameter would pass through a JS Date and lose them. ORDER BY
-- names cars.created_at, not the text column of the same name.
select id, vin, brand, model, year, price, mileage, condition, color, listed_at,
       to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at
from cars
where ($1::text is null or condition = $1)
  and ($2::text is null or brand = $2)
  and ($3::text is null or model = $3)
  and ($4::numeric is null or price >= $4)
  and ($5::numeric is null or price <= $5)
  and ($6::integer is null or year >= $6)
  and ($7::integer is null or year <= $7)
  and ($8::text is null or (cars.created_at, cars.id) < ($8::text::timestamptz, $9::bigint))
order by cars.created_at desc, cars.id desc
limit $10
