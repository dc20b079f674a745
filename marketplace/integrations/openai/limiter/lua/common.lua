-- Functions the other scripts share (window.py puts this file in front of them: a
-- Redis script cannot load another).
local function prune(req, tok, sum, cutoff)
  redis.call('ZREMRANGEBYSCORE', req, '-inf', cutoff)
  local old = redis.call('ZRANGEBYSCORE', tok, '-inf', cutoff)
  if #old > 0 then
    local freed = 0
    for i = 1, #old do freed = freed + tonumber(string.match(old[i], '|(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', tok, '-inf', cutoff)
    redis.call('DECRBY', sum, freed)
  end
end
local function limit(lim, field, default)
  local v = redis.call('HGET', lim, field)
  return tonumber(v or default)
end
local function now_ms()
  -- Redis < 7 refuses writes after TIME unless effects are replicated.
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
