"""The inbox of "Webhook received": the public URL only validates a request and inserts
one `InboundRequest` row; a worker ingests the rows in batches.

What must stay true:
- **Every accepted request (202) is ingested exactly once.** `inbox_ingest` takes rows
  with `DELETE … RETURNING` (PostgreSQL: of rows picked `FOR UPDATE SKIP LOCKED`, so
  concurrent ingests take different rows) and writes their records and enrollments in
  the **same transaction**: a worker killed mid-batch rolls the deletion back with the
  rest, and the rows are taken again. The inbox is the ledger; messages only wake it.
- **Nothing is lost with a message**: the URL asks for an ingest through a debounced
  Celery message (one per INGEST_DEBOUNCE_SECONDS, however many requests arrive), and
  the periodic sweep (`tasks.inbox_sweep`) ingests whatever is left (a lost message, an
  emptied Redis, a killed worker).
- **The debounce never strands a row**: a request's row commits before it tries to
  set the debounce key; the message that key stands for runs after the key expires
  (its countdown), so after that commit, and sees the row.
- A batch makes records set-based (`crm.upserts.records_upsert_many`: per-value locks,
  so concurrent ingests and forms make one record per value) and enrolls them
  set-based (`workflows.services.enrollments_trigger`), their first steps published as
  batch messages on commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from crm.models import Record
from crm.upserts import records_upsert_many
from marketplace.integrations.webhooks.models import InboundRequest, WebhookEndpoint
from workflows.models import Workflow
from workflows.services import enrollments_trigger

logger = logging.getLogger(__name__)

INGEST_TASK = "marketplace_webhooks.inbox_ingest"
# Requests per ingest transaction (one lock per value, one INSERT per table).
INGEST_BATCH = 500
# At most one ingest message per this long, whatever the request rate.
INGEST_DEBOUNCE_SECONDS = 0.25
# An ingest task stops taking batches after this long (the next message goes on).
INGEST_SECONDS = 10.0
SOURCE = "webhook"
_DEBOUNCE_KEY = "marketplace_webhooks:inbox_ingest"

_redis: Any = None


def request_accept(*, workflow: Workflow, match: str, values: dict[str, Any]) -> InboundRequest:
    """Put a validated request in the inbox (one INSERT) and ask for an ingest once it
    commits."""
    row = InboundRequest.objects.create(workflow=workflow, match_property=match, properties=values)
    transaction.on_commit(ingest_ask)
    return row


def ingest_ask() -> None:
    """Publish an ingest message unless one was asked for less than
    INGEST_DEBOUNCE_SECONDS ago (a Redis key); it runs when the key expires. Any broker
    trouble is logged: the sweep ingests the row all the same."""
    global _redis
    from config.celery import app

    try:
        if _redis is None:
            import redis

            _redis = redis.Redis.from_url(
                str(settings.CELERY_BROKER_URL), socket_timeout=2, socket_connect_timeout=2
            )
        milliseconds = int(INGEST_DEBOUNCE_SECONDS * 1000)
        if _redis.set(_DEBOUNCE_KEY, 1, nx=True, px=milliseconds):
            app.send_task(INGEST_TASK, queue="default", countdown=INGEST_DEBOUNCE_SECONDS)
    except Exception:
        logger.warning("could not ask for an inbox ingest; the sweep will do it", exc_info=True)


def inbox_ingest(*, seconds: float = INGEST_SECONDS) -> int:
    """Ingest full batches until the inbox is empty (a short batch ends it: later rows
    come with their own message) or `seconds` have passed. Returns the requests ingested.
    Ledger messages are written in the site's language."""
    deadline = time.monotonic() + seconds
    total = 0
    with translation.override(settings.LANGUAGE_CODE):
        while True:
            ingested = _batch_ingest(INGEST_BATCH)
            total += ingested
            if ingested < INGEST_BATCH or time.monotonic() >= deadline:
                return total


@transaction.atomic
def _batch_ingest(limit: int) -> int:
    rows = _take(limit)
    by_workflow: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_workflow[row[1]].append(row)
    workflows = Workflow.objects.select_related("account", "live_version").in_bulk(by_workflow)
    endpoints = {
        endpoint.workflow_id: endpoint
        for endpoint in WebhookEndpoint.objects.filter(workflow_id__in=by_workflow)
    }
    for workflow_id, taken in by_workflow.items():
        workflow = workflows.get(workflow_id)
        if workflow is not None:  # else deleted meanwhile: its requests go with it
            _workflow_ingest(workflow, endpoints.get(workflow_id), taken)
    return len(rows)


def _take(limit: int) -> list[tuple[Any, ...]]:
    """Delete up to `limit` of the oldest rows, returning (id, workflow id, properties,
    match property, received at); the caller's transaction gives them back if it
    fails. Raw SQL: the ORM has no DELETE … RETURNING."""
    table = InboundRequest._meta.db_table
    lock = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN "
            f"(SELECT id FROM {table} ORDER BY id LIMIT %s{lock}) "
            "RETURNING id, workflow_id, properties, match_property, received_at",
            [limit],
        )
        fetched = sorted(cursor.fetchall())
    return [
        (
            pk,
            workflow_id,
            raw if isinstance(raw, dict) else json.loads(raw),
            match,
            _as_datetime(at),
        )
        for pk, workflow_id, raw, match, at in fetched
    ]


def _as_datetime(value: Any) -> Any:
    """SQLite returns the stored text (UTC); PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def _workflow_ingest(
    workflow: Workflow, endpoint: WebhookEndpoint | None, rows: list[tuple[Any, ...]]
) -> None:
    """One workflow's requests, in the order received: their records written (requests
    are grouped by the property that finds the record, normally one), then enrolled."""
    by_match: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_match[row[3]].append(row)
    outcome: dict[int, Record | ValidationError] = {}
    for match, taken in by_match.items():
        results = records_upsert_many(
            account=workflow.account,
            object_type=workflow.object_type,
            match=match,
            rows=[row[2] for row in taken],
            source=SOURCE,
        )
        outcome.update((row[0], result) for row, result in zip(taken, results, strict=True))
    records = [result for result in outcome.values() if isinstance(result, Record)]
    enrolled = enrollments_trigger(workflow=workflow, records=records) if records else set()
    refused = [pk for pk, result in outcome.items() if not isinstance(result, Record)]
    if refused:
        logger.warning("webhook requests %s of workflow %s refused at ingest", refused, workflow.pk)
    if endpoint is not None:
        last = rows[-1]
        _note(endpoint, last[4], outcome[last[0]], enrolled)


def _note(
    endpoint: WebhookEndpoint,
    received_at: Any,
    result: Record | ValidationError,
    enrolled: set[int],
) -> None:
    """The trigger panel's "last request": the batch's last one, once per batch."""
    if isinstance(result, ValidationError):
        message = _("Accepted, then not written: %(error)s") % {"error": " ".join(result.messages)}
    else:
        name = result.name or f"#{result.pk}"
        message = (
            _("Enrolled %(record)s.") if result.pk in enrolled else _("%(record)s did not enroll.")
        ) % {"record": name}
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        last_received_at=received_at or timezone.now(), last_status=202, last_message=message[:500]
    )
