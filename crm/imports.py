"""CSV import of contacts and companies: the job's life (uploaded, mapped, queued) and
importing it batch by batch. Reading the file itself is `crm.import_files`.

Crash safety: every batch of BATCH_SIZE rows is imported **all-or-nothing** in one
transaction that also advances `ImportJob.rows_done`. A crash (worker killed, database
gone, a bug) loses only the batch in flight; running the job again — the redelivered
Celery message, or the "Resume" button — starts after the last committed batch, so no
row is imported twice and none is skipped. Rows with invalid values are not a crash:
they are skipped and reported ("Row 7: …"), and the rest of their batch is imported.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import import_files, services
from crm.models import (
    Account,
    ImportJob,
    ObjectType,
    Record,
    User,
)
from crm.standard_properties import MERGE_KEYS
from crm.upserts import records_merge

BATCH_SIZE = 500
# Errors kept for display; every error is counted.
MAX_STORED_ERRORS = 1_000
# A task imports batches for this long, then hands over to a new task (so that no
# task comes near Celery's time limit, whatever the file's size).
TASK_TIME_BUDGET_SECONDS = 60


# --- The job ------------------------------------------------------------------------


def import_job_create(
    *, account: Account, object_type: str, upload: UploadedFile, created_by: User | None
) -> ImportJob:
    """A new job for an uploaded file, waiting for its column mapping (guessed).

    Raises ValidationError saying what to fix in the file.
    """
    # Say so before reading a huge file into memory.
    import_files.size_check(upload.size or 0)
    fields = import_files.file_read(upload.read())
    definitions = services.definitions_for(account, object_type)
    return ImportJob.objects.create(
        account=account,
        object_type=object_type,
        file_name=(upload.name or "")[:255],
        created_by=created_by,
        mapping=import_files.mapping_guess(object_type, fields["headers"], definitions),
        **fields,
    )


def import_mapping_save(*, job: ImportJob, mapping: dict[str, str]) -> None:
    """Save the column mapping (column index → property name) and mark the job queued.

    Raises ValidationError if no column is mapped or a property is chosen twice. The
    caller queues the job (`crm.tasks.import_enqueue`).
    """
    definitions = services.definitions_for(job.account, job.object_type)
    chosen = list(mapping.values())
    duplicates = sorted({definitions[n].label for n in chosen if chosen.count(n) > 1})
    if not mapping:
        raise ValidationError(_("Choose a property for at least one column."))
    if duplicates:
        raise ValidationError(
            _("Each property can be chosen for one column only: %(labels)s.")
            % {"labels": ", ".join(duplicates)}
        )
    job.mapping = mapping
    job.status = ImportJob.Status.QUEUED
    job.save(update_fields=["mapping", "status", "updated_at"])


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
    rows = import_files.data_rows(job)
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


def _import_rows(
    job: ImportJob, batch: list[list[str]], *, first_index: int
) -> tuple[int, int, list[dict[str, Any]]]:
    """Import one batch's rows: (records created, records merged, rows refused)."""
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
        records_merge(
            account=job.account,
            object_type=job.object_type,
            definitions=definitions,
            merges=[(existing[key], values) for key, values in to_update.items()],
            actor=job.created_by,
            source="import",
        )
    return len(creates), len(to_update), errors
