"""Subscribers to crm.signals: enroll inside the transaction of the change."""

from typing import Any

from django.dispatch import receiver

from crm.models import Account, Form, Record
from crm.signals import form_submitted, record_changed, records_bulk_changed, records_deleted
from workflows import services
from workflows.engine import enrollment


@receiver(record_changed, dispatch_uid="workflows.record_changed")
def on_record_changed(
    sender: Any,
    record: Record,
    created: bool,
    changes: dict[str, tuple[Any, Any]],
    **kwargs: Any,
) -> None:
    enrollment.enrollments_for_change(record=record, created=created, changes=changes)


@receiver(records_bulk_changed, dispatch_uid="workflows.records_bulk_changed")
def on_records_bulk_changed(
    sender: Any,
    account: Account,
    object_type: str,
    created_ids: list[int],
    updated_ids: list[int],
    **kwargs: Any,
) -> None:
    ids = [*created_ids, *updated_ids]
    if not ids:
        return
    for workflow in enrollment.live_workflows(account.pk, object_type):
        if not workflow.enrolls_on_events:
            enrollment.enrollments_bulk_create(workflow=workflow, record_ids=ids)


@receiver(form_submitted, dispatch_uid="workflows.form_submitted")
def on_form_submitted(sender: Any, record: Record, form: Form, **kwargs: Any) -> None:
    enrollment.enrollments_for_form(record=record, form_id=form.pk)


@receiver(records_deleted, dispatch_uid="workflows.records_deleted")
def on_records_deleted(sender: Any, record_ids: list[int], **kwargs: Any) -> None:
    """A deleted record's runs stop (pending steps cancelled), as a manual unenroll."""
    services.enrollments_unenroll_records(record_ids=record_ids)
