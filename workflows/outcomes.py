"""What became of one execution's slow part: the action type says, the ledger acts.

`ActionType.execute_many` yields an `Outcome` per execution:

- `Success(outputs)` — complete it (`apply`, then the next step).
- `Retry(message, after=…, kind=…)` — worth trying again (429, 5xx, timeouts): pending
  again after `after` seconds (None: the ledger's exponential backoff, jittered);
  counts an attempt. `kind` TRANSIENT (the default) and RATE_LIMIT (the service
  answered 429: shown as such) are retried until the step's deadline
  (WORKFLOWS_RETRY_DEADLINE_SECONDS after its first attempt), UNEXPECTED (a bug, an
  unclassified failure) for WORKFLOWS_MAX_ATTEMPTS attempts; then it fails with
  `message`.
- `Retry(message, at=…, counts_attempt=False)` — no call was made (a rate limiter said
  "not yet"): pending again at `at`, and the attempt is given back. Nothing is shown.
- `Wait(until)` — the step waits for something outside the engine (a person's
  decision) without holding a worker: `waiting` until someone resumes it
  (`workflows.services.execution_resume`) or until `until`, when the step runs again
  and decides (e.g. "no decision in N days"). The attempt is given back.
- `Failure(message)` — retrying will not help (invalid key, quota, bad config): the
  execution fails now and the account's super admins are told.
- `HandBack()` — the worker is stopping (SIGTERM) before this execution's call
  finished: pending again at once, the attempt not counted.

`message` is shown to people on the run history: make it say what to do.

A simple action may instead return outputs from `execute` or raise one of the errors
below; the default `execute_many` turns them into outcomes (`outcome_of`). Anything
else an action raises is a bug or an unclassified failure: retried, then failed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Success:
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Retry:
    message: str
    after: float | None = None
    at: dt.datetime | None = None
    counts_attempt: bool = True
    kind: str = "transient"

    TRANSIENT: ClassVar[str] = "transient"
    RATE_LIMIT: ClassVar[str] = "rate_limit"
    UNEXPECTED: ClassVar[str] = "unexpected"
    # With counts_attempt=False: something shared (a monthly budget) is held by work in
    # flight that may give it back. The ledger postpones the step with a growing,
    # jittered wait (`after` seconds first, doubling per consecutive wait, capped at
    # WORKFLOWS_BUSY_MAX_SECONDS) instead of `at`, and its history says so.
    BUSY: ClassVar[str] = "busy"


@dataclass(frozen=True)
class Failure:
    message: str


@dataclass(frozen=True)
class Wait:
    until: dt.datetime


@dataclass(frozen=True)
class HandBack:
    pass


Outcome = Success | Retry | Failure | HandBack


class ActionError(Exception):
    """Base class of what `execute` may raise; `message` is shown on the run history."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientError(ActionError):
    """Worth retrying: becomes `Retry(message, after=retry_after, kind=kind)`."""

    def __init__(self, message: str, retry_after: float | None = None, kind: str = Retry.TRANSIENT):
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind


class PermanentError(ActionError):
    """Retrying will not help: becomes `Failure(message)`."""


class RetryLater(Exception):
    """No permit yet: becomes `Retry(at=at, counts_attempt=False)`."""

    def __init__(self, at: dt.datetime):
        super().__init__(f"retry at {at.isoformat()}")
        self.at = at


class WaitUntil(Exception):
    """Nothing to do until resumed or until `at`: becomes `Wait(at)`."""

    def __init__(self, at: dt.datetime):
        super().__init__(f"wait until {at.isoformat()}")
        self.at = at


def outcome_of(error: Exception) -> Outcome:
    """The outcome an error raised by `execute` stands for. Any other exception is a bug
    or an unclassified outside failure: retried (logged), then failed with its text."""
    if isinstance(error, RetryLater):
        return Retry("", at=error.at, counts_attempt=False)
    if isinstance(error, TransientError):
        return Retry(error.message, after=error.retry_after, kind=error.kind)
    if isinstance(error, ActionError):
        return Failure(error.message)
    logger.error("an action raised", exc_info=error)
    return Retry(
        _("Unexpected error: %(error)s") % {"error": str(error)[:500] or type(error).__name__},
        kind=Retry.UNEXPECTED,
    )
