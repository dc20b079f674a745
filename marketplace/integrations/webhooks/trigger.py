"""The "Webhook received" trigger: its settings in the builder's trigger panel (the URL,
Generate a new URL, the field mapping), its card text and review problems.

The settings sit inside the trigger panel's <form>: their buttons post to this
package's view (views.trigger_panel) with htmx, never through a form of their own. A
change of a property dropdown makes the trigger panel re-render itself with what was
posted, so `panel_html` shows the posted rows when there are any; the mapping is saved
by our view when a button here is used and whenever the trigger panel's form is
submitted (its Save), by a hidden element listening for that submit.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.services import definitions_for
from marketplace.integrations.webhooks.forms import MappingRow, mapping_rows_from_post
from marketplace.integrations.webhooks.inbound import TRIGGER_KEY
from marketplace.integrations.webhooks.models import WebhookEndpoint
from marketplace.integrations.webhooks.services import (
    connection_for_account,
    endpoint_get_or_create,
)
from workflows.registry import TriggerType

TEMPLATE = "marketplace_webhooks/trigger_panel.html"


class WebhookReceived(TriggerType):
    key = TRIGGER_KEY
    label = gettext_lazy("Webhook received")
    description = gettext_lazy("Another system posts JSON to this workflow's secret URL.")

    def panel_html(self, workflow: Any, *, request: HttpRequest) -> str:
        rows = mapping_rows_from_post(request.POST) if "wh-rows" in request.POST else None
        return render_to_string(TEMPLATE, panel_context(request, workflow, rows=rows), request)

    def summary(self, workflow: Any) -> str:
        return _("When a webhook is received")

    def review_problems(self, workflow: Any) -> list[str]:
        problems = []
        if connection_for_account(workflow.account) is None:
            problems.append(
                _(
                    "The Webhooks app is not installed: a super admin can install it from the "
                    "App Marketplace."
                )
            )
        endpoint = WebhookEndpoint.objects.filter(workflow=workflow).first()
        mapped = endpoint.mapped() if endpoint is not None else []
        if not mapped:
            problems.append(_("Map at least one field of the webhook's JSON to a property."))
        known = definitions(workflow)
        gone = [row["field"] for row in mapped if row["property"] not in known]
        if gone:
            problems.append(
                _("The webhook maps %(fields)s to a property that was deleted.")
                % {"fields": ", ".join(gone)}
            )
        return problems


def definitions(workflow: Any) -> dict[str, Any]:
    return definitions_for(workflow.account, workflow.object_type)


def blank_row() -> MappingRow:
    return MappingRow(field="", property="")


def _property_label(definition: Any) -> str:
    # Standard properties' labels are translated in the CRM's catalogue.
    return _(definition.label) if definition.is_standard else str(definition.label)


def panel_context(
    request: HttpRequest,
    workflow: Any,
    *,
    rows: list[MappingRow] | None = None,
    problems: list[str] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """What the settings show: for editors the URL (made on first sight) and the rows
    (`rows`, else the saved mapping, else one blank row); for others a sentence."""
    can_edit = bool(getattr(request.user, "can_edit_workflows", False))
    endpoint = endpoint_get_or_create(workflow=workflow) if can_edit else None
    if rows is None and endpoint is not None:
        rows = [
            MappingRow(row["field"], row["property"], row["property"] == endpoint.match_property)
            for row in endpoint.mapped()
        ]
    rows = rows or [blank_row()]
    if not any(row.match for row in rows):
        rows[0].match = True
    known = definitions(workflow)
    return {
        "workflow": workflow,
        "can_edit": can_edit,
        "installed": connection_for_account(workflow.account) is not None,
        "url": request.build_absolute_uri(endpoint.path()) if endpoint is not None else "",
        "rows": list(enumerate(rows)),
        "properties": sorted(
            ((d.name, _property_label(d)) for d in known.values()),
            key=lambda item: item[1].casefold(),
        ),
        "action": reverse("marketplace:webhooks_trigger", args=[workflow.pk]),
        "endpoint": endpoint,
        "problems": problems or [],
        "note": note,
    }


def panel_response(request: HttpRequest, workflow: Any, **kwargs: Any) -> HttpResponse:
    return HttpResponse(
        render_to_string(TEMPLATE, panel_context(request, workflow, **kwargs), request)
    )
