"""CSV import of contacts and companies: reading the file, guessing the column
mapping, and importing it batch by batch.

Crash safety: every batch of BATCH_SIZE rows is imported **all-or-nothing** in one
transaction that also advances `ImportJob.rows_done`. A crash (worker killed, database
gone, a bug) loses only the batch in flight; running the job again — the redelivered
Celery message, or the "Resume" button — starts after the last committed batch, so no
row is imported twice and none is skipped. Rows with invalid values are not a crash:
they are skipped and reported ("Row 7: …"), and the rest of their batch is imported.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import services
from crm.models import (
    ImportJob,
    ObjectType,
    PropertyDefinition,
    PropertyValue,
    Record,
    TimelineEvent,
)
from crm.signals import records_bulk_changed
from crm.standard_properties import MERGE_KEYS

IMPORTABLE = (ObjectType.CONTACT, ObjectType.COMPANY)
MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_ROWS = 200_000
BATCH_SIZE = 500
# Errors kept for display; every error is counted.
MAX_STORED_ERRORS = 1_000
# A task imports batches for this long, then hands over to a new task (so that no
# task comes near Celery's time limit, whatever the file's size).
TASK_TIME_BUDGET_SECONDS = 60
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
DELIMITERS = ",;\t"

csv.field_size_limit(1024 * 1024)


# --- Reading the file ---------------------------------------------------------------


def file_read(data: bytes) -> dict[str, Any]:
    """Decode and check an uploaded CSV file; raise ValidationError saying what to fix.

    Returns the fields of a new ImportJob: content, encoding, delimiter, headers,
    total_rows.
    """
    size_check(len(data))
    if b"\x00" in data:
        raise ValidationError(
            _(
                "This is not a CSV file (it contains binary data). In your spreadsheet, "
                "use “Save as” → CSV, then upload that file."
            )
        )
    text, encoding = decode(data)
    if not text.strip():
        raise ValidationError(_("The file is empty."))
    delimiter = delimiter_guess(text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise ValidationError(
            _("The file could not be read as CSV: %(error)s") % {"error": error}
        ) from error
    headers = [cell.strip() for cell in rows[0]] if rows else []
    if not any(headers):
        raise ValidationError(_("The first line must name the columns (e.g. Email, First name)."))
    total = sum(1 for row in rows[1:] if _has_data(row))
    if total == 0:
        raise ValidationError(_("The file has a header line but no rows to import."))
    if total > MAX_ROWS:
        raise ValidationError(
            _("The file has %(rows)d rows; the limit is %(limit)d. Split it into smaller files.")
            % {"rows": total, "limit": MAX_ROWS}
        )
    return {
        "content": text,
        "encoding": encoding,
        "delimiter": delimiter,
        "headers": headers,
        "total_rows": total,
    }


def size_check(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ValidationError(
            _("The file is %(size).1f MB; the limit is %(limit)d MB. Split it into smaller files.")
            % {"size": size / 1024 / 1024, "limit": MAX_FILE_BYTES // 1024 // 1024}
        )


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without the BOM Excel writes), else Windows-1252, else Latin-1."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def delimiter_guess(text: str) -> str:
    """The delimiter of the header line: `,` `;` (French Excel) or a tab."""
    sample = text[: 64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.splitlines()[0] if sample else ""
        counts = {d: first_line.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def data_rows(job: ImportJob) -> list[list[str]]:
    """The job's rows after the header, blank lines left out."""
    reader = csv.reader(io.StringIO(job.content, newline=""), delimiter=job.delimiter)
    rows: list[list[str]] = []
    next(reader, None)
    for row in reader:
        if _has_data(row):
            rows.append(row)
    return rows


def _has_data(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def samples(job: ImportJob, count: int = 3) -> list[list[str]]:
    """Up to `count` example values per column, for the mapping screen."""
    result: list[list[str]] = [[] for _header in job.headers]
    for row in data_rows(job)[:50]:
        for index, cell in enumerate(row[: len(result)]):
            if cell.strip() and len(result[index]) < count:
                result[index].append(cell.strip()[:60])
    return result


# --- Mapping columns to properties --------------------------------------------------

SYNONYMS = {
    ObjectType.CONTACT: {
        "email": [
            "email address",
            "e-mail",
            "e-mail address",
            "mail",
            "courriel",
            "adresse e-mail",
            "adresse email",
        ],
        "first_name": ["firstname", "given name", "prénom", "prenom"],
        "last_name": ["lastname", "surname", "family name", "nom", "nom de famille"],
        "phone": ["phone", "telephone", "téléphone", "mobile", "phone number"],
        "company_name": ["company", "organization", "organisation", "société", "entreprise"],
        "job_title": ["title", "position", "poste", "fonction"],
        "state": ["state", "region", "région"],
        "country": ["country", "pays"],
        "city": ["ville"],
    },
    ObjectType.COMPANY: {
        "name": ["company", "company name", "name", "nom", "société", "entreprise"],
        "domain": ["domain", "website", "website url", "site web", "domaine", "url"],
        "number_of_employees": ["employees", "headcount", "effectif"],
        "annual_revenue": ["revenue", "chiffre d'affaires"],
        "industry": ["secteur"],
    },
}


def _simple(text: str) -> str:
    return re.sub(r"[^a-z0-9éèàçôù]+", " ", text.lower()).strip()


def mapping_guess(
    object_type: str, headers: list[str], definitions: Mapping[str, PropertyDefinition]
) -> dict[str, str]:
    """Column index (as a string) → property name, for the headers that say which."""
    lookup: dict[str, str] = {}
    for name, definition in definitions.items():
        lookup.setdefault(_simple(name), name)
        lookup.setdefault(_simple(definition.label), name)
    for name, words in SYNONYMS.get(ObjectType(object_type), {}).items():
        if name in definitions:
            for word in words:
                lookup.setdefault(_simple(word), name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        name = lookup.get(_simple(header))
        if name and name not in taken:
            mapping[str(index)] = name
            taken.add(name)
    return mapping


# --- Importing ----------------------------------------------------------------------


def import_run(job_id: int, *, time_budget: float = TASK_TIME_BUDGET_SECONDS) -> bool:
    """Import batches until done or out of time; True if batches remain.

    Safe to run twice at once or again after a crash: each batch locks the job row
    and starts from the committed `rows_done`.
    """
    claimed = ImportJob.objects.filter(
        pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).update(status=ImportJob.Status.RUNNING, updated_at=timezone.now())
    if not claimed:
        return False
    job = ImportJob.objects.get(pk=job_id)
    rows = data_rows(job)
    deadline = time.monotonic() + time_budget
    try:
        while _import_batch(job_id, rows):
            if time.monotonic() > deadline:
                return True
    except Exception as error:
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED,
            failure=_(
                "The import stopped: %(error)s. Every row before this point was "
                "imported; resume to import the rest."
            )
            % {"error": str(error)[:500]},
            updated_at=timezone.now(),
        )
        raise
    return False


def import_resume(job: ImportJob) -> bool:
    """Put a stopped or stalled job back in the queue; False if it is finished."""
    return bool(
        ImportJob.objects.filter(pk=job.pk)
        .exclude(status__in=[ImportJob.Status.DONE, ImportJob.Status.MAPPING])
        .update(status=ImportJob.Status.QUEUED, failure="", updated_at=timezone.now())
    )


@transaction.atomic
def _import_batch(job_id: int, rows: list[list[str]]) -> bool:
    """Import the next batch in one transaction; True if rows remain after it."""
    job = ImportJob.objects.select_for_update().defer("content").get(pk=job_id)
    if job.status != ImportJob.Status.RUNNING:
        return False
    start = job.rows_done
    batch = rows[start : start + BATCH_SIZE]
    if batch:
        created, updated, errors = _import_rows(job, batch, first_index=start)
        job.rows_done = start + len(batch)
        job.created_count += created
        job.updated_count += updated
        job.error_count += len(errors)
        room = MAX_STORED_ERRORS - len(job.errors)
        if room > 0:
            job.errors = job.errors + errors[:room]
    more = job.rows_done < len(rows)
    if not more:
        job.status = ImportJob.Status.DONE
        job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "rows_done",
            "created_count",
            "updated_count",
            "error_count",
            "errors",
            "status",
            "finished_at",
            "updated_at",
        ]
    )
    return more


def _import_rows(job: ImportJob, batch: list[list[str]], *, first_index: int):
    definitions = services.definitions_for(job.account, job.object_type)
    merge_key = MERGE_KEYS.get(ObjectType(job.object_type))
    columns = [(int(index), name) for index, name in job.mapping.items() if name in definitions]
    errors: list[dict[str, Any]] = []
    valid: list[tuple[int, dict[str, Any], str]] = []
    for offset, cells in enumerate(batch):
        # Row numbers as a spreadsheet shows them: the header is row 1.
        number = first_index + offset + 2
        # An empty cell leaves the property alone (it never clears an existing value).
        values = {
            name: cells[index].strip()
            for index, name in columns
            if index < len(cells) and cells[index].strip()
        }
        if not values:
            errors.append(
                {
                    "row": number,
                    "message": _("Row %(row)d: no value in the imported columns.")
                    % {"row": number},
                }
            )
            continue
        try:
            clean = services.values_validate(definitions, values)
        except ValidationError as error:
            reasons = " ".join(m for messages in error.message_dict.values() for m in messages)
            errors.append(
                {
                    "row": number,
                    "message": _("Row %(row)d: %(reasons)s") % {"row": number, "reasons": reasons},
                }
            )
            continue
        key = str(clean.get(merge_key) or "").lower() if merge_key else ""
        valid.append((number, clean, key))

    keys = {key for _number, _clean, key in valid if key}
    existing: dict[str, Record] = {}
    # Locked: a person editing one of these records meanwhile waits for this batch.
    for record in (
        Record.objects.select_for_update()
        .filter(account=job.account, object_type=job.object_type, email__in=keys)
        .order_by("-id")
    ):
        existing[record.email] = record  # the oldest wins: ordered newest first

    to_create: dict[str, dict[str, Any]] = {}
    unkeyed: list[dict[str, Any]] = []
    to_update: dict[str, dict[str, Any]] = {}
    for _number, clean, key in valid:
        if key and key in existing:
            to_update.setdefault(key, {}).update(clean)
        elif key:
            # The same key twice in the file: one record, later cells win.
            to_create.setdefault(key, {}).update(clean)
        else:
            unkeyed.append(clean)

    creates = list(to_create.values()) + unkeyed
    if creates:
        services.records_bulk_create(
            account=job.account,
            object_type=job.object_type,
            rows=creates,
            source="import",
            validated=True,
        )
    if to_update:
        _records_merge(
            job, definitions, [(existing[key], values) for key, values in to_update.items()]
        )
    return len(creates), len(to_update), errors


def _records_merge(
    job: ImportJob,
    definitions: Mapping[str, PropertyDefinition],
    merges: list[tuple[Record, dict[str, Any]]],
) -> None:
    """Set validated values on existing records, set-based, with the same effects as
    `services.record_update` for each — index rows, timeline — but one announcement
    (`records_bulk_changed`) for the batch, as for the records it creates.
    """
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
        record.properties.update(values)
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
                actor=job.created_by,
                source="import",
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
        account=job.account,
        object_type=job.object_type,
        created_ids=[],
        updated_ids=[record.pk for record in changed_records],
        source="import",
    )
