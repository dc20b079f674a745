"""The sliding-window log of every OpenAI key, shared by every worker process through Redis.

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

Check-and-take runs in one Lua script (lua/acquire.lua), hence atomic across processes
and machines, and uses Redis' clock, hence one clock for all of them. The scripts are
read once per process and registered with each client (`register_script`: Redis gets
a script's text once, then its SHA).

Scopes: one per connection and one per (connection, model). OpenAI's headers give the
limit of the model that answered; the connection scope uses the highest limit learned
for any model (the simulator limits a key across models; OpenAI per model).

Before the first answer the limits are a conservative default; every answer's
`x-ratelimit-limit-*` sets them, and `-remaining-*` can only shrink what we think is
left (usage from elsewhere on the same key becomes placeholder entries). A 429
`rate_limit_exceeded` sets a cool-down for the connection.

No Django import: worker processes and the benchmark use it bare. How a call uses it
(when to wait, where, for how long) is policy.py's.
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

_LUA = Path(__file__).with_name("lua")


@functools.cache
def lua(*names: str) -> str:
    """The text of the scripts `names` of lua/, one after the other, read once per
    process (a script using the shared functions is `lua("common", name)`)."""
    return "".join((_LUA / f"{name}.lua").read_text(encoding="utf-8") for name in names)


# Pacing never allows fewer requests than this per 60th of the window (see above).
PACE_MIN_REQUESTS = 10
# A promised slot is kept this long past its time for its waiter (see lua/acquire.lua).
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
    if value is None:
        return ""
    try:
        return str(int(float(value))) if value != "" else ""
    except ValueError:
        return ""


class RateLimiter:
    """One Redis client's view of the keys' windows (see the module docstring)."""

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
        self._acquire = client.register_script(lua("common", "acquire"))
        self._settle = client.register_script(lua("common", "settle"))
        self._touch = client.register_script(lua("common", "touch"))
        self._cool = client.register_script(lua("cool"))
        self._remembered: dict[str, float] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RateLimiter:
        return cls(redis.Redis.from_url(url), **kwargs)

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
        args: list[str | int] = [
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
        settled = (
            permit
            if permit is not None and actual_tokens is not None and actual_tokens != permit.tokens
            else None
        )
        h = {k.lower(): v for k, v in headers.items()}
        values = [
            _int_header(h, "x-ratelimit-limit-requests"),
            _int_header(h, "x-ratelimit-limit-tokens"),
            _int_header(h, "x-ratelimit-remaining-requests"),
            _int_header(h, "x-ratelimit-remaining-tokens"),
        ]
        learn = any(values)
        if settled is not None and learn and settled.model != model:  # two scopes: one call each
            self.record_response(connection_key, settled.model, {}, actual_tokens, settled)
            settled = None
        if settled is None and not learn:
            return
        keys = self._scope(connection_key, None) + self._scope(
            connection_key, settled.model if settled is not None else model
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
                settled.id if settled is not None else "",
                settled.tokens if settled is not None else 0,
                max(0, int(actual_tokens or 0)) if settled is not None else 0,
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

    # Reads for the status page. redis-py types its sync and asyncio clients' answers
    # alike (`Awaitable | value`): this client is the sync one, hence the casts.

    def connections(self) -> list[str]:
        """Connections that got a permit recently (for the system status page)."""
        members = cast(set[bytes], self.redis.smembers(f"{self.prefix}:connections"))
        return sorted(m.decode() for m in members)

    def state(self, connection_key: str) -> LimiterState:
        """Limits and current use, read-only (for a status page; may be a little stale)."""
        models_hash = cast(
            dict[bytes, bytes], self.redis.hgetall(self._key(connection_key, "models"))
        )
        models = sorted({k.decode().rsplit("|", 1)[0] for k in models_hash})
        cool = cast(int, self.redis.pttl(self._key(connection_key, "cool")))
        return LimiterState(
            connection_key=connection_key,
            connection=self._scope_state(connection_key, None),
            models={m: self._scope_state(connection_key, m) for m in models},
            cool_down_seconds=max(0, cool) / 1000,
        )

    def _scope_state(self, connection_key: str, model: str | None) -> ScopeState:
        req, tok, _sum, lim = self._scope(connection_key, model)
        now_s, now_us = cast(tuple[int, int], self.redis.time())
        cutoff = now_s * 1000 + now_us // 1000 - self.window_ms
        limits = {
            k.decode(): int(v) for k, v in cast(dict[bytes, bytes], self.redis.hgetall(lim)).items()
        }
        entries = cast(list[bytes], self.redis.zrangebyscore(tok, f"({cutoff}", "+inf"))
        tokens_used = sum(int(m.decode().rsplit("|", 1)[1]) for m in entries)
        return ScopeState(
            requests_limit=limits.get("rpm", self.default_requests),
            tokens_limit=limits.get("tpm", self.default_tokens),
            requests_used=cast(int, self.redis.zcount(req, f"({cutoff}", "+inf")),
            tokens_used=tokens_used,
            learned=bool(limits),
        )
