"""System health: worker heartbeats, queue depths, sweeper lag (integrations add their
own sections to the status page through `registry.health_provider_register`).

Worker heartbeats: every Celery worker process (the main process, not the pool
children) starts a daemon thread on `worker_ready` that writes
`crmflow:heartbeat:<hostname>` (its queues and the time) into Redis every
HEARTBEAT_SECONDS with a time-to-live of HEARTBEAT_TTL_SECONDS, and deletes it on
`worker_shutdown`. A killed or frozen machine stops writing and its key expires: no
fresh key = no worker. We chose this over `control.ping()` because a ping blocks the
page for its timeout and needs every worker to answer a broadcast; a key read is
one round trip.

Everything here is read with short socket timeouts and never raises: a page that shows
the health banner must still render with Redis down (the banner then says so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, cast

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count
from django.utils import timezone

from workflows.models import ActionExecution

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "crmflow:heartbeat:"
HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL_SECONDS = 30
# The sweeper is "behind" when the oldest due pending execution waited longer than this.
SWEEPER_LAG_WARNING_SECONDS = 120
BANNER_CACHE_SECONDS = 5
QUEUES = ("default", "assistant", "sweep")


def broker_url() -> str:
    """The Celery broker's URL (Redis: the queues and the heartbeats live there)."""
    url = settings.CELERY_BROKER_URL
    if not url:
        raise ImproperlyConfigured("CELERY_BROKER_URL is not set.")
    return url


def redis_client() -> redis.Redis:
    import redis

    return redis.Redis.from_url(broker_url(), socket_timeout=0.5, socket_connect_timeout=0.5)


# --- Counters for /metrics (ops/metrics.py) ----------------------------------------

# One Redis hash of counters every process adds to (HINCRBY/HINCRBYFLOAT are atomic), so
# /metrics served by any web process reports the whole installation's totals. Lost with
# Redis (a flush resets them): Prometheus treats that as a counter reset.
METRICS_KEY = "crmflow:metrics"
_metrics_client: redis.Redis | None = None


def metrics_client() -> redis.Redis:
    """A process-wide client (redis-py's pool is thread-safe and reset after a fork)."""
    global _metrics_client
    if _metrics_client is None:
        _metrics_client = redis_client()
    return _metrics_client


def metrics_add(amounts: dict[str, float], *, values: dict[str, float] | None = None) -> None:
    """Add `amounts` to counters of the metrics hash and set `values` (gauges such as a
    time), in one round trip; never raises."""
    try:
        pipe = metrics_client().pipeline(transaction=False)
        if values:
            pipe.hset(METRICS_KEY, mapping=values)
        for name, amount in amounts.items():
            if isinstance(amount, int):
                pipe.hincrby(METRICS_KEY, name, amount)
            else:
                pipe.hincrbyfloat(METRICS_KEY, name, amount)
        pipe.execute()
    except Exception:  # metrics never break the work they count
        logger.debug("could not add to the metrics counters", exc_info=True)


def metrics_read() -> dict[str, float]:
    raw = cast(dict[bytes, bytes], metrics_client().hgetall(METRICS_KEY))
    return {k.decode(): float(v) for k, v in raw.items()}


# --- Writing heartbeats (in worker processes) ----------------------------------------

_stop = threading.Event()


def heartbeat_write(hostname: str, queues: list[str], client: redis.Redis | None = None) -> None:
    client = client or redis_client()
    payload = json.dumps({"hostname": hostname, "queues": queues, "at": timezone.now().isoformat()})
    client.set(f"{HEARTBEAT_PREFIX}{hostname}", payload, ex=HEARTBEAT_TTL_SECONDS)


def _beat_forever(hostname: str, queues: list[str]) -> None:
    client = redis_client()
    while not _stop.is_set():
        try:
            heartbeat_write(hostname, queues, client)
        except Exception:  # Redis down: try again next time; the key expires meanwhile
            logger.warning("could not write the worker heartbeat", exc_info=True)
        _stop.wait(HEARTBEAT_SECONDS)


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    try:
        queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    except Exception:
        queues = []
    _stop.clear()
    threading.Thread(
        target=_beat_forever, args=(hostname, queues), daemon=True, name="crmflow-heartbeat"
    ).start()


def on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        with contextlib.suppress(Exception):
            redis_client().delete(f"{HEARTBEAT_PREFIX}{hostname}")


# Connected by a call, not as decorators: Celery's signals are untyped.
worker_ready.connect(on_worker_ready, dispatch_uid="workflows.health.worker_ready")
worker_shutdown.connect(on_worker_shutdown, dispatch_uid="workflows.health.worker_shutdown")


# --- Reading ---------------------------------------------------------------------------


@dataclass
class Worker:
    hostname: str
    queues: list[str]
    seen_at: dt.datetime | None


@dataclass
class Health:
    redis_ok: bool = True
    workers: list[Worker] = field(default_factory=list)
    queue_depths: dict[str, int | None] = field(default_factory=dict)
    oldest_due_at: dt.datetime | None = None

    @property
    def workers_down(self) -> bool:
        return not self.workers

    @property
    def sweeper_lag(self) -> dt.timedelta | None:
        if self.oldest_due_at is None:
            return None
        return max(timezone.now() - self.oldest_due_at, dt.timedelta(0))

    @property
    def sweeper_behind(self) -> bool:
        lag = self.sweeper_lag
        return lag is not None and lag.total_seconds() > SWEEPER_LAG_WARNING_SECONDS

    @property
    def ok(self) -> bool:
        return self.redis_ok and not self.workers_down and not self.sweeper_behind


def workers_alive(client: redis.Redis) -> list[Worker]:
    workers = []
    keys = sorted(client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=100))
    # redis-py types the sync and asyncio clients' results as one union.
    values = cast(list[bytes | None], client.mget(keys)) if keys else []
    for value in values:
        if not value:
            continue
        try:
            data = json.loads(value)
            seen = dt.datetime.fromisoformat(data.get("at"))
        except (TypeError, ValueError):
            continue
        workers.append(Worker(data.get("hostname", "?"), data.get("queues") or [], seen))
    return workers


def health_read() -> Health:
    health = Health()
    try:
        client = redis_client()
        with client:
            health.workers = workers_alive(client)
            for queue in QUEUES:
                # redis-py types the sync and asyncio clients' results as one union.
                health.queue_depths[queue] = cast(int, client.llen(queue))
    except Exception:
        health.redis_ok = False
        health.queue_depths = dict.fromkeys(QUEUES)
    try:
        health.oldest_due_at = (
            ActionExecution.objects.due()
            .order_by("due_at")
            .values_list("due_at", flat=True)
            .first()
        )
    except Exception:  # never break a page for the banner
        logger.warning("could not read the sweeper lag", exc_info=True)
    return health


def banner_health() -> Health | None:
    """The health for the banner, cached a few seconds per process; None if all is well."""
    health = cache.get("history:health")
    if health is None:
        health = health_read()
        cache.set("history:health", health, BANNER_CACHE_SECONDS)
    return None if health.ok else health


class WorkflowFailures(TypedDict):
    workflow_id: int
    workflow__name: str
    n: int


def failures_last_hour(account_id: int) -> list[WorkflowFailures]:
    """Failed executions of the account's workflows in the last hour, by workflow, most
    first."""
    since = timezone.now() - dt.timedelta(hours=1)
    return list(
        ActionExecution.objects.filter(
            status=ActionExecution.Status.FAILED,
            finished_at__gte=since,
            workflow__account_id=account_id,
        )
        .values("workflow_id", "workflow__name")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
