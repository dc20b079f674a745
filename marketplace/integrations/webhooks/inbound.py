"""What a request to a workflow's webhook URL does, once its token was checked: check
the workflow takes requests, map the JSON body's fields to properties, validate them,
and put the request in the inbox (one INSERT; `inbox.py` makes the record and enrolls
it, in batches). A refused request writes nothing.

Each request reads its endpoint, workflow and whether the app is installed in one
statement of fixed SQL (`endpoint_for`), and the definitions of the properties it
writes only: three statements in all, the INSERT included.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model
from django.utils.translation import gettext as _

from crm.models import PropertyDefinition
from crm.services import values_validate
from marketplace.integrations.webhooks.inbox import request_accept
from marketplace.integrations.webhooks.listing import SLUG
from marketplace.integrations.webhooks.models import InboundRequest, WebhookEndpoint
from marketplace.models import Connection, ConnectionStatus
from workflows.models import Workflow

TRIGGER_KEY = "webhook_received"


class Refused(Exception):
    """The request is answered `status` with `message`, and nothing is written."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# What a request reads of its endpoint and workflow; the other fields stay deferred
# (loaded if something reads them).
_ENDPOINT_FIELDS = (
    "id",
    "workflow_id",
    "public_id",
    "encrypted_token",
    "mapping",
    "match_property",
)
_WORKFLOW_FIELDS = (
    "id",
    "account_id",
    "object_type",
    "name",
    "is_enabled",
    "trigger",
    "live_version_id",
)


def _ordered(model: type[Model], names: tuple[str, ...]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if f.attname in names]


def endpoint_for(public_id: str) -> tuple[WebhookEndpoint, bool] | None:
    """The endpoint of a public id (its workflow loaded) and whether its account has the
    Webhooks app installed, or None. One statement of fixed SQL: each request to the
    URL asks it, and building the ORM's three-table select cost more CPU than the rest
    of the request (benchmarks/webhook_assistant.py, web CPU per POST)."""
    endpoint_fields = _ordered(WebhookEndpoint, _ENDPOINT_FIELDS)
    workflow_fields = _ordered(Workflow, _WORKFLOW_FIELDS)
    columns = [f"e.{name}" for name in endpoint_fields] + [f"w.{name}" for name in workflow_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)}, EXISTS (SELECT 1 FROM {Connection._meta.db_table} c "
            "WHERE c.account_id = w.account_id AND c.app = %s AND c.status <> %s) "
            f"FROM {WebhookEndpoint._meta.db_table} e "
            f"JOIN {Workflow._meta.db_table} w ON w.id = e.workflow_id WHERE e.public_id = %s",
            [SLUG, ConnectionStatus.DISCONNECTED.value, public_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[: len(endpoint_fields)])
    mapping = endpoint_fields.index("mapping")
    if isinstance(values[mapping], str | bytes):  # PostgreSQL and SQLite give the text
        values[mapping] = json.loads(values[mapping])
    endpoint = WebhookEndpoint.from_db(connection.alias, endpoint_fields, values)
    workflow = Workflow.from_db(connection.alias, workflow_fields, row[len(endpoint_fields) : -1])
    workflow.is_enabled = bool(workflow.is_enabled)  # SQLite: 0 or 1
    endpoint.workflow = workflow
    return endpoint, bool(row[-1])


def webhook_receive(*, endpoint: WebhookEndpoint, payload: Any, installed: bool) -> InboundRequest:
    """Accept a request into the inbox. Raises Refused: 409 when the workflow cannot
    take requests now (`installed`: the Webhooks app is, as `endpoint_for` says), 400
    when the body cannot make a record."""
    workflow = endpoint.workflow
    _check_ready(endpoint, installed)
    if not isinstance(payload, dict):
        raise Refused(400, _('The body must be a JSON object, like {"email": "…"}.'))
    values, fields = _values(endpoint, payload)
    if values.get(endpoint.match_property) in (None, ""):
        raise Refused(
            400,
            _("The body has no value for “%(field)s”, which finds the record.")
            % {"field": fields.get(endpoint.match_property, endpoint.match_property)},
        )
    # The definitions of the properties written only (values_validate reads no other).
    definitions = {
        d.name: d
        for d in PropertyDefinition.objects.filter(
            account_id=workflow.account_id, object_type=workflow.object_type, name__in=list(values)
        )
    }
    try:
        values_validate(definitions, values)
    except ValidationError as error:
        raise Refused(400, _refusal(error, fields)) from None
    return request_accept(workflow=workflow, match=endpoint.match_property, values=values)


def _check_ready(endpoint: WebhookEndpoint, installed: bool) -> None:
    workflow = endpoint.workflow
    if not installed:
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
