"""Telling an account's super admins about its OpenAI connection (budget reached, quota
out, account assistants gone), through the crm's notification service: once per key,
whoever asks again (a burst of failing runs, the next batch)."""

from __future__ import annotations

from django.urls import reverse

from crm.models import Role, User
from crm.notifications import Message, notify
from marketplace.integrations.openai.listing import SLUG
from marketplace.models import Connection


def admins_notify(*, connection: Connection, key: str, title: Message, body: str) -> None:
    """One in-app notification per active super admin of the connection's account per
    `key` (crm.notifications deduplicates by it), linking to the OpenAI app's page; the
    title a `Message`, shown in each admin's language."""
    notify(
        account=connection.account,
        recipients=User.objects.filter(
            account_id=connection.account_id, role=Role.SUPER_ADMIN, is_active=True
        ),
        title=title,
        body=body,
        url=reverse("marketplace:app_detail", args=[SLUG]),
        idempotency_key=key,
    )
