-- Check and take a permit, atomically across processes and machines, on Redis' clock.
-- KEYS: conn req, tok, sum, lim, model req, tok, sum, lim, cool, conn waiters, conn later
-- ARGV: window_ms, default_rpm, default_tpm, tokens, member_id, ttl_ms, requests, waiter,
--       pace_ms ('0': no pacing), pace_min (requests always allowed per pace interval),
--       within_ms (a promise only for a wait up to this; '-1': any wait), grace_ms
-- Returns {1, now_ms, tokens} (granted) or {0, wait_ms, reason, learned, promised}.
--
-- Waiters: a caller that names itself (ARGV[8], e.g. an execution id) and is refused
-- for requests (or by pacing) is promised a slot: its wait is the time the (k+1)-th
-- request to leave the window leaves it, k being the waiters promised an earlier slot
-- (a waiter asking again keeps its place). So a crowd that cannot be served is spread
-- over the slots as they free up instead of all coming back at the first one (and all
-- but one being refused again). A promise is always checked again when it comes.
--
-- A promise makes every later caller wait behind it, so it is given only to a caller
-- that will be back on time: one that waits for it in place (`within_ms`: a call
-- thread sleeping a few seconds). A caller told to come back later (an execution put
-- back in the database, claimed again whenever a worker gets to it) gets a place in
-- `later` instead: its wait is counted behind every promise and every earlier place, so
-- such callers come back spread over the slots, but nobody waits for them. (Promises
-- kept for callers that came back late left slots unused: ~70 % of a busy key's limit.)
local window = tonumber(ARGV[1])
local now = now_ms()
local cutoff = now - window
local need = tonumber(ARGV[4])
local n = math.max(1, tonumber(ARGV[7]))
local waiter = ARGV[8]
local waiters, later = KEYS[10], KEYS[11]
local within = tonumber(ARGV[11])
-- Promises are kept GRACE_MS past their time (a waiter waking a little late keeps its
-- slot). `ahead`: those promised before this caller (a waiter coming back keeps its
-- place; a new one goes last; an anonymous caller is only told the first slot).
-- `due`: those of them whose slot has come: the room they were promised is theirs, so
-- nobody else is given it (a newcomer asking the instant a slot frees would take it).
local grace = tonumber(ARGV[12])
redis.call('ZREMRANGEBYSCORE', waiters, '-inf', '(' .. (now - grace))
local ahead, due = 0, 0
if waiter ~= '' then
  local mine = redis.call('ZSCORE', waiters, waiter)
  redis.call('ZREM', waiters, waiter)
  if mine then
    ahead = redis.call('ZCOUNT', waiters, '-inf', '(' .. mine)
    due = redis.call('ZCOUNT', waiters, '-inf', '(' .. math.min(tonumber(mine), now + 1))
  else
    ahead = redis.call('ZCARD', waiters)
    due = redis.call('ZCOUNT', waiters, '-inf', now)
  end
else
  due = redis.call('ZCOUNT', waiters, '-inf', now)
  ahead = due
end
local scopes = {{KEYS[1], KEYS[2], KEYS[3], KEYS[4]}, {KEYS[5], KEYS[6], KEYS[7], KEYS[8]}}
local rpm, tpm = {}, {}
for s = 1, 2 do
  prune(scopes[s][1], scopes[s][2], scopes[s][3], cutoff)
  rpm[s] = math.max(1, limit(scopes[s][4], 'rpm', ARGV[2]))
  tpm[s] = math.max(1, limit(scopes[s][4], 'tpm', ARGV[3]))
  -- A call bigger than the whole budget could never run: it waits for an empty window.
  need = math.min(need, tpm[s])
  n = math.min(n, rpm[s])
end
local learned = redis.call('HEXISTS', KEYS[4], 'rpm')
local pace = tonumber(ARGV[9])
-- When the i-th request (0-based: the `have` entries of `req` sent in the last `span`
-- first, then those to come, one per caller ahead) may leave, if at most `per` may
-- leave in any `span`: `per` places before it there is an entry (or, going back whole
-- spans, a future request) it must be `span` after.
local function slot_at(req, count, have, i, per, span)
  local spans = math.floor((i - have) / per) + 1
  local before = i - per * spans
  local base = now - span
  if before >= 0 then
    local e = redis.call('ZRANGE', req, count - have + before, count - have + before, 'WITHSCORES')
    base = tonumber(e[2])
  end
  return base + span * spans - now
end
-- The wait for the slot of a caller with `ahead` callers before it, for requests.
local function slot_wait(ahead)
  local wait, reason = 0, ''
  for s = 1, 2 do
    local req = scopes[s][1]
    local count = redis.call('ZCARD', req)
    -- The window's room is kept for every caller promised a slot before this one (they
    -- will all have sent theirs within the window); pacing's only for those now due.
    if count + n + ahead > rpm[s] then
      local w = slot_at(req, count, count, count + ahead + n - 1, rpm[s], window)
      if w > wait then wait, reason = w, 'requests' end
    end
    if pace > 0 and redis.call('HEXISTS', scopes[s][4], 'rpm') == 1 then
      -- Pacing, once the key's limit is learned: at most the limit's share of a pace
      -- interval (a 60th of it per second) in the last interval, so a window's budget is
      -- spread over the window.
      local per = math.max(tonumber(ARGV[10]), math.ceil(rpm[s] * pace / window))
      local m = math.min(n, per)
      local recent = redis.call('ZCOUNT', req, '(' .. (now - pace), '+inf')
      if recent + m + due > per then
        local w = slot_at(req, count, recent, recent + ahead + m - 1, per, pace)
        if w > wait then wait, reason = w, 'pace' end
      end
    end
  end
  return wait, reason
end
local wait, reason = slot_wait(ahead)
for s = 1, 2 do
  local tok, sum = scopes[s][2], scopes[s][3]
  local used = tonumber(redis.call('GET', sum) or '0')
  if used + need > tpm[s] then
    local excess = used + need - tpm[s]
    local entries = redis.call('ZRANGE', tok, 0, -1, 'WITHSCORES')
    local freed, w = 0, window
    for i = 1, #entries, 2 do
      freed = freed + tonumber(string.match(entries[i], '|(%d+)$'))
      if freed >= excess then w = tonumber(entries[i + 1]) + window - now; break end
    end
    if w > wait then wait, reason = w, 'tokens' end
  end
end
local cool = redis.call('PTTL', KEYS[9])
if cool > wait then wait, reason = cool, 'cool_down' end
local ttl = tonumber(ARGV[6])
if wait > 0 then
  wait = math.max(1, wait)
  local promised = 0
  if waiter ~= '' and (reason == 'requests' or reason == 'pace') then
    if within < 0 or (wait <= within and learned == 1) then
      redis.call('ZADD', waiters, now + wait, waiter)
      redis.call('PEXPIRE', waiters, ttl)
      redis.call('ZREM', later, waiter)
      promised = 1
    else
      -- Back later: a place behind every promise and every earlier place.
      local mine = redis.call('ZSCORE', later, waiter)
      redis.call('ZREMRANGEBYSCORE', later, '-inf', now)
      redis.call('ZREM', later, waiter)
      local behind = redis.call('ZCARD', waiters)
      if mine then
        behind = behind + redis.call('ZCOUNT', later, '-inf', '(' .. mine)
      else
        behind = behind + redis.call('ZCARD', later)
      end
      local w = slot_wait(behind)
      if w > wait then wait = w end
      redis.call('ZADD', later, now + wait, waiter)
      redis.call('PEXPIRE', later, ttl)
    end
  end
  return {0, wait, reason, learned, promised}
end
if waiter ~= '' then redis.call('ZREM', later, waiter) end
for s = 1, 2 do
  local req, tok, sum = scopes[s][1], scopes[s][2], scopes[s][3]
  redis.call('ZADD', req, now, ARGV[5])
  -- A call of n requests (Assistants v2: create-and-run, polls, messages) takes n entries.
  for i = 2, n do redis.call('ZADD', req, now, ARGV[5] .. '.' .. i) end
  redis.call('ZADD', tok, now, ARGV[5] .. '|' .. need)
  redis.call('INCRBY', sum, need)
  redis.call('PEXPIRE', req, ttl)
  redis.call('PEXPIRE', tok, ttl)
  redis.call('PEXPIRE', sum, ttl)
end
return {1, now, need}
