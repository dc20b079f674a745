"""How an action says what went wrong; the engine decides what happens next.

Integrations raise these from `ActionType.execute()`; anything else an action raises
is treated as transient (retried, then failed with its message after N attempts).
"""

from __future__ import annotations

import datetime as dt


class ActionError(Exception):
    """Base class. `message` is shown to people on the run history: make it actionable."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientError(ActionError):
    """Worth retrying: 429, 5xx, timeouts, connection errors. Back to `pending`, due after
    `retry_after` seconds (e.g. the Retry-After header) or exponential backoff with jitter.
    Counts as an attempt; after the maximum the execution fails with this message."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ActionError):
    """Retrying will not help: invalid key, quota exhausted, budget reached, bad config.
    The execution fails now and the account's super admins are notified."""


class RetryLater(Exception):
    """No permit yet (a rate limiter said "come back at `at`"): back to `pending` with
    `due_at = at`, *without* counting an attempt. Not an error: nothing is shown."""

    def __init__(self, at: dt.datetime):
        super().__init__(f"retry at {at.isoformat()}")
        self.at = at
