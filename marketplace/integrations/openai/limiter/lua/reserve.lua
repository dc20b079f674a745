-- Reserve a call's estimated cost against every budget it falls under, all or none.
-- KEYS: per budget i, KEYS[2i-1] its spent counter for this month (tokens, or
--   micro-USD; real costs, settled) and KEYS[2i] its reservations in flight (a sorted
--   set: member "<id>:<amount>", score = when it lapses, ms, should its call never
--   settle).
-- ARGV[1]: the keys' time to live (s); ARGV[2]: how long a reservation holds (ms);
--   ARGV[3]: the reservation's id; then per budget i, ARGV[4+3(i-1)..6+3(i-1)]: seed
--   (what the database says was spent this month, used when the counter is missing),
--   limit, amount.
-- Returns 0 when reserved; i when budget i refuses the call for good (spent + amount
-- would pass it); -i when only the reservations in flight stand in its way (try again).
local ttl = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local budgets = #KEYS / 2
local busy = 0
for i = 1, budgets do
  local spent_key, held_key = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 4 + 3 * (i - 1)
  redis.call('SET', spent_key, ARGV[base], 'NX', 'EX', ttl)
  redis.call('ZREMRANGEBYSCORE', held_key, '-inf', now)
  local spent = tonumber(redis.call('GET', spent_key))
  local limit = tonumber(ARGV[base + 1])
  local amount = tonumber(ARGV[base + 2])
  if spent >= limit or spent + amount > limit then
    return i
  end
  if busy == 0 then
    local held = 0
    for _, member in ipairs(redis.call('ZRANGE', held_key, 0, -1)) do
      held = held + tonumber(string.match(member, ':(%d+)$'))
    end
    if spent + held + amount > limit then
      busy = i
    end
  end
end
if busy > 0 then
  return -busy
end
local lapses = now + tonumber(ARGV[2])
for i = 1, budgets do
  redis.call('ZADD', KEYS[2 * i], lapses, ARGV[3] .. ':' .. ARGV[6 + 3 * (i - 1)])
  redis.call('EXPIRE', KEYS[2 * i], ttl)
end
return 0
