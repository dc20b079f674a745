"""Worker loops that the rate limiter tests run in separate OS processes.

The processes are forked (see `worker_pool`): on a busy 2-core machine four spawned
interpreters need up to half a minute to import the SDK, forked ones start at once
with everything imported here. The children use no Django and open their own
connections (HTTP, Redis), never ones inherited from the parent.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter

import openai
import openai.types.responses

from marketplace.integrations.openai.engines import ResponsesEngine
from marketplace.integrations.openai.errors import AssistantError, ErrorKind
from marketplace.integrations.openai.limiter.window import Permit, RateLimiter, estimate_tokens
from marketplace.integrations.openai.specs import AssistantRequest, AssistantSpec


def worker_pool(processes: int = 4):
    return multiprocessing.get_context("fork").Pool(processes)


def grab_permits(
    redis_url: str,
    limiter_options: dict,
    connection_key: str,
    model: str,
    tokens: int,
    seconds: float,
):
    """Take every permit the limiter gives for `seconds`; return their Redis times (ms)."""
    limiter = RateLimiter.from_url(redis_url, **limiter_options)
    granted: list[int] = []
    end = time.time() + seconds
    while time.time() < end:
        got = limiter.acquire(connection_key, model, tokens)
        if isinstance(got, Permit):
            granted.append(got.granted_at_ms)
        else:
            time.sleep(min(got.seconds, 0.01))
    return granted


def call_openai_in_a_loop(
    base_url: str,
    api_key: str,
    redis_url: str,
    prefix: str,
    connection_key: str,
    start: float,
    seconds: float,
) -> dict:
    """What an assistant worker does: acquire → call the engine → record the answer,
    from `start` (after the slow imports, so all processes begin together) until
    `seconds` after the first permit any of them got (on a busy machine the start is
    late; the run must still cross the first minute's end)."""
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    limiter = RateLimiter.from_url(redis_url, prefix=prefix)
    spec = AssistantSpec(
        model="gpt-4o-mini", instructions="Turn the US state into its two-letter code."
    )
    request = AssistantRequest(spec, "ca")
    engine = ResponsesEngine()
    estimate = estimate_tokens(spec.instructions, request.prompt, output_allowance=16)
    client.responses  # noqa: B018  (builds the lazily created resource before the start)
    outcome: Counter[str] = Counter()
    time.sleep(max(0.0, start - time.time()))
    first_key = f"{prefix}:test:first-permit"
    until = start + seconds + 60  # a bound, should no permit ever come
    while time.time() < until:
        got = limiter.acquire(connection_key, request.model, estimate)
        if isinstance(got, Permit):
            limiter.redis.set(first_key, time.time(), nx=True)
        first = limiter.redis.get(first_key)
        if first is not None:
            until = float(first) + seconds
        if not isinstance(got, Permit):
            outcome["waits"] += 1
            time.sleep(max(0.0, min(got.seconds, until - time.time(), 1.0)))
            continue
        try:
            result = engine.run(client, request, deadline=10)
        except AssistantError as error:
            outcome[error.kind.value] += 1
            limiter.record_response(connection_key, request.model, error.rate_limit_headers, 0, got)
            if error.kind == ErrorKind.RATE_LIMITED:
                limiter.cool_down(connection_key, error.retry_after or 1.0)
            continue
        limiter.record_response(
            connection_key, request.model, result.rate_limit_headers, result.usage.total_tokens, got
        )
        outcome["ok"] += 1
    return dict(outcome)
