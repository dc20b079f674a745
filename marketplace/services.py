"""Connection verbs every app shares: log, uninstall, runtime health.

Installing and reconnecting need the app's own key check, so they live in its
integration package (`marketplace/integrations/<slug>/services.py`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_noop

from crm.audit import AuditAction, audit_record
from crm.models import Account, User
from crm.notifications import Message, super_admins_notify
from marketplace.models import AppLogEntry, AppLogEvent, Connection, ConnectionStatus
from marketplace.registry import app_listing
from marketplace.signals import connection_needs_attention, connection_uninstalled

logger = logging.getLogger(__name__)

REASON_MAX_LENGTH = 1000


# App log events that also go to the account's audit log (crm/audit.py).
_AUDITED = {
    AppLogEvent.INSTALLED: AuditAction.CONNECTION_INSTALLED,
    AppLogEvent.RECONNECTED: AuditAction.CONNECTION_RECONNECTED,
    AppLogEvent.UNINSTALLED: AuditAction.CONNECTION_UNINSTALLED,
    AppLogEvent.MODELS_CHANGED: AuditAction.MODEL_ACCESS_CHANGED,
}


def app_log_add(
    *, connection: Connection, event: AppLogEvent, actor: User | None = None, reason: str = ""
) -> AppLogEntry:
    """One line of the app log; called in the transaction of the change it records, and
    for the audited events also one audit row in that transaction."""
    if event in _AUDITED:
        audit_record(
            action=_AUDITED[event],
            actor=actor,
            account=connection.account,
            target=connection.app,
            detail={"change": reason[:REASON_MAX_LENGTH]} if reason else None,
        )
    return AppLogEntry.objects.create(
        account_id=connection.account_id,
        connection=connection,
        event=event,
        actor=actor,
        reason=reason[:REASON_MAX_LENGTH],
    )


def connection_for(*, account: Account, app: str) -> Connection | None:
    return Connection.objects.for_account(account).filter(app=app).first()


@transaction.atomic
def connection_uninstall(*, connection: Connection, actor: User, reason: str = "") -> Connection:
    """Erase the key material; keep the row (status Disconnected) and its app log."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if not connection.is_installed:
        return connection
    connection.status = ConnectionStatus.DISCONNECTED
    connection.status_reason = ""
    connection.encrypted_secret = ""
    connection.secret_mask = ""
    connection.secret_fingerprint = ""
    connection.organization = ""
    connection.project = ""
    connection.quota_exhausted = False
    connection.available_models = []
    connection.allowed_models = None
    connection.models_refreshed_at = None
    connection.save()
    app_log_add(
        connection=connection, event=AppLogEvent.UNINSTALLED, actor=actor, reason=reason.strip()
    )
    logger.info("App %s uninstalled from account %s", connection.app, connection.account_id)
    connection_uninstalled.send(Connection, connection=connection, actor=actor, reason=reason)
    return connection


@transaction.atomic
def connection_mark_needs_attention(*, connection: Connection, reason: str) -> bool:
    """Called by an action when the app rejects the stored key at run time (HTTP 401).

    Sets "Needs attention", logs it in the app log and tells the super admins; a
    Reconnect with a working key clears it. Returns False when nothing changed (already
    flagged, or uninstalled meanwhile), so a burst of failing runs logs it once.
    """
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.status != ConnectionStatus.CONNECTED:
        return False
    connection.status = ConnectionStatus.NEEDS_ATTENTION
    connection.status_reason = reason[:REASON_MAX_LENGTH]
    connection.save(update_fields=["status", "status_reason", "updated_at"])
    app_log_add(connection=connection, event=AppLogEvent.KEY_REJECTED, reason=reason)
    logger.warning("App %s needs attention in account %s", connection.app, connection.account_id)
    connection_needs_attention.send(Connection, connection=connection, reason=reason)
    transaction.on_commit(lambda: super_admins_notify_needs_attention(connection=connection))
    return True


def super_admins_notify_needs_attention(*, connection: Connection) -> None:
    """Tell every super admin of the account, once per flagging, in the bell and by email."""
    listing = app_listing(connection.app)
    super_admins_notify(
        account=connection.account,
        title=Message(
            gettext_noop("%(app)s needs attention: reconnect the app"),
            {"app": listing.name if listing else connection.app},
        ),
        body=connection.status_reason,
        url=reverse("marketplace:app_detail", args=[connection.app]),
        idempotency_key=f"needs-attention:{connection.pk}:{connection.updated_at.isoformat()}",
        email=True,
    )
