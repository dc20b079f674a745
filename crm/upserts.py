"""Writing many records at once, set-based: an import's merges and a batch of webhook
requests. Same effects as `services.record_create` / `record_update` for each record —
index rows, timeline — but a handful of statements per batch and one announcement
(`records_bulk_changed`), as for an import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm import filters, services
from crm.models import Account, PropertyDefinition, PropertyValue, Record, TimelineEvent, User
from crm.signals import records_bulk_changed


def records_upsert_many(
    *,
    account: Account,
    object_type: str,
    match: str,
    rows: Sequence[Mapping[str, Any]],
    actor: User | None = None,
    source: str = "ui",
) -> list[Record | ValidationError]:
    """`services.record_upsert` for each of `rows` (values by property), in the caller's
    transaction: for each row, the record found by its `match` value (the oldest whose
    property equals it, case-insensitive) or created, or the ValidationError that
    refused the row (nothing of it written). Rows bringing the same value share one
    record; later rows' values win. Holds the per-value upsert locks until the caller's
    transaction ends, like `record_upsert`, so concurrent callers make one record per
    value."""
    definitions = services.definitions_for(account, object_type)
    results: list[Record | ValidationError | None] = [None] * len(rows)
    valid: list[tuple[int, dict[str, Any], str]] = []
    for index, values in enumerate(rows):
        try:
            clean = services.values_validate(definitions, values)
        except ValidationError as error:
            results[index] = error
            continue
        if clean.get(match) is None:
            results[index] = ValidationError({match: ["This property finds the record."]})
            continue
        valid.append((index, clean, _key(clean[match])))
    firsts = {key: clean[match] for _index, clean, key in reversed(valid)}
    services.upsert_locks(
        account=account, object_type=object_type, match=match, values=firsts.values()
    )
    existing: dict[str, Record] = {}
    if firsts:
        groups = filters.parse_groups(
            definitions, [[{"property": match, "operator": "eq_any", "values": list(firsts)}]]
        )
        # Two steps, each with the one plan that does not depend on fresh statistics:
        # the index rows of these values, then those records by primary key (the
        # value's property is this account's and object's; deleted ones are skipped).
        ids = filters.condition_record_ids(groups[0][0])
        found = Record.all_objects.select_for_update().filter(pk__in=ids).order_by("-pk")
        for record in found:  # the oldest wins
            if record.deleted_at is None:
                existing[_key(record.properties.get(match))] = record
    to_create: dict[str, dict[str, Any]] = {}
    to_update: dict[str, dict[str, Any]] = {}
    for _index, clean, key in valid:
        (to_update if key in existing else to_create).setdefault(key, {}).update(clean)
    if to_create:
        ids = services.records_bulk_create(
            account=account,
            object_type=object_type,
            rows=list(to_create.values()),
            source=source,
            validated=True,
            timeline=True,
        )
        created = Record.all_objects.in_bulk(ids)  # by primary key alone: just made
        existing.update((key, created[pk]) for key, pk in zip(to_create, ids, strict=True))
    if to_update:
        records_merge(
            account=account,
            object_type=object_type,
            definitions=definitions,
            merges=[(existing[key], values) for key, values in to_update.items()],
            actor=actor,
            source=source,
        )
    for index, _clean, key in valid:
        results[index] = existing[key]
    return [result for result in results if result is not None]


def _key(value: Any) -> str:
    return str(value).casefold()


def records_merge(
    *,
    account: Account,
    object_type: str,
    definitions: Mapping[str, PropertyDefinition],
    merges: list[tuple[Record, dict[str, Any]]],
    actor: User | None,
    source: str,
) -> None:
    """Set validated values on existing records (None clears one), set-based."""
    now = timezone.now()
    changed_records: list[Record] = []
    changed_names: set[str] = set()
    events: list[TimelineEvent] = []
    for record, values in merges:
        changes = {
            name: (record.properties.get(name), value)
            for name, value in values.items()
            if record.properties.get(name) != value
        }
        if not changes:
            continue
        for name, (_old, new) in changes.items():
            if new is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = new
        services._derived_columns(record)
        record.updated_at = now
        changed_records.append(record)
        changed_names.update(changes)
        events.extend(
            TimelineEvent(
                account_id=record.account_id,
                record=record,
                kind=TimelineEvent.Kind.PROPERTY_CHANGED,
                data={"property": name, "label": definitions[name].label, "old": old, "new": new},
                actor=actor,
                source=source,
            )
            for name, (old, new) in changes.items()
        )
    if not changed_records:
        return
    Record.objects.bulk_update(
        changed_records, ["properties", "name", "email", "owner", "updated_at"], batch_size=500
    )
    changed_definitions = [definitions[name] for name in changed_names]
    PropertyValue.objects.filter(
        record__in=changed_records, property__in=changed_definitions
    ).delete()
    PropertyValue.objects.bulk_create(
        [
            row
            for record in changed_records
            for row in services._index_rows(record, definitions, changed_names)
        ],
        batch_size=2_000,
    )
    TimelineEvent.objects.bulk_create(events, batch_size=2_000)
    records_bulk_changed.send(
        sender=Record,
        account=account,
        object_type=object_type,
        created_ids=[],
        updated_ids=[record.pk for record in changed_records],
        source=source,
    )
