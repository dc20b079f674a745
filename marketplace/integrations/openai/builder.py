"""The OpenAI section of the workflow builder: its label, icon, and the connection its
actions need (registered in apps.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace.integrations.openai.assistants import connection_for_account
from workflows.registry import BuilderSection

SECTION_KEY = "openai"


def connection_problem(account) -> str | None:
    connection = connection_for_account(account)
    if connection is None or not connection.is_installed:
        return _("OpenAI is not connected to this account.")
    return None


def connect_url(next_path: str) -> str:
    return f"{reverse('marketplace:openai_connect')}?{urlencode({'next': next_path})}"


SECTION = BuilderSection(
    SECTION_KEY,
    gettext_lazy("OpenAI integration"),
    "sparkles",
    order=40,
    connect_label=gettext_lazy("Connect to OpenAI"),
    connection_problem=connection_problem,
    connect_url=connect_url,
)
