"""How an OpenAI call uses the shared rate limiter: the whole policy, in this module.

window.py (with its Lua in lua/) keeps each key's sliding window and promises slots;
here is what a call does with it, in the order a call meets it:

1. **One limiter per process** (`limiter()`), built from the settings REDIS_URL,
   OPENAI_RATE_LIMIT_DEFAULT_RPM / _TPM (the guess before a key's first answer) and
   OPENAI_RATE_LIMIT_PACE (pacing, default on).
2. **Permits a call takes** (`permits_for`): one for a Responses call, ASSISTANTS_PERMITS
   (3, at once or none) for an Assistants v2 call, which makes several requests.
3. **A permit right before the call leaves** (`permit_take`, in the call thread). The
   execution asks as a named waiter. Refused with a slot at most `in_call_wait_seconds()`
   away (OPENAI_IN_CALL_WAIT_SECONDS, 10 s), the slot is promised to it and it sleeps
   for it in its call thread, which holds nothing. While the key's limits are not
   learned yet nothing is promised: it asks again every UNLEARNED_RETRY_SECONDS (2 s)
   within its in-call wait (the first answers, a second away, usually raise the limits
   a lot; sending hundreds of executions back to the database and claiming them again
   cost more than the calls). Otherwise it gets the `Wait`, and the execution goes back
   to `pending` for `postpone_seconds(wait)` without counting an attempt.
4. **While the call runs** (`sending`, with the SDK client's httpx hook
   `request_leaving`): a request leaving more than TOUCH_AFTER_SECONDS after its permit
   is counted from when it leaves (the window's 1.5 s margin covers permit → OpenAI,
   which a starved thread can exceed); a request beyond those the permit took (an extra
   poll, a cancel) waits for a permit of its own until the call's deadline, or is not
   sent (`NoPermitInTime`, a timeout to the SDK: the call is retried later).
5. **After the answer** (`answer_record`): the answer's (or error's) x-ratelimit-*
   headers teach the limits and the reserved tokens are settled, in one round trip; a
   429 cools the key down for its Retry-After, else RATE_LIMITED_COOL_DOWN_SECONDS
   (`rate_limited`).

Hence the key never sees more than its limit in any window from all our processes,
and a crowd of executions is spread over the slots as they free up rather than
parked in the database and claimed again (docs/openai-runtime.md, "Rate limiter").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from marketplace.integrations.openai.limiter.window import Permit, RateLimiter, Wait
from workflows.conf import tunable

# An Assistants v2 call makes several requests (create and run, polls, messages); each
# counts against the key's RPM, so it takes this many permits up front.
ASSISTANTS_PERMITS = 3
# Longest a call thread waits for its promised slot before the execution goes back to
# `pending` instead (its lease and its batch's Celery thread are held meanwhile).
# Setting or environment OPENAI_IN_CALL_WAIT_SECONDS; with the call's deadline it must
# stay under the Celery soft time limit (150 s).
DEFAULT_IN_CALL_WAIT_SECONDS = 10.0
# A waiter woken a moment before those promised just before it were served may wait
# this much past its in-call wait for the next slot (going back to the database would
# take it out of the line).
RETURN_WAIT_SECONDS = 1.5
# While a key's limits are not learned yet: how often a refused call asks again in its
# call thread, and its longest postponement after that.
UNLEARNED_RETRY_SECONDS = 2.0
# A request sent later than this after its permit is counted from when it leaves.
TOUCH_AFTER_SECONDS = 0.25
# A 429 without Retry-After cools the key down this long.
RATE_LIMITED_COOL_DOWN_SECONDS = 5.0


# --- 1. One limiter per process ------------------------------------------------------

_limiter: RateLimiter | None = None
_limiter_lock = threading.Lock()


def limiter() -> RateLimiter:
    """The process's limiter (one Redis client, its scripts registered once), shared by
    every thread."""
    global _limiter
    with _limiter_lock:
        if _limiter is None:
            if not settings.REDIS_URL:
                raise ImproperlyConfigured("REDIS_URL is not set: the rate limiter needs Redis.")
            _limiter = RateLimiter.from_url(
                settings.REDIS_URL,
                default_requests=getattr(settings, "OPENAI_RATE_LIMIT_DEFAULT_RPM", 60),
                default_tokens=getattr(settings, "OPENAI_RATE_LIMIT_DEFAULT_TPM", 40_000),
                pace=getattr(settings, "OPENAI_RATE_LIMIT_PACE", True),
            )
        return _limiter


# --- 2-3. Taking a permit ----------------------------------------------------------------


def permits_for(engine_name: str) -> int:
    """Permits (window entries) a call of this engine takes up front."""
    return ASSISTANTS_PERMITS if engine_name == "assistants" else 1


def in_call_wait_seconds() -> float:
    return float(tunable("OPENAI_IN_CALL_WAIT_SECONDS", DEFAULT_IN_CALL_WAIT_SECONDS))


def longest_wait_seconds() -> float:
    """The longest `permit_take` may hold a call thread (a batch waits this long, plus
    its calls' deadline, before giving up on a call)."""
    return in_call_wait_seconds() + RETURN_WAIT_SECONDS


def permit_take(
    *, key: str, model: str, tokens: int, requests: int, waiter: str | None
) -> Permit | Wait:
    """In a call thread, right before the call: a permit, after waiting here for a slot
    promised within the in-call wait (or, limits unlearned, asking again every 2 s); or
    the `Wait` to postpone the execution by (see the module docstring, 3)."""
    waited, patience = 0.0, in_call_wait_seconds()
    while True:
        # A waiter woken a moment before those promised just before it were served may
        # wait a little past its patience for the next slot rather than go back to the
        # database (which would take it out of the line).
        within = max(patience + (RETURN_WAIT_SECONDS if waited else 0.0) - waited, 0.0)
        permit = limiter().acquire(
            key, model, tokens, requests=requests, waiter=waiter, promise_within=within
        )
        if not isinstance(permit, Wait):
            return permit
        # A slot a moment away (pacing, the next to free in the window) is promised and
        # waited for here, in a thread holding nothing; a longer wait sends the execution
        # back to `pending` until its time, so this thread and the batch are not held.
        # While the key's limits are unlearned (its first calls are out: a burst is
        # refused beyond the default), ask again here soon: their answers usually raise
        # the limits.
        if permit.promised or (waiter is None and permit.learned and permit.seconds <= within):
            pause = permit.seconds
        elif not permit.learned and waited + UNLEARNED_RETRY_SECONDS <= patience:
            pause = min(max(permit.seconds, 0.05), UNLEARNED_RETRY_SECONDS)
        else:
            return permit
        time.sleep(pause)
        waited += pause


def postpone_seconds(wait: Wait) -> float:
    """How long an execution refused a permit goes back to `pending`. While the limits
    are still the defaults (no answer from this key yet) the refusal says little: the
    first answers, a second away, usually raise them a lot. So come back soon and ask
    again rather than sleep a whole window on a guess (a 60-RPM default would park a
    burst of executions for a minute on a 3,000-RPM key). Once they are learned, come
    back half an in-call wait before the slot: the execution is then promised its slot
    and waits for it in a call thread, so a worker claiming it a little late (a message
    behind others, the sweeper's interval) does not leave the slot unused."""
    if not wait.learned:
        return max(min(wait.seconds, UNLEARNED_RETRY_SECONDS), 0.05)
    return max(wait.seconds - in_call_wait_seconds() / 2, 0.05)


# --- 4. While the call runs -----------------------------------------------------------


@dataclass
class _Sending:
    limiter: RateLimiter
    permit: Permit
    sent: int  # requests of the call sent so far
    deadline: float | None


_in_flight = threading.local()


@contextmanager
def sending(
    limiter: RateLimiter, permit: Permit, *, deadline: float | None = None
) -> Iterator[None]:
    """Run the call of `permit` inside this: its HTTP requests are counted from when
    they leave, and a request beyond those the permit took waits for a permit of its
    own until `deadline` (time.monotonic()). Nesting is not supported; one call per
    thread at a time."""
    _in_flight.state = _Sending(limiter, permit, 0, deadline)
    try:
        yield
    finally:
        _in_flight.state = None


def request_leaving(_request: object = None) -> None:
    """httpx "request" event hook of the SDK clients (client.py): the current thread's
    call sends a request now. A no-op outside a `sending` block."""
    state: _Sending | None = getattr(_in_flight, "state", None)
    if state is None:
        return
    index = state.sent
    state.sent = index + 1
    if index >= state.permit.requests:
        _extra_permit(state.limiter, state.permit, state.deadline)
    elif time.monotonic() - state.permit.granted_monotonic > TOUCH_AFTER_SECONDS:
        state.limiter.touch(state.permit, index)


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


# --- 5. After the answer ------------------------------------------------------------------


def answer_record(
    permit: Permit, *, key: str, model: str, headers: Mapping[str, str], tokens: int
) -> None:
    """What an answer (or an error: `tokens` 0) teaches the limiter, in one round trip."""
    limiter().record_response(key, model, headers, tokens, permit)


def rate_limited(key: str, retry_after: float | None) -> None:
    """OpenAI answered 429 rate_limit_exceeded: no permits for the key until it passes."""
    limiter().cool_down(key, retry_after or RATE_LIMITED_COOL_DOWN_SECONDS)
