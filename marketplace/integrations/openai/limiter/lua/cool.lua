-- After a 429: no permits until the cool-down ends. A longer cool-down is never
-- shortened by a shorter one.
-- KEYS: cool.  ARGV: ms.
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
