"""Per-key RPM/TPM limits in fixed 60-second windows, with OpenAI's headers.

Fixed windows (not sliding): a key's window opens at its first request and lasts
60 s; when it ends, both counters start again from zero. This is easy to reason about
in tests ("the 6th call in the minute is refused") at the cost of allowing up to 2x
the limit across a window boundary — the real API is smoother than this.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .errors import RATE_LIMITS_URL, ApiError

WINDOW_SECONDS = 60.0


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


@dataclass
class Window:
    started_at: float
    requests: int = 0
    tokens: int = 0


class RateLimiter:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, Window] = {}

    def reset(self) -> None:
        self._windows.clear()

    def _window(self, key_name: str, now: float) -> Window:
        window = self._windows.get(key_name)
        if window is None or now - window.started_at >= WINDOW_SECONDS:
            window = Window(started_at=now)
            self._windows[key_name] = window
        return window

    def admit_request(
        self, key_name: str, rpm: int, tpm: int, *, model: str, organization: str | None
    ) -> dict:
        """Count one request or raise a 429; return the rate-limit headers either way."""
        now = self._clock()
        window = self._window(key_name, now)
        if window.requests >= rpm:
            raise self._exceeded(
                window, now, rpm, tpm, "requests", window.requests, 1, model, organization
            )
        window.requests += 1
        return self.headers(window, now, rpm, tpm)

    def admit_tokens(
        self,
        key_name: str,
        rpm: int,
        tpm: int,
        tokens: int,
        *,
        model: str,
        organization: str | None,
    ) -> dict:
        now = self._clock()
        window = self._window(key_name, now)
        if window.tokens + tokens > tpm:
            raise self._exceeded(
                window, now, rpm, tpm, "tokens", window.tokens, tokens, model, organization
            )
        window.tokens += tokens
        return self.headers(window, now, rpm, tpm)

    def headers(self, window: Window, now: float, rpm: int, tpm: int) -> dict:
        reset = format_duration(max(0.0, window.started_at + WINDOW_SECONDS - now))
        return {
            "x-ratelimit-limit-requests": str(rpm),
            "x-ratelimit-remaining-requests": str(max(0, rpm - window.requests)),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-limit-tokens": str(tpm),
            "x-ratelimit-remaining-tokens": str(max(0, tpm - window.tokens)),
            "x-ratelimit-reset-tokens": reset,
        }

    def _exceeded(
        self, window, now, rpm, tpm, kind, used, requested, model, organization
    ) -> ApiError:
        wait = max(0.001, window.started_at + WINDOW_SECONDS - now)
        limit = rpm if kind == "requests" else tpm
        unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
        message = (
            f"Rate limit reached for {model} in organization {organization or 'org-unknown'} on {unit}: "
            f"Limit {limit}, Used {used}, Requested {requested}. "
            f"Please try again in {format_duration(wait)}. Visit {RATE_LIMITS_URL} to learn more."
        )
        headers = self.headers(window, now, rpm, tpm)
        headers["retry-after"] = str(math.ceil(wait))
        headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return ApiError(429, message, type=kind, code="rate_limit_exceeded", headers=headers)
