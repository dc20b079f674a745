"""The OpenAI package's Prometheus families (registered in apps.py; see ops/metrics.py).

- Calls, by outcome ("ok" or the error class, errors.ErrorKind) and their latency: a call
  thread adds its call to the process's counts when it ends (`call_record`), and they go
  to the Redis counters at most once a second and when a batch ends (`calls_flush`, one
  round trip): one Redis round trip less per call in a busy worker's hundreds of call
  threads. A worker killed in between loses under a second of counts, never work.
- Tokens and cost: sums over AssistantUsage, the rows the ledger keeps per succeeded
  execution (the truth the usage pages read too).
- The rate limiter's share used per connection key ("<connection id>-<key fingerprint>",
  never the key): requests and tokens in the current window over the learned limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db.models import Sum
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from marketplace.integrations.openai.limiter.policy import limiter
from marketplace.integrations.openai.models import AssistantUsage
from workflows.engine.health import metrics_add, metrics_read

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the latency histogram's buckets.
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_PREFIX = "openai_"
# Counts of this process not yet in Redis, and when they last went there.
FLUSH_SECONDS = 1.0
_pending: dict[str, float] = {}  # counts stay ints (Redis HINCRBY), the sum a float
_pending_lock = threading.Lock()
_flushed_at = 0.0


def call_record(outcome: str, seconds: float) -> None:
    """One OpenAI call ended: `outcome` is "ok" or an ErrorKind value."""
    bucket = next((str(b) for b in LATENCY_BUCKETS if seconds <= b), "+Inf")
    with _pending_lock:
        for name in (f"{_PREFIX}requests:{outcome}", f"{_PREFIX}latency_bucket:{bucket}"):
            _pending[name] = _pending.get(name, 0) + 1
        _pending[f"{_PREFIX}latency_sum"] = _pending.get(f"{_PREFIX}latency_sum", 0.0) + seconds
        due = time.monotonic() - _flushed_at >= FLUSH_SECONDS
    if due:
        calls_flush()


def calls_flush() -> None:
    """Send the process's counts of calls to Redis (one round trip; never raises)."""
    global _flushed_at
    with _pending_lock:
        amounts = dict(_pending)
        _pending.clear()
        _flushed_at = time.monotonic()
    if amounts:
        metrics_add(amounts)


def openai_metrics() -> Iterator[Any]:
    try:
        counters = metrics_read()
    except Exception:
        logger.warning("metrics: the OpenAI counters could not be read", exc_info=True)
        counters = {}
    requests = CounterMetricFamily(
        "crmflow_openai_requests",
        "OpenAI calls by outcome: ok, or the error class (rate_limited, server, quota, auth, "
        "not_found, bad_request, run_failed).",
        labels=["outcome"],
    )
    for name, value in sorted(counters.items()):
        if name.startswith(f"{_PREFIX}requests:"):
            requests.add_metric([name.split(":", 1)[1]], value)
    yield requests

    cumulative, buckets = 0.0, []
    for bound in [*map(str, LATENCY_BUCKETS), "+Inf"]:
        cumulative += counters.get(f"{_PREFIX}latency_bucket:{bound}", 0.0)
        buckets.append((bound, cumulative))
    yield HistogramMetricFamily(
        "crmflow_openai_request_duration_seconds",
        "Duration of OpenAI calls (every outcome).",
        buckets=buckets,
        sum_value=counters.get(f"{_PREFIX}latency_sum", 0.0),
    )

    tokens = CounterMetricFamily(
        "crmflow_openai_tokens",
        "Tokens of succeeded assistant steps, by model and kind.",
        labels=["model", "kind"],
    )
    cost = CounterMetricFamily(
        "crmflow_openai_cost_usd",
        "Cost in USD of succeeded assistant steps, by model (models without a price: 0).",
        labels=["model"],
    )
    for row in (
        AssistantUsage.objects.order_by()
        .values("model")
        .annotate(
            input=Sum("input_tokens"),
            output=Sum("output_tokens"),
            reasoning=Sum("reasoning_tokens"),
            cached=Sum("cached_tokens"),
            cost=Sum("cost_usd"),
        )
    ):
        for kind in ("input", "output", "reasoning", "cached"):
            tokens.add_metric([row["model"], kind], float(row[kind] or 0))
        cost.add_metric([row["model"]], float(row["cost"] or 0))
    yield tokens
    yield cost

    share = GaugeMetricFamily(
        "crmflow_openai_limiter_share_used",
        "Share (0-1) of a key's per-minute limit used in the current window.",
        labels=["connection_key", "limit"],
    )
    try:
        shared = limiter()
        for key in shared.connections():
            state = shared.state(key).connection
            share.add_metric([key, "requests"], state.requests_used / max(state.requests_limit, 1))
            share.add_metric([key, "tokens"], state.tokens_used / max(state.tokens_limit, 1))
    except Exception:
        logger.warning("metrics: the rate limiter could not be read", exc_info=True)
    yield share
