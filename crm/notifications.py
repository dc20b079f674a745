"""Notifying people: in-app notifications (the bell) and internal email.

`notify()` is what workflows and the marketplace call. It is idempotent by key: the
same `idempotency_key` (a workflow execution id, say) never creates a second
notification nor sends a second email to a recipient, even when called again after a
crash or a redelivered message.

A title crmflow writes is a `Message`: its English source (marked with `gettext_noop`,
so the catalogues have it) and its parameters are stored, and each reader sees it in
their own language (`Notification.title_text()`), whoever's request created it. A plain
string title (a workflow's notification: its builder's words) is shown as written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm.models import Account, Notification, Role, User

logger = logging.getLogger(__name__)

MAX_TITLE = 255
MAX_BODY = 10_000
MAX_KEY = 100


@dataclass(frozen=True)
class Message:
    """A text to render in each reader's language: the English source, marked with
    `gettext_noop` where it is written, and its %-parameters (shown as given: names,
    titles, what the reader's language does not change)."""

    source: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def stored_params(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.params.items()}

    def render(self) -> str:
        """In the active language; "" when the source no longer takes these
        parameters (the stored title stands in)."""
        text = gettext(self.source)
        if not self.params:
            return text
        try:
            return text % self.stored_params()
        except (KeyError, ValueError, TypeError):
            return ""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:MAX_TITLE]


def _safe_path(url: str) -> str:
    """Notifications only link inside crmflow: keep a local path, drop anything else."""
    url = (url or "").strip()[:500]
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return ""


def notify(
    *,
    account: Account,
    recipients: Iterable[User],
    title: str | Message,
    body: str = "",
    url: str = "",
    idempotency_key: str | None = None,
    email: bool = False,
) -> list[Notification]:
    """Create one in-app notification per recipient of `account`; optionally email them.

    Recipients from another account, inactive users and duplicates are skipped. With a
    key, a recipient who already has a notification for it gets nothing new (it is
    returned as is). Emails are sent after the transaction commits, only for the
    notifications created by this call; a failing mail server is logged, never raised.
    Returns the notifications (created or already existing), one per recipient.
    """
    title_key, title_params = "", {}
    if isinstance(title, Message):
        title_key, title_params = title.source, title.stored_params()
        with translation.override(settings.LANGUAGE_CODE):
            title = title.render() or title.source
    title = _one_line(title)
    body = str(body)[:MAX_BODY]
    path = _safe_path(url)
    key = idempotency_key[:MAX_KEY] if idempotency_key else None
    seen: set[int] = set()
    targets = []
    for user in recipients:
        if user.pk in seen or user.account_id != account.pk or not user.is_active:
            continue
        seen.add(user.pk)
        targets.append(user)
    result: list[Notification] = []
    created: list[Notification] = []
    for user in targets:
        if key:
            existing = Notification.objects.filter(recipient=user, idempotency_key=key).first()
            if existing is not None:
                result.append(existing)
                continue
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    account=account,
                    recipient=user,
                    title=title,
                    title_key=title_key,
                    title_params=title_params,
                    body=body,
                    url=path,
                    idempotency_key=key,
                )
        except IntegrityError:
            # A concurrent call with the same key won the race: theirs stands.
            result.append(Notification.objects.get(recipient=user, idempotency_key=key))
            continue
        result.append(notification)
        created.append(notification)
    if email and created:
        ids = [n.pk for n in created]
        transaction.on_commit(lambda: _send_emails(ids))
    return result


def _send_emails(notification_ids: list[int]) -> None:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    for notification in Notification.objects.filter(pk__in=notification_ids).select_related(
        "recipient"
    ):
        address = notification.recipient.email
        if not address:
            continue
        lines = [notification.body] if notification.body else []
        if notification.url:
            lines.append(f"{base}{notification.url}")
        # In the recipient's language (the one they last picked), else the sender's.
        with translation.override(notification.recipient.language or translation.get_language()):
            subject = _one_line(notification.title_text())
        try:
            send_mail(
                subject=subject,
                message="\n\n".join(lines) or subject,
                from_email=None,
                recipient_list=[address],
            )
        except Exception:  # noqa: BLE001 — mail is best effort; the bell already has it
            logger.exception("Could not email notification %s", notification.pk)


def unread_count(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(user: User, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when ids is None)."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timezone.now())


def super_admins_notify(
    *,
    account: Account,
    title: str | Message,
    body: str = "",
    url: str = "",
    idempotency_key: str,
    email: bool = False,
) -> list[Notification]:
    """Tell every active super admin of `account` (in-app, and by email with `email`),
    once per key: the one way a workflow failure, an app needing attention, a quota or
    a budget reaches the people who can act."""
    admins = User.objects.filter(account=account, role=Role.SUPER_ADMIN, is_active=True)
    return notify(
        account=account,
        recipients=admins,
        title=title,
        body=body,
        url=url,
        idempotency_key=idempotency_key,
        email=email,
    )
