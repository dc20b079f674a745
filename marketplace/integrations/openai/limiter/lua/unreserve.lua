-- Settle a reservation: drop it from each budget's reservations in flight and add the
-- real cost to each spent counter that still exists (a counter gone, e.g. Redis
-- flushed, is seeded from the database again next time).
-- KEYS: as reserve.lua's (spent counter, reservations) per budget.
-- ARGV[1]: the reservation's id; per budget i: ARGV[2i] the amount reserved,
--   ARGV[2i+1] the real cost.
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1] .. ':' .. ARGV[2 * i])
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
    redis.call('INCRBY', KEYS[2 * i - 1], ARGV[2 * i + 1])
  end
end
return 0
