"""The Ask step's **Test** section in the builder's config panel: its HTML (the action
type's `builder_panel_extra`) and the records it offers. Its endpoints (search, Test)
are in views/test_panel.py; the template is marketplace_openai/action_test.html."""

from __future__ import annotations

from django.template.loader import render_to_string

from crm.listing import search_q
from crm.models import Account, Record
from workflows.models import Workflow

RECORDS_SHOWN = 20


def records_for(account: Account, object_type: str, query: str = "") -> list[Record]:
    """The records the section's dropdown offers: the first RECORDS_SHOWN of the type,
    matching `query` (name or email) when given."""
    records = Record.objects.filter(account=account, object_type=object_type)
    if query:
        records = records.filter(search_q(query))
    return list(records.order_by("name", "id")[:RECORDS_SHOWN])


def panel_html(*, workflow: Workflow) -> str:
    """The section, with the first records of the workflow's object (see the template's
    comment)."""
    return render_to_string(
        "marketplace_openai/action_test.html#action-test-panel",
        {
            "object_type": workflow.object_type,
            "records": records_for(workflow.account, workflow.object_type),
        },
    )
