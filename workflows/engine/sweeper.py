"""The sweeper (beat, every WORKFLOWS_SWEEP_SECONDS): makes lost messages and lost
workers cost time, never work. Safe to run twice at once: every change is a
conditional UPDATE, and a duplicate wake-up is harmless (the claim takes one).

1. `running` rows whose lease expired (worker killed, paused or cut off: a live one
   renews its leases, heartbeat.py) go back to `pending`, their worker stop counted —
   or fail once it stopped WORKFLOWS_MAX_WORKER_DEATHS times (poison-step guard).
2. Due `pending` rows never published, or published longer ago than
   WORKFLOWS_RESEND_AFTER_SECONDS (message lost), are published again — at most
   WORKFLOWS_SWEEP_BATCH per queue per run, and only while the queue holds fewer than
   that many (a message of batchable executions counts as WORKFLOWS_BATCH_SIZE), so a
   big backlog is fed steadily instead of duplicated. Batchable executions go
   WORKFLOWS_BATCH_SIZE ids per message; the worker that takes one also claims further
   due work nobody published (runner.py), so the sweeper only starts a
   backlog, it does not have to feed all of it.
3. Waiting rows (a step waiting for a person) past their time-out go back to
   `pending` before step 2, which publishes them: the step runs again and decides.
4. Unfinished fan-outs (turning a workflow on) nobody runs — lease expired, or not
   started WORKFLOWS_RESEND_AFTER_SECONDS after being recorded (message lost) — are
   sent again; they resume from their cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import cast

from django.db.models import Q
from django.utils import timezone

from workflows import registry
from workflows.conf import setting
from workflows.engine.enrollment import fan_outs_resume
from workflows.engine.health import broker_url, metrics_add
from workflows.engine.ledger import leases_recover, waits_expire
from workflows.engine.publish import executions_publish
from workflows.models import ActionExecution

logger = logging.getLogger(__name__)
Status = ActionExecution.Status


def executions_sweep() -> dict[str, int]:
    now = timezone.now()
    requeued, given_up = leases_recover(now)
    resumed = len(fan_outs_resume(now))
    expired = waits_expire(now)
    stale = now - dt.timedelta(seconds=setting("WORKFLOWS_RESEND_AFTER_SECONDS"))
    batch = int(setting("WORKFLOWS_SWEEP_BATCH"))
    size = max(int(setting("WORKFLOWS_BATCH_SIZE")), 1)
    batchable = set(registry.batchable_keys())
    sent = 0
    waiting = ActionExecution.objects.due(now).filter(
        Q(last_sent_at__isnull=True) | Q(last_sent_at__lt=stale)
    )
    for queue in waiting.values_list("queue", flat=True).distinct().order_by():
        rows = list(
            waiting.filter(queue=queue).order_by("due_at").values_list("pk", "action_type")[:batch]
        )
        if not rows:
            continue
        # Messages of batchable types carry up to `size` ids each: count the queue's
        # waiting messages as that many rows.
        per_message = registry.batch_size(rows[0][1], size) if rows[0][1] in batchable else 1
        room = batch - _queue_depth(queue) * per_message
        rows = rows[: max(room, 0)]
        ids = [pk for pk, _type in rows]
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            ActionExecution.objects.filter(pk__in=chunk).update(last_sent_at=now)
        sent += executions_publish([(pk, queue, action_type) for pk, action_type in rows])
    metrics_add(
        {"sweeps": 1, "leases_recovered": requeued, "leases_given_up": given_up},
        values={"sweep_at": time.time()},
    )
    if requeued or given_up or sent or expired:
        logger.info(
            "sweep: %d lease(s) expired, %d given up, %d wait(s) timed out, %d message(s) sent",
            requeued,
            given_up,
            expired,
            sent,
        )
    return {
        "requeued": requeued,
        "given_up": given_up,
        "sent": sent,
        "waits_expired": expired,
        "fan_outs_resumed": resumed,
    }


def _queue_depth(queue: str) -> int:
    """Messages waiting in a Redis-backed Celery queue (0 if it cannot be read)."""
    import redis

    try:
        client = redis.Redis.from_url(broker_url(), socket_timeout=2)
        with client:
            # redis-py types the sync and asyncio clients' results as one union.
            return cast(int, client.llen(queue))
    except Exception:
        return 0
