"""The Webhooks integration's tasks: ingesting the inbox of "Webhook received"
(inbox.py), when asked (a debounced message) and periodically (a lost message, a
killed worker: the rows wait in the inbox)."""

from __future__ import annotations

from celery import shared_task

from config.celery import app
from marketplace.integrations.webhooks import inbox

SWEEP_EVERY_SECONDS = 5.0


@shared_task(name=inbox.INGEST_TASK)
def inbox_ingest() -> int:
    return inbox.inbox_ingest()


app.conf.beat_schedule["webhooks-inbox-sweep"] = {
    "task": inbox.INGEST_TASK,
    "schedule": SWEEP_EVERY_SECONDS,
    "options": {"queue": "sweep", "expires": SWEEP_EVERY_SECONDS * 2},
}
