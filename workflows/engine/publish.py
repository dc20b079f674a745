"""Publishing wake-up messages. The database row is the truth; a message only says
"look at execution N" (RUN_TASK) or "look at executions N1…Nk" (RUN_MANY_TASK, for
batchable action types, at most WORKFLOWS_BATCH_SIZE ids). A failed publish is logged,
never raised: the sweeper re-sends every due row whose message is older than
WORKFLOWS_RESEND_AFTER_SECONDS."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

RUN_TASK = "workflows.run_execution"
RUN_MANY_TASK = "workflows.run_executions"
SWEEP_TASK = "workflows.sweep"
ENROLL_EXISTING_TASK = "workflows.enroll_existing"


def _publish(name: str, args: list[Any], queue: str, producer: Any = None) -> bool:
    from config.celery import app

    try:
        app.send_task(name, args=args, queue=queue, producer=producer)
    except Exception:  # any broker trouble: the ledger still has the row
        logger.warning(
            "could not publish %s%s; the sweeper will re-send", name, args, exc_info=True
        )
        return False
    return True


def execution_send(execution_id: int, queue: str, *, on_commit: bool = False) -> None:
    """One wake-up. On a queue of concurrent action types (slow outside calls) it is a batch
    message of one id: the worker fills the batch with the queue's other due work."""
    from workflows import registry

    args: list[Any]
    if registry.queue_batch_limit(queue) is not None:
        name, args = RUN_MANY_TASK, [[execution_id], queue]
    else:
        name, args = RUN_TASK, [execution_id]
    if on_commit:
        transaction.on_commit(lambda: _publish(name, args, queue))
    else:
        _publish(name, args, queue)


def executions_publish(rows: list[tuple[int, str, str]]) -> int:
    """Publish wake-ups for (execution id, queue, action type) rows over one broker
    connection: ids of batchable action types go together, WORKFLOWS_BATCH_SIZE (or the
    type's smaller batch limit) per message and queue; any other gets a message of its
    own. Returns the ids sent."""
    from config.celery import app
    from workflows import registry
    from workflows.conf import setting

    size = max(int(setting("WORKFLOWS_BATCH_SIZE")), 1)
    batchable = set(registry.batchable_keys())
    grouped: dict[tuple[str, int], list[int]] = {}
    messages: list[tuple[str, list[Any], str, int]] = []
    for execution_id, queue, action_type in rows:
        if action_type in batchable and size > 1:
            grouped.setdefault((queue, registry.batch_size(action_type, size)), []).append(
                execution_id
            )
        else:
            messages.append((RUN_TASK, [execution_id], queue, 1))
    for (queue, per_message), ids in grouped.items():
        for start in range(0, len(ids), per_message):
            chunk = ids[start : start + per_message]
            messages.append((RUN_MANY_TASK, [chunk, queue], queue, len(chunk)))
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for name, args, queue, count in messages:
                sent += count * _publish(name, args, queue, producer=producer)
    except Exception:
        logger.warning("could not publish wake-ups; the sweeper will re-send", exc_info=True)
    return sent


def executions_kick() -> None:
    """Ask for a sweep right after commit (bulk enrollment, replays) instead of waiting
    for beat's next tick."""
    transaction.on_commit(lambda: _publish(SWEEP_TASK, [], "default"))


def fan_out_send(fan_out_id: int, *, on_commit: bool = False) -> None:
    """Run (or resume) a fan-out (turning a workflow on) on a worker."""
    if on_commit:
        transaction.on_commit(lambda: _publish(ENROLL_EXISTING_TASK, [fan_out_id], "default"))
    else:
        _publish(ENROLL_EXISTING_TASK, [fan_out_id], "default")
