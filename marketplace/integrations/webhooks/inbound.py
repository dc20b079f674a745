"""What a request to a workflow's webhook URL does, once its token was checked: check
the workflow takes requests, map the JSON body's fields to properties, validate them,
and put the request in the inbox (one INSERT; `inbox.py` makes the record and enrolls
it, in batches). A refused request writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from crm.models import PropertyDefinition
from crm.services import values_validate
from marketplace.integrations.webhooks.inbox import request_accept
from marketplace.integrations.webhooks.listing import SLUG
from marketplace.integrations.webhooks.models import InboundRequest, WebhookEndpoint
from marketplace.integrations.webhooks.services import connection_for_account
from marketplace.models import Connection

TRIGGER_KEY = "webhook_received"


class Refused(Exception):
    """The request is answered `status` with `message`, and nothing is written."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def endpoint_for(public_id: str) -> WebhookEndpoint | None:
    """The endpoint of a public id, with its workflow, account, and whether the account
    has the Webhooks app installed (`app_installed`): one query."""
    installed = Connection.objects.installed().filter(
        account_id=OuterRef("workflow__account_id"), app=SLUG
    )
    found = list(
        WebhookEndpoint.objects.select_related("workflow__account")
        .annotate(app_installed=Exists(installed))
        .filter(public_id=public_id)[:1]
    )
    return found[0] if found else None


def webhook_receive(*, endpoint: WebhookEndpoint, payload: Any) -> InboundRequest:
    """Accept a request into the inbox. Raises Refused: 409 when the workflow cannot
    take requests now, 400 when the body cannot make a record. `endpoint` comes with
    its workflow and account (select_related; `endpoint_for` gives it so)."""
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
    # The definitions of the properties written only (values_validate reads no other).
    definitions = {
        d.name: d
        for d in PropertyDefinition.objects.filter(
            account_id=workflow.account_id, object_type=workflow.object_type, name__in=values
        )
    }
    try:
        values_validate(definitions, values)
    except ValidationError as error:
        raise Refused(400, _refusal(error, fields)) from None
    return request_accept(workflow=workflow, match=endpoint.match_property, values=values)


def _check_ready(endpoint: WebhookEndpoint) -> None:
    workflow = endpoint.workflow
    installed = getattr(endpoint, "app_installed", None)  # endpoint_for() says
    if installed is None:
        installed = connection_for_account(workflow.account) is not None
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
