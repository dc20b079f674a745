-- Move a granted entry to now (never back): the request it stands for is leaving only
-- now. Safe within a window of the grant: no permit granted since then was counted on
-- this entry having left.
-- KEYS: conn req, model req.  ARGV: member.
local now = now_ms()
for i = 1, 2 do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if score and tonumber(score) < now then redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1]) end
end
return 1
