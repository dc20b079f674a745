"""The Webhooks section of the workflow builder: its label, icon, and the app its
actions need (registered in apps.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace.integrations.webhooks.services import connection_for_account
from workflows.registry import BuilderSection

SECTION_KEY = "webhooks"


def connection_problem(account: Any) -> str | None:
    if connection_for_account(account) is None:
        return _("The Webhooks app is not installed in this account.")
    return None


def connect_url(next_path: str) -> str:
    return f"{reverse('marketplace:webhooks_connect')}?{urlencode({'next': next_path})}"


SECTION = BuilderSection(
    SECTION_KEY,
    gettext_lazy("Webhooks"),
    "globe-alt",
    order=50,
    connect_label=gettext_lazy("Install Webhooks"),
    connection_problem=connection_problem,
    connect_url=connect_url,
)
