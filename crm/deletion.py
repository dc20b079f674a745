"""Deleting records: soft for DELETED_KEPT_DAYS, then purged.

`records_delete` hides records everywhere at once (`Record.objects` skips them: lists,
search, the API, filters, workflow enrollment) and sends `crm.signals.records_deleted`
in the same transaction (workflows unenroll them). `records_restore` brings them back
as they were, within the period; `deleted_records_purge` (a periodic job, crm/tasks.py)
deletes for good what is older, with everything that hangs on it.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from crm.models import Account, Record, User
from crm.signals import records_deleted, records_restored

DELETED_KEPT_DAYS = 30


def restorable_since() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=DELETED_KEPT_DAYS)


@transaction.atomic
def records_delete(
    *, account: Account, object_type: str, record_ids: list[int], actor: User | None
) -> list[int]:
    """Soft-delete the account's records of `object_type` among `record_ids`; the ids
    deleted (those that exist and were not deleted already)."""
    ids = list(
        Record.objects.filter(account=account, object_type=object_type, pk__in=record_ids)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    if ids:
        Record.objects.filter(pk__in=ids).update(deleted_at=timezone.now(), deleted_by=actor)
        records_deleted.send(
            sender=Record, account=account, object_type=object_type, record_ids=ids, actor=actor
        )
    return ids


@transaction.atomic
def records_restore(
    *, account: Account, object_type: str, record_ids: list[int], actor: User | None
) -> list[int]:
    """Bring back the account's deleted records among `record_ids` that are still kept;
    the ids restored. Their workflow runs stay stopped."""
    restorable = Record.all_objects.filter(
        account=account,
        object_type=object_type,
        pk__in=record_ids,
        deleted_at__gte=restorable_since(),
    )
    ids = list(restorable.select_for_update().values_list("pk", flat=True))
    if ids:
        Record.all_objects.filter(pk__in=ids).update(deleted_at=None, deleted_by=None)
        records_restored.send(
            sender=Record, account=account, object_type=object_type, record_ids=ids, actor=actor
        )
    return ids


def deleted_records(*, account: Account, object_type: str):
    """The account's deleted records of `object_type` that can still be restored,
    most recently deleted first."""
    return Record.all_objects.filter(
        account=account, object_type=object_type, deleted_at__gte=restorable_since()
    ).order_by("-deleted_at", "-id")


def deleted_records_purge(*, batch: int = 500) -> int:
    """Delete for good the records deleted more than DELETED_KEPT_DAYS ago (their
    values, associations, timeline and workflow runs go with them); how many."""
    purged = 0
    while True:
        ids = list(
            Record.all_objects.filter(deleted_at__lt=restorable_since()).values_list(
                "pk", flat=True
            )[:batch]
        )
        if not ids:
            return purged
        with transaction.atomic():
            Record.all_objects.filter(pk__in=ids).delete()
        purged += len(ids)
