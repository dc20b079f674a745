"""Changing CRM records. Every write of a record's values goes through here.

UI, forms, CSV import, the JSON API and workflow actions all call these functions,
so each change is validated the same way, mirrored into the typed index, written to
the timeline, and announced (crm.signals) inside the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from crm import filters
from crm import properties as props
from crm.models import (
    Account,
    Association,
    ObjectType,
    PropertyDefinition,
    PropertyValue,
    Record,
    TimelineEvent,
    User,
)
from crm.signals import record_changed, records_bulk_changed
from crm.standard_properties import MERGE_KEYS, NAME_PROPERTIES

BULK_BATCH = 2_000


def definitions_for(account: Account, object_type: str) -> dict[str, PropertyDefinition]:
    return {
        d.name: d
        for d in PropertyDefinition.objects.filter(account=account, object_type=object_type)
    }


def values_validate(
    definitions: Mapping[str, PropertyDefinition], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Normalise `values`; raise one ValidationError naming every bad property."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, raw in values.items():
        definition = definitions.get(name)
        if definition is None:
            errors.setdefault(name, []).append(f"There is no property “{name}”.")
            continue
        try:
            clean[name] = props.normalize(definition, raw)
        except ValidationError as error:
            errors.setdefault(name, []).extend(error.messages)
    if errors:
        raise ValidationError(errors)
    return clean


def _derived_columns(record: Record) -> None:
    values = record.properties
    parts = [
        str(values[name])
        for name in NAME_PROPERTIES[ObjectType(record.object_type)]
        if values.get(name)
    ]
    merge_key = MERGE_KEYS.get(ObjectType(record.object_type))
    record.email = str(values.get(merge_key) or "").lower()[:255] if merge_key else ""
    record.name = (" ".join(parts) or record.email)[:255]
    record.owner_id = values.get("owner")


def _index_rows(
    record: Record, definitions: Mapping[str, PropertyDefinition], names: Iterable[str]
) -> list[PropertyValue]:
    rows = []
    for name in names:
        value = record.properties.get(name)
        if value is None:
            continue
        rows.append(
            PropertyValue(
                record=record,
                property=definitions[name],
                **props.index_columns(definitions[name], value),
            )
        )
    return rows


@transaction.atomic
def record_create(
    *,
    account: Account,
    object_type: str,
    values: Mapping[str, Any],
    actor: User | None = None,
    source: str = "ui",
) -> Record:
    definitions = definitions_for(account, object_type)
    clean = {k: v for k, v in values_validate(definitions, values).items() if v is not None}
    record = Record(account=account, object_type=object_type, properties=clean)
    _derived_columns(record)
    record.save()
    PropertyValue.objects.bulk_create(_index_rows(record, definitions, clean))
    TimelineEvent.objects.create(
        account=account,
        record=record,
        kind=TimelineEvent.Kind.CREATED,
        actor=actor,
        source=source,
    )
    record_changed.send(
        sender=Record,
        record=record,
        created=True,
        changes={name: (None, value) for name, value in clean.items()},
        source=source,
        actor=actor,
    )
    return record


@transaction.atomic
def record_update(
    *,
    record: Record,
    values: Mapping[str, Any],
    actor: User | None = None,
    source: str = "ui",
    idempotency_key: str | None = None,
) -> dict[str, tuple[Any, Any]]:
    """Set the given properties (None clears one); return what actually changed."""
    definitions = definitions_for(record.account, record.object_type)
    clean = values_validate(definitions, values)
    # Lock the row so two concurrent edits apply one after the other.
    record = Record.objects.select_for_update().get(pk=record.pk)
    changes = {
        name: (record.properties.get(name), value)
        for name, value in clean.items()
        if record.properties.get(name) != value
    }
    if not changes:
        return {}
    for name, (_old, new) in changes.items():
        if new is None:
            record.properties.pop(name, None)
        else:
            record.properties[name] = new
    _derived_columns(record)
    record.save()
    PropertyValue.objects.filter(
        record=record, property__in=[definitions[name] for name in changes]
    ).delete()
    PropertyValue.objects.bulk_create(_index_rows(record, definitions, changes))
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(
                account=record.account,
                record=record,
                kind=TimelineEvent.Kind.PROPERTY_CHANGED,
                data={"property": name, "label": definitions[name].label, "old": old, "new": new},
                actor=actor,
                source=source,
                idempotency_key=f"{idempotency_key}:{name}" if idempotency_key else None,
            )
            for name, (old, new) in changes.items()
        ]
    )
    record_changed.send(
        sender=Record, record=record, created=False, changes=changes, source=source, actor=actor
    )
    return changes


def record_upsert(
    *,
    account: Account,
    object_type: str,
    match: str,
    values: Mapping[str, Any],
    actor: User | None = None,
    source: str = "ui",
) -> tuple[Record, bool]:
    """The oldest record of `object_type` whose property `match` equals `values[match]`
    (as the record list's "is equal to" filter compares them), updated with `values`;
    else a new one. Returns (record, created). Every refused value is named at once
    (ValidationError) before anything is looked up or written. Called inside the
    caller's transaction, which then holds `_upsert_lock` until it ends: two requests
    bringing the same new value at once make one record, not two — while requests for
    different values run side by side (a lock on the form or the webhook would queue
    every request behind the one before)."""
    definitions = definitions_for(account, object_type)
    values_validate(definitions, values)
    _upsert_lock(account=account, object_type=object_type, match=match, value=values[match])
    groups = filters.parse_groups(
        definitions, [[{"property": match, "operator": "eq_any", "values": [values[match]]}]]
    )
    record = (
        Record.objects.filter(account=account, object_type=object_type)
        .filter(filters.groups_q(groups))
        .order_by("pk")
        .first()
    )
    if record is None:
        created = record_create(
            account=account, object_type=object_type, values=values, actor=actor, source=source
        )
        return created, True
    record_update(record=record, values=values, actor=actor, source=source)
    record.refresh_from_db()
    return record, False


def _upsert_lock(*, account: Account, object_type: str, match: str, value: Any) -> None:
    upsert_locks(account=account, object_type=object_type, match=match, values=[value])


def upsert_locks(*, account: Account, object_type: str, match: str, values: Iterable[Any]) -> None:
    """PostgreSQL: transaction-scoped advisory locks on (account, object, property,
    value as "is equal to" compares it: case-insensitive), taken in one statement in key
    order (two callers locking overlapping values cannot deadlock). SQLite has no
    concurrent writers to serialise (one write transaction at a time)."""
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(
                    f"record_upsert:{account.pk}:{object_type}:{match}:{str(value).casefold()}".encode(),
                    digest_size=8,
                ).digest(),
                "big",
                signed=True,
            )
            for value in values
        }
    )
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(key)) FROM unnest(%s::bigint[]) AS key", [keys]
        )


@transaction.atomic
def records_bulk_create(
    *,
    account: Account,
    object_type: str,
    rows: Sequence[Mapping[str, Any]],
    source: str = "import",
    validated: bool = False,
    timeline: bool = False,
) -> list[int]:
    """Create many records set-based (imports, demo data, webhooks). Rows are validated
    unless the caller already did; with `timeline`, each record gets its "Record
    created" entry (as `record_create` writes it). Announces one `records_bulk_changed`,
    not one per record."""
    definitions = definitions_for(account, object_type)
    created_ids: list[int] = []
    for start in range(0, len(rows), BULK_BATCH):
        batch = []
        for values in rows[start : start + BULK_BATCH]:
            clean = values if validated else values_validate(definitions, values)
            record = Record(
                account=account,
                object_type=object_type,
                properties={k: v for k, v in clean.items() if v is not None},
            )
            _derived_columns(record)
            batch.append(record)
        Record.objects.bulk_create(batch)
        PropertyValue.objects.bulk_create(
            [
                row
                for record in batch
                for row in _index_rows(record, definitions, record.properties)
            ],
            batch_size=BULK_BATCH * 4,
        )
        if timeline:
            TimelineEvent.objects.bulk_create(
                TimelineEvent(
                    account=account,
                    record=record,
                    kind=TimelineEvent.Kind.CREATED,
                    source=source,
                )
                for record in batch
            )
        created_ids.extend(record.pk for record in batch)
    records_bulk_changed.send(
        sender=Record,
        account=account,
        object_type=object_type,
        created_ids=created_ids,
        updated_ids=[],
        source=source,
    )
    return created_ids


@transaction.atomic
def association_create(*, record: Record, other: Record) -> None:
    if record.account_id != other.account_id:
        raise ValidationError("Records of different accounts cannot be associated.")
    if record.pk == other.pk:
        raise ValidationError("A record cannot be associated with itself.")
    for a, b in ((record, other), (other, record)):
        Association.objects.get_or_create(account_id=record.account_id, from_record=a, to_record=b)


@transaction.atomic
def association_delete(*, record: Record, other: Record) -> None:
    Association.objects.filter(from_record=record, to_record=other).delete()
    Association.objects.filter(from_record=other, to_record=record).delete()


def associated_records(record: Record, object_type: str | None = None):
    ids = Association.objects.filter(from_record=record).values("to_record_id")
    records = Record.objects.filter(account_id=record.account_id, pk__in=ids)
    if object_type:
        records = records.filter(object_type=object_type)
    return records
