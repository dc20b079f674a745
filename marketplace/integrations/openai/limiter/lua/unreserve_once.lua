-- Settle a reservation at most once (economy mode's batch reservations, settled when
-- the batch's answers are applied, which a step run again may repeat): the real cost
-- is added only to the budgets whose reservation was still held.
-- KEYS, ARGV: as unreserve.lua's.
for i = 1, #KEYS / 2 do
  if redis.call('ZREM', KEYS[2 * i], ARGV[1] .. ':' .. ARGV[2 * i]) == 1 then
    if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
      redis.call('INCRBY', KEYS[2 * i - 1], ARGV[2 * i + 1])
    end
  end
end
return 0
