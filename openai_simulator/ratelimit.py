"""Per-key RPM/TPM limits as continuously refilling buckets, with OpenAI's headers.

OpenAI's rate-limit guide: limits are per minute, "replenished continuously", and
`x-ratelimit-reset-*` is "the time until the rate limit resets to its initial state".
So each key has two buckets — requests (capacity rpm) and tokens (capacity tpm) — that
start full and refill at capacity/60 per second. A request takes 1 from the first; a
model run takes its tokens from the second. What must stay true:

- `x-ratelimit-remaining-*` is the whole units left, `x-ratelimit-reset-*` the time
  until the bucket is full again (so ~1 s after one request at 60 RPM, not ~60 s);
- a refused request's `retry-after` / `retry-after-ms` is the time until the bucket
  holds what was asked for, rounded up: retrying then succeeds if nothing else came;
- a key's limits can change at run time; its buckets keep their level, capped at the
  new capacity.
"""

from __future__ import annotations

import math
import time

from .errors import RATE_LIMITS_URL, ApiError

PERIOD_SECONDS = 60.0


def format_duration(seconds: float) -> str:
    """OpenAI's (Go-style) duration format: `120ms`, `1s`, `8.64s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{max(0, int(round(seconds * 1000)))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{secs_text}s"
    if minutes >= 1:
        return f"{int(minutes)}m{secs_text}s"
    return f"{secs_text}s"


class Bucket:
    __slots__ = ("level", "updated")

    def __init__(self, capacity: float, now: float) -> None:
        self.level = float(capacity)
        self.updated = now

    def refill(self, capacity: int, now: float) -> None:
        rate = capacity / PERIOD_SECONDS
        self.level = min(float(capacity), self.level + (now - self.updated) * rate)
        self.updated = now

    def seconds_until(self, amount: float, capacity: int) -> float:
        """Time until the bucket holds `amount` (0 if it already does)."""
        missing = amount - self.level
        return max(0.0, missing * PERIOD_SECONDS / capacity) if capacity else math.inf


class RateLimiter:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[Bucket, Bucket]] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def _refilled(self, key_name: str, rpm: int, tpm: int, now: float) -> tuple[Bucket, Bucket]:
        buckets = self._buckets.get(key_name)
        if buckets is None:
            buckets = self._buckets[key_name] = (Bucket(rpm, now), Bucket(tpm, now))
        else:
            buckets[0].refill(rpm, now)
            buckets[1].refill(tpm, now)
        return buckets

    def admit_request(
        self, key_name: str, rpm: int, tpm: int, *, model: str, organization: str | None
    ) -> dict:
        """Take one request or raise a 429; return the rate-limit headers either way."""
        requests, tokens = self._refilled(key_name, rpm, tpm, self._clock())
        if requests.level < 1:
            wait = requests.seconds_until(1, rpm)
            used = rpm - math.floor(requests.level)
            raise self._exceeded(
                requests, tokens, rpm, tpm, "requests", used, 1, wait, model, organization
            )
        requests.level -= 1
        return self.headers(requests, tokens, rpm, tpm)

    def admit_tokens(
        self,
        key_name: str,
        rpm: int,
        tpm: int,
        amount: int,
        *,
        model: str,
        organization: str | None,
    ) -> dict:
        requests, tokens = self._refilled(key_name, rpm, tpm, self._clock())
        if amount > tpm:
            raise self._too_large(requests, tokens, rpm, tpm, amount, model, organization)
        if tokens.level < amount:
            wait = tokens.seconds_until(amount, tpm)
            used = tpm - math.floor(tokens.level)
            raise self._exceeded(
                requests, tokens, rpm, tpm, "tokens", used, amount, wait, model, organization
            )
        tokens.level -= amount
        return self.headers(requests, tokens, rpm, tpm)

    @staticmethod
    def headers(requests: Bucket, tokens: Bucket, rpm: int, tpm: int) -> dict:
        return {
            "x-ratelimit-limit-requests": str(rpm),
            "x-ratelimit-remaining-requests": str(max(0, math.floor(requests.level))),
            "x-ratelimit-reset-requests": format_duration(requests.seconds_until(rpm, rpm)),
            "x-ratelimit-limit-tokens": str(tpm),
            "x-ratelimit-remaining-tokens": str(max(0, math.floor(tokens.level))),
            "x-ratelimit-reset-tokens": format_duration(tokens.seconds_until(tpm, tpm)),
        }

    def _exceeded(
        self, requests, tokens, rpm, tpm, kind, used, requested, wait, model, organization
    ) -> ApiError:
        limit = rpm if kind == "requests" else tpm
        unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
        message = (
            f"Rate limit reached for {model} in organization {organization or 'org-unknown'} on {unit}: "
            f"Limit {limit}, Used {used}, Requested {requested}. "
            f"Please try again in {format_duration(wait)}. Visit {RATE_LIMITS_URL} to learn more."
        )
        headers = self.headers(requests, tokens, rpm, tpm)
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return ApiError(429, message, type=kind, code="rate_limit_exceeded", headers=headers)

    def _too_large(self, requests, tokens, rpm, tpm, amount, model, organization) -> ApiError:
        # No wait helps: OpenAI says so, and sends no retry-after.
        message = (
            f"Request too large for {model} in organization {organization or 'org-unknown'} on "
            f"tokens per min (TPM): Limit {tpm}, Requested {amount}. The input or output tokens "
            f"must be reduced in order to run successfully. Visit {RATE_LIMITS_URL} to learn more."
        )
        headers = self.headers(requests, tokens, rpm, tpm)
        return ApiError(429, message, type="tokens", code="rate_limit_exceeded", headers=headers)
