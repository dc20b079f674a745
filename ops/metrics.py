"""The Prometheus exposition of /metrics, computed when it is scraped.

Every figure is read from the database or Redis at scrape time (nothing is kept in a
process's memory), so any web process answers for the whole installation, however many
workers and machines there are. The core's families are here; integrations add theirs
with `workflows.registry.metrics_provider_register` (the OpenAI package: requests,
latency, errors by class, tokens, cost, the rate limiter's share per key).

A scrape runs: one LLEN per queue, one SCAN of the worker heartbeats, one HGETALL of the
counters, a GROUP BY status over the ledger and the oldest due pending row (an indexed
read). On a very large ledger the GROUP BY is the costly part: scrape every 15-30 s.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Count
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from workflows import registry
from workflows.engine import health
from workflows.models import ActionExecution

logger = logging.getLogger(__name__)


def core_metrics() -> Iterator[Any]:
    up = GaugeMetricFamily("crmflow_redis_up", "1 if Redis answered this scrape.")
    depth = GaugeMetricFamily(
        "crmflow_queue_depth", "Celery messages waiting in each queue.", labels=["queue"]
    )
    workers = GaugeMetricFamily(
        "crmflow_workers_alive",
        "Worker processes with a fresh heartbeat, by queue they consume.",
        labels=["queue"],
    )
    counters: dict[str, float] = {}
    try:
        with health.redis_client() as client:
            for queue in health.QUEUES:
                depth.add_metric([queue], float(client.llen(queue)))
            alive = Counter(q for w in health.workers_alive(client) for q in w.queues)
        for queue in health.QUEUES:
            workers.add_metric([queue], float(alive.get(queue, 0)))
        counters = health.metrics_read()
        up.add_metric([], 1.0)
    except Exception:
        logger.warning("metrics: Redis could not be read", exc_info=True)
        up.add_metric([], 0.0)
    yield up
    yield depth
    yield workers

    by_status = dict(
        ActionExecution.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    executions = GaugeMetricFamily(
        "crmflow_executions", "Ledger rows (steps of enrollments) by status.", labels=["status"]
    )
    for status in ActionExecution.Status.values:
        executions.add_metric([status], float(by_status.get(status, 0)))
    yield executions

    oldest = (
        ActionExecution.objects.due().order_by("due_at").values_list("due_at", flat=True).first()
    )
    age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
    yield GaugeMetricFamily(
        "crmflow_oldest_due_pending_age_seconds",
        "How long the oldest due pending execution has waited (0 when none waits).",
        value=age,
    )
    sweep_at = counters.get("sweep_at")
    yield GaugeMetricFamily(
        "crmflow_sweeper_lag_seconds",
        "Seconds since the sweeper last ran (beat runs it every WORKFLOWS_SWEEP_SECONDS).",
        value=max(time.time() - sweep_at, 0.0) if sweep_at else float("nan"),
    )
    for name, help_text in (
        ("sweeps", "Sweeper runs."),
        ("leases_recovered", "Running executions whose lease expired, put back to pending."),
        ("leases_given_up", "Running executions whose lease expired with no attempt left."),
    ):
        yield CounterMetricFamily(f"crmflow_{name}", help_text, value=counters.get(name, 0.0))


class _Collector:
    def collect(self) -> Iterable[Any]:
        yield from core_metrics()
        for provider in registry.metrics_providers():
            try:
                yield from provider()
            except Exception:  # one provider never breaks the scrape
                logger.warning("metrics provider %r failed", provider, exc_info=True)


def exposition() -> tuple[bytes, str]:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Collector())
    return generate_latest(scrape), CONTENT_TYPE_LATEST
