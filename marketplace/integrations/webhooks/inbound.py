"""What a request to a workflow's webhook URL does, once its token was checked: map the
JSON body's fields to properties, find the record by the match property or create it,
then enroll it — in one transaction, so a refused value leaves nothing half-written.

Requests to one URL run side by side; two bringing the same new value (e.g. email) at
once make one record, not two (crm.services.record_upsert serialises them by value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm import services as crm
from crm.models import Record
from marketplace.integrations.webhooks.models import WebhookEndpoint
from marketplace.integrations.webhooks.services import connection_for_account
from workflows.services import enrollment_trigger

TRIGGER_KEY = "webhook_received"
SOURCE = "webhook"


class Refused(Exception):
    """The request is answered `status` with `message`, and nothing is written."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Received:
    record: Record
    created: bool
    enrolled: bool


def webhook_receive(*, endpoint: WebhookEndpoint, payload: Any) -> Received:
    """Raises Refused: 409 when the workflow cannot take requests now, 400 when the
    body cannot make a record."""
    with transaction.atomic():
        # No row lock: requests to one URL run side by side (record_upsert serialises
        # those bringing the same value); a URL regenerated meanwhile answers 404 to the
        # next request, not to one already past the check.
        endpoint = WebhookEndpoint.objects.select_related("workflow__account").get(pk=endpoint.pk)
        workflow = endpoint.workflow
        _check_ready(endpoint)
        if not isinstance(payload, dict):
            raise Refused(400, _('The body must be a JSON object, like {"email": "…"}.'))
        values, fields = _values(endpoint, payload)
        if values.get(endpoint.match_property) in (None, ""):
            raise Refused(
                400,
                _("The body has no value for “%(field)s”, which finds the record.")
                % {"field": fields.get(endpoint.match_property, endpoint.match_property)},
            )
        try:
            record, created = crm.record_upsert(
                account=workflow.account,
                object_type=workflow.object_type,
                match=endpoint.match_property,
                values=values,
                source=SOURCE,
            )
        except ValidationError as error:
            raise Refused(400, _refusal(error, fields)) from None
        enrollment = enrollment_trigger(workflow=workflow, record=record)
    return Received(record=record, created=created, enrolled=enrollment is not None)


def _check_ready(endpoint: WebhookEndpoint) -> None:
    workflow = endpoint.workflow
    if connection_for_account(workflow.account) is None:
        raise Refused(409, _("The Webhooks app is not installed in this account."))
    if workflow.trigger != TRIGGER_KEY:
        raise Refused(
            409,
            _("Workflow “%(name)s” does not start on a webhook (its trigger was changed).")
            % {"name": workflow.name},
        )
    if not workflow.is_enabled or workflow.live_version_id is None:
        raise Refused(
            409,
            _("Workflow “%(name)s” is off: turn it on to accept requests.")
            % {"name": workflow.name},
        )
    if not endpoint.mapped() or not endpoint.match_property:
        raise Refused(
            409,
            _("Workflow “%(name)s” maps no JSON field to a property yet.")
            % {"name": workflow.name},
        )


def _values(
    endpoint: WebhookEndpoint, payload: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(values by property, the JSON field each came from). A field absent or null
    leaves its property alone; an object or a list is refused (map a field inside it)."""
    values: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for row in endpoint.mapped():
        fields[row["property"]] = row["field"]
        value = _dig(payload, row["field"])
        if value is None:
            continue
        if isinstance(value, dict | list):
            raise Refused(
                400,
                _("“%(field)s” is an object or a list: map one of the fields inside it.")
                % {"field": row["field"]},
            )
        values[row["property"]] = value
    return values, fields


def _dig(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for name in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _refusal(error: ValidationError, fields: dict[str, str]) -> str:
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(
        f"{fields.get(name, name)}: {' '.join(messages)}"
        for name, messages in error.message_dict.items()
    )
