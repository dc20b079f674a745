-- After an answer, in one round trip: settle the permit's reserved tokens to what the
-- call used, then learn the limits from the answer's headers.
-- KEYS: conn req, tok, sum, lim, model req, tok, sum, lim, conn models
-- ARGV: window_ms, model, limit_req, limit_tok, remaining_req, remaining_tok, ttl_ms,
--       member_id, permit_id ('' = nothing to settle), reserved, actual, learn ('1' or '')
local ttl = tonumber(ARGV[7])
if ARGV[9] ~= '' then
  for s = 0, 1 do
    local tok, sum = KEYS[2 + 4 * s], KEYS[3 + 4 * s]
    local old = ARGV[9] .. '|' .. ARGV[10]
    local score = redis.call('ZSCORE', tok, old)
    if score then
      redis.call('ZREM', tok, old)
      redis.call('ZADD', tok, score, ARGV[9] .. '|' .. ARGV[11])
      redis.call('INCRBY', sum, tonumber(ARGV[11]) - tonumber(ARGV[10]))
      redis.call('PEXPIRE', sum, ttl)
    end
  end
end
if ARGV[12] ~= '1' then return 0 end
local window = tonumber(ARGV[1])
local now = now_ms()
local lreq, ltok = tonumber(ARGV[3]), tonumber(ARGV[4])
local rreq, rtok = tonumber(ARGV[5]), tonumber(ARGV[6])
if lreq then redis.call('HSET', KEYS[9], ARGV[2] .. '|rpm', lreq) end
if ltok then redis.call('HSET', KEYS[9], ARGV[2] .. '|tpm', ltok) end
redis.call('PEXPIRE', KEYS[9], 86400000)
-- The model's own limits, and the connection's: the highest of any model.
if lreq then redis.call('HSET', KEYS[8], 'rpm', lreq) end
if ltok then redis.call('HSET', KEYS[8], 'tpm', ltok) end
redis.call('PEXPIRE', KEYS[8], 86400000)
local all = redis.call('HGETALL', KEYS[9])
local best = {}
for i = 1, #all, 2 do
  local f = string.match(all[i], '|(%a+)$')
  local v = tonumber(all[i + 1])
  if best[f] == nil or v > best[f] then best[f] = v end
end
for f, v in pairs(best) do redis.call('HSET', KEYS[4], f, v) end
redis.call('PEXPIRE', KEYS[4], 86400000)
-- The server saw more usage than we counted (another client on the same key):
-- hold placeholder entries so we never promise what is not there.
local added = 0
for s = 0, 1 do
  local req, tok, sum = KEYS[1 + 4 * s], KEYS[2 + 4 * s], KEYS[3 + 4 * s]
  prune(req, tok, sum, now - window)
  if lreq and rreq then
    local missing = math.min(lreq, lreq - rreq) - redis.call('ZCARD', req)
    for i = 1, missing do
      redis.call('ZADD', req, now, 'ph-' .. ARGV[8] .. '-' .. i)
      added = added + 1
    end
    redis.call('PEXPIRE', req, ttl)
  end
  if ltok and rtok then
    local missing = (ltok - rtok) - tonumber(redis.call('GET', sum) or '0')
    if missing > 0 then
      redis.call('ZADD', tok, now, 'ph-' .. ARGV[8] .. '|' .. missing)
      redis.call('INCRBY', sum, missing)
      redis.call('PEXPIRE', tok, ttl)
      redis.call('PEXPIRE', sum, ttl)
    end
  end
end
return added
