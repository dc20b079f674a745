"""A rate limiter for OpenAI calls, shared by every worker process through Redis.

Why a sliding-window log and not a token bucket: OpenAI (and the simulator) count in
windows of their own that we cannot see; a token bucket refilled continuously lets
a full burst through right after another one, up to twice the limit in some minute.
Here each granted request is an entry (score = Redis server time in ms) in a sorted
set, and a permit is given only if fewer than `limit` entries fall in the last
`window + margin` seconds. So in ANY window of that length there are at most `limit`
permits, whatever the server's windows are; the small margin absorbs the time between
our permit and the request reaching OpenAI. Tokens work the same way with each entry
carrying its token count (and a running sum, so a check is O(expired entries)).

Pacing (on for the shared limiter, `OPENAI_RATE_LIMIT_PACE`): OpenAI says limits "can be
quantized, meaning they are enforced over shorter periods of time (e.g. 60,000
requests/minute may be enforced as 1,000 requests/second)", so a burst that spends a
minute's budget in ten seconds may be refused although the minute is under its limit.
So once a key's limit is learned, a permit also needs room in the last 60th of the
window: at most ceil(rpm / 60) requests per second, but never fewer than
PACE_MIN_REQUESTS (a small key, e.g. 60 RPM, may still send 10 at once: quantization
matters for big limits, and one request a second would make every late claim a
wasted slot). Before the limit is learned the conservative default window alone
applies. A crowd of callers is then served at the key's steady rate, and
the window's budget spread over the window instead of spent at once and then waited for.

Check-and-take runs in one Lua script, hence atomic across processes and machines,
and uses Redis' clock, hence one clock for all of them.

Scopes: one per connection and one per (connection, model). OpenAI's headers give the
limit of the model that answered; the connection scope uses the highest limit learned
for any model (the simulator limits a key across models; OpenAI per model).

Before the first answer the limits are a conservative default; every answer's
`x-ratelimit-limit-*` sets them, and `-remaining-*` can only shrink what we think is
left (usage from elsewhere on the same key becomes placeholder entries). A 429
`rate_limit_exceeded` sets a cool-down for the connection.

No Django import at module level: worker processes and the benchmark use it bare.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx2
import redis

_PRUNE_AND_LIMITS = """
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
"""

# KEYS: conn req, tok, sum, lim, model req, tok, sum, lim, cool, conn waiters, conn later
# ARGV: window_ms, default_rpm, default_tpm, tokens, member_id, ttl_ms, requests, waiter,
#       pace_ms ('0': no pacing), pace_min (requests always allowed per pace interval),
#       within_ms (a promise only for a wait up to this; '-1': any wait), grace_ms
#
# Waiters: a caller that names itself (ARGV[8], e.g. an execution id) and is refused
# for requests (or by pacing) is promised a slot: its wait is the time the (k+1)-th
# request to leave the window leaves it, k being the waiters promised an earlier slot
# (a waiter asking again keeps its place). So a crowd that cannot be served is spread
# over the slots as they free up instead of all coming back at the first one (and all
# but one being refused again). A promise is always checked again when it comes.
#
# A promise makes every later caller wait behind it, so it is given only to a caller
# that will be back on time: one that waits for it in place (`within_ms`: a call
# thread sleeping a few seconds). A caller told to come back later (an execution put
# back in the database, claimed again whenever a worker gets to it) gets a place in
# `later` instead: its wait is counted behind every promise and every earlier place, so
# such callers come back spread over the slots, but nobody waits for them. (Promises
# kept for callers that came back late left slots unused: ~70 % of a busy key's limit.)
_ACQUIRE = (
    _PRUNE_AND_LIMITS
    + """
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
"""
)

# After an answer, in one round trip: settle the permit's reserved tokens to what the
# call used, then learn the limits from the answer's headers.
# KEYS: conn req, tok, sum, lim, model req, tok, sum, lim, conn models
# ARGV: window_ms, model, limit_req, limit_tok, remaining_req, remaining_tok, ttl_ms,
#       member_id, permit_id ('' = nothing to settle), reserved, actual, learn ('1' or '')
_SETTLE = (
    _PRUNE_AND_LIMITS
    + """
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
"""
)

# KEYS: conn req, model req.  ARGV: member.  Move a granted entry to now (never back):
# the request it stands for is leaving only now. Safe within a window of the grant: no
# permit granted since then was counted on this entry having left.
_TOUCH = (
    _PRUNE_AND_LIMITS
    + """
local now = now_ms()
for i = 1, 2 do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if score and tonumber(score) < now then redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1]) end
end
return 1
"""
)

# KEYS: cool.  ARGV: ms.  A longer cool-down is never shortened by a shorter one.
_COOL = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""


# Pacing never allows fewer requests than this per 60th of the window (see above).
PACE_MIN_REQUESTS = 10
# A promised slot is kept this long past its time for its waiter (see _ACQUIRE).
PROMISE_GRACE_SECONDS = 0.5


@dataclass(frozen=True)
class Permit:
    """Permission for one call. Pass it to `record_response` to settle its tokens."""

    connection_key: str
    model: str
    id: str
    tokens: int  # tokens reserved
    granted_at_ms: int  # Redis time
    requests: int = 1  # entries taken (one per HTTP request the call makes)
    granted_monotonic: float = 0.0  # this process's clock, to tell how long ago


@dataclass(frozen=True)
class Wait:
    """No permit: try again after `seconds` (the caller reschedules; never a long sleep)."""

    seconds: float
    reason: str  # "requests" | "pace" | "tokens" | "cool_down"
    # False while the connection's limits are still the defaults (no answer seen yet):
    # the wait is then only as good as the guess, and the first answer may raise it.
    learned: bool = True
    # True: the slot is promised to this waiter (later callers wait behind it), so it
    # must ask again when told. False: a time to come back; nobody waits for it.
    promised: bool = False


@dataclass(frozen=True)
class ScopeState:
    requests_limit: int
    tokens_limit: int
    requests_used: int
    tokens_used: int
    learned: bool  # False: still the default limits


@dataclass(frozen=True)
class LimiterState:
    connection_key: str
    connection: ScopeState
    models: dict[str, ScopeState] = field(default_factory=dict)
    cool_down_seconds: float = 0.0


def estimate_tokens(*texts: str, output_allowance: int = 256) -> int:
    """What a call will cost before we know: characters / 4 (rounded up) of everything
    sent, plus an allowance for the answer (the simulator and OpenAI charge it too)."""
    return sum(math.ceil(len(t) / 4) for t in texts if t) + output_allowance


def _int_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    try:
        return str(int(float(value))) if value not in (None, "") else ""
    except ValueError:
        return ""


class RateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        *,
        window_seconds: float = 60.0,
        margin_seconds: float = 1.5,
        default_requests: int = 60,
        default_tokens: int = 40_000,
        prefix: str = "crmflow:openai:rl",
        pace: bool = False,
    ) -> None:
        self.redis = client
        # Entries count for window + margin: see the module docstring.
        self.window_ms = int((window_seconds + margin_seconds) * 1000)
        # Pacing (see "Pacing" in the module docstring): a 60th of the window.
        self.pace_ms = int(window_seconds * 1000 / 60) if pace else 0
        self.default_requests = default_requests
        self.default_tokens = default_tokens
        self.prefix = prefix
        self._ttl_ms = self.window_ms * 2
        self._acquire = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)
        self._touch = client.register_script(_TOUCH)
        self._remembered: dict[str, float] = {}
        self._cool = client.register_script(_COOL)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> RateLimiter:
        return cls(redis.Redis.from_url(url), **kwargs)

    @classmethod
    def from_settings(cls) -> RateLimiter:
        """The shared limiter (settings.REDIS_URL). Defaults for unknown limits come from
        OPENAI_RATE_LIMIT_DEFAULT_RPM / _TPM when set."""
        from django.conf import settings

        return cls.from_url(
            settings.REDIS_URL,
            default_requests=getattr(settings, "OPENAI_RATE_LIMIT_DEFAULT_RPM", 60),
            default_tokens=getattr(settings, "OPENAI_RATE_LIMIT_DEFAULT_TPM", 40_000),
            pace=getattr(settings, "OPENAI_RATE_LIMIT_PACE", True),
        )

    # Keys share a {connection} hash tag so that a Redis Cluster keeps them in one slot.
    # A model scope always gets its own keys, even for an unknown ("") model.
    def _scope(self, connection_key: str, model: str | None) -> list[str]:
        base = f"{self.prefix}:{{{connection_key}}}" + (
            "" if model is None else f":m:{model or '?'}"
        )
        return [f"{base}:req", f"{base}:tok", f"{base}:sum", f"{base}:lim"]

    def _key(self, connection_key: str, name: str) -> str:
        return f"{self.prefix}:{{{connection_key}}}:{name}"

    def acquire(
        self,
        connection_key: str,
        model: str,
        estimated_tokens: int,
        *,
        requests: int = 1,
        waiter: str | None = None,
        promise_within: float | None = None,
    ) -> Permit | Wait:
        """A permit for one call of `requests` requests and about `estimated_tokens`
        tokens, or how long to wait. `waiter` (e.g. an execution id) names a caller that
        comes back when told: refused callers are then given successive slots. With
        `promise_within`, a slot is promised (`Wait.promised`) only if it comes within
        that many seconds and the key's limits are learned — the caller then waits for
        it in place; a longer wait gives a place among those who come back later."""
        member = uuid.uuid4().hex
        keys = self._scope(connection_key, None) + self._scope(connection_key, model)
        keys += [
            self._key(connection_key, "cool"),
            self._key(connection_key, "waiters"),
            self._key(connection_key, "later"),
        ]
        args = [
            self.window_ms,
            self.default_requests,
            self.default_tokens,
            max(0, int(estimated_tokens)),
            member,
            self._ttl_ms,
            max(1, int(requests)),
            waiter or "",
            self.pace_ms,
            PACE_MIN_REQUESTS,
            -1 if promise_within is None else max(0, int(promise_within * 1000)),
            int(PROMISE_GRACE_SECONDS * 1000),
        ]
        answer = self._acquire(keys=keys, args=args)
        granted, value, extra = answer[:3]
        if not granted:
            return Wait(
                seconds=int(value) / 1000,
                reason=extra.decode() if isinstance(extra, bytes) else str(extra),
                learned=bool(answer[3]),
                promised=bool(answer[4]),
            )
        self._remember(connection_key)
        return Permit(
            connection_key,
            model,
            member,
            int(extra),
            int(value),
            requests=max(1, int(requests)),
            granted_monotonic=time.monotonic(),
        )

    def touch(self, permit: Permit, index: int = 0) -> None:
        """The `index`-th request of the permit's call is being sent now: move its entry
        to now (see `sending`)."""
        if index >= permit.requests:
            return
        member = permit.id if index == 0 else f"{permit.id}.{index + 1}"
        keys = [
            self._scope(permit.connection_key, None)[0],
            self._scope(permit.connection_key, permit.model)[0],
        ]
        self._touch(keys=keys, args=[member])

    def record_response(
        self,
        connection_key: str,
        model: str,
        headers: Mapping[str, str],
        actual_tokens: int | None = None,
        permit: Permit | None = None,
    ) -> None:
        """Learn limits from an answer's x-ratelimit-* headers (an error's too) and settle
        the permit's reserved tokens to what the call actually used (one round trip)."""
        settle = permit is not None and actual_tokens is not None and actual_tokens != permit.tokens
        h = {k.lower(): v for k, v in headers.items()}
        values = [
            _int_header(h, "x-ratelimit-limit-requests"),
            _int_header(h, "x-ratelimit-limit-tokens"),
            _int_header(h, "x-ratelimit-remaining-requests"),
            _int_header(h, "x-ratelimit-remaining-tokens"),
        ]
        learn = any(values)
        if settle and learn and permit.model != model:  # two scopes: one call each
            self.record_response(connection_key, permit.model, {}, actual_tokens, permit)
            settle = False
        if not settle and not learn:
            return
        keys = self._scope(connection_key, None) + self._scope(
            connection_key, permit.model if settle else model
        )
        keys.append(self._key(connection_key, "models"))
        self._settle(
            keys=keys,
            args=[
                self.window_ms,
                model,
                *values,
                self._ttl_ms,
                uuid.uuid4().hex,
                permit.id if settle else "",
                permit.tokens if settle else 0,
                max(0, int(actual_tokens)) if settle else 0,
                "1" if learn else "",
            ],
        )

    def _remember(self, connection_key: str) -> None:
        """List the connection for the status page: once a minute per process, not a
        round trip on every permit."""
        now = time.monotonic()
        if now - self._remembered.get(connection_key, -3600.0) > 60:
            self.redis.sadd(f"{self.prefix}:connections", connection_key)
            self._remembered[connection_key] = now

    def cool_down(self, connection_key: str, seconds: float) -> None:
        """After a 429 rate_limit_exceeded: no permits for this connection for `seconds`."""
        if seconds > 0:
            self._cool(keys=[self._key(connection_key, "cool")], args=[math.ceil(seconds * 1000)])

    def connections(self) -> list[str]:
        """Connections that got a permit recently (for the system status page)."""
        return sorted(m.decode() for m in self.redis.smembers(f"{self.prefix}:connections"))

    def state(self, connection_key: str) -> LimiterState:
        """Limits and current use, read-only (for a status page; may be a little stale)."""
        models_hash = self.redis.hgetall(self._key(connection_key, "models"))
        models = sorted({k.decode().rsplit("|", 1)[0] for k in models_hash})
        cool = self.redis.pttl(self._key(connection_key, "cool"))
        return LimiterState(
            connection_key=connection_key,
            connection=self._scope_state(connection_key, None),
            models={m: self._scope_state(connection_key, m) for m in models},
            cool_down_seconds=max(0, cool) / 1000,
        )

    def _scope_state(self, connection_key: str, model: str | None) -> ScopeState:
        req, tok, _sum, lim = self._scope(connection_key, model)
        now_s, now_us = self.redis.time()
        cutoff = now_s * 1000 + now_us // 1000 - self.window_ms
        limits = {k.decode(): int(v) for k, v in self.redis.hgetall(lim).items()}
        tokens_used = sum(
            int(m.decode().rsplit("|", 1)[1])
            for m in self.redis.zrangebyscore(tok, f"({cutoff}", "+inf")
        )
        return ScopeState(
            requests_limit=limits.get("rpm", self.default_requests),
            tokens_limit=limits.get("tpm", self.default_tokens),
            requests_used=self.redis.zcount(req, f"({cutoff}", "+inf"),
            tokens_used=tokens_used,
            learned=bool(limits),
        )


# --- Counting a request from when it leaves --------------------------------------------
#
# The window's margin (1.5 s) covers the time from a permit to its request reaching
# OpenAI. On a starved machine (threads waiting for the GIL, a CPU shared with other
# work) that time can be longer, and a request counted from its permit could then fall
# into the same OpenAI minute as a full window's worth of later ones. So the OpenAI
# client's httpx "request" hook (client.py) calls `request_leaving`: a request sent
# more than TOUCH_AFTER_SECONDS after its permit moves its entry to the time it leaves.

TOUCH_AFTER_SECONDS = 0.25
_in_flight = threading.local()


@contextmanager
def sending(limiter: RateLimiter, permit: Permit, *, deadline: float | None = None):
    """Run the call of `permit` inside this: its HTTP requests are counted from when
    they leave (see above), and a request beyond those the permit took waits for a
    permit of its own until `deadline` (time.monotonic()). Nesting is not supported;
    one call per thread at a time."""
    _in_flight.state = [limiter, permit, 0, deadline]
    try:
        yield
    finally:
        _in_flight.state = None


def request_leaving(_request=None) -> None:
    """httpx "request" event hook: the current thread's call sends a request now."""
    state = getattr(_in_flight, "state", None)
    if not state:
        return
    limiter, permit, index, deadline = state
    state[2] = index + 1
    if index >= permit.requests:
        _extra_permit(limiter, permit, deadline)
    elif time.monotonic() - permit.granted_monotonic > TOUCH_AFTER_SECONDS:
        limiter.touch(permit, index)


class NoPermitInTime(httpx2.TimeoutException):
    """A request beyond its call's permit found no permit before the call's deadline."""


def _extra_permit(limiter: RateLimiter, permit: Permit, deadline: float | None) -> None:
    """A request the permit did not count (an Assistants run polled more often than
    planned, or a cancel) waits here for a permit of its own, so the key never sees
    more than its limit. If none comes before the deadline the request is not sent:
    the SDK reports a timeout, which the engine treats as one (retried later)."""
    while True:
        got = limiter.acquire(permit.connection_key, permit.model, 0)
        if isinstance(got, Permit):
            return
        left = (deadline - time.monotonic()) if deadline is not None else 0.0
        if got.seconds >= left:
            raise NoPermitInTime("no rate-limit permit for this request before the deadline")
        time.sleep(got.seconds)
