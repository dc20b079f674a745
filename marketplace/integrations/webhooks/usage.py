"""Usage provider for marketplace.registry: the account's workflows that send webhooks
or start on one (the uninstall dialog lists them before uninstalling breaks them)."""

from __future__ import annotations

from django.urls import reverse

from marketplace.integrations.webhooks.action import KEY
from marketplace.integrations.webhooks.inbound import TRIGGER_KEY
from marketplace.integrations.webhooks.listing import SLUG
from marketplace.models import Connection
from marketplace.registry import AppUsage
from workflows.models import Workflow


def workflows_using_webhooks(connection: Connection) -> list[AppUsage]:
    if connection.app != SLUG:
        return []
    usages = []
    for workflow in Workflow.objects.filter(account_id=connection.account_id).only(
        "id", "name", "graph", "trigger"
    ):
        steps = (workflow.graph or {}).get("steps", {}).values()
        if workflow.trigger == TRIGGER_KEY or any(s.get("type") == KEY for s in steps):
            usages.append(
                AppUsage(label=workflow.name, url=reverse("workflows:builder", args=[workflow.pk]))
            )
    return usages
