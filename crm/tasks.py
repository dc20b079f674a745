"""Celery tasks of the CRM: thin adapters that take an id and call one function."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from config.celery import app
from crm import deletion, imports

logger = logging.getLogger(__name__)


# Runs on the `default` queue (config/celery.py: task_default_queue).
@shared_task(name="crm.import_run")
def import_run(job_id: int) -> None:
    """Import the next batches of a CSV import; hand over to a new task if time ran out.

    A redelivered message (worker killed, acks_late) resumes after the last committed
    batch, so running this twice imports nothing twice.
    """
    if imports.import_run(job_id):
        import_run.delay(job_id)


def import_enqueue(job_id: int) -> None:
    """Start the import once the current transaction commits."""

    def send() -> None:
        try:
            import_run.delay(job_id)
        except Exception:
            # The broker is down: the job stays queued and its page offers "Resume".
            logger.exception("Could not queue import %s", job_id)

    transaction.on_commit(send)


PURGE_TASK = "crm.deleted_records_purge"
PURGE_EVERY_SECONDS = 3600.0


@shared_task(name=PURGE_TASK)
def deleted_records_purge() -> int:
    """Delete for good the records deleted more than 30 days ago (crm/deletion.py)."""
    return deletion.deleted_records_purge()


app.conf.beat_schedule["crm-deleted-records-purge"] = {
    "task": PURGE_TASK,
    "schedule": PURGE_EVERY_SECONDS,
    "options": {"expires": PURGE_EVERY_SECONDS},
}
