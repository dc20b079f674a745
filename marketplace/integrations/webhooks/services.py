"""Install and roll the signing secret; a workflow's inbound URL and its mapping.

Installing needs no outside check (there is no remote account): one short transaction
stores a generated secret encrypted and logs the event. What a request to a URL does
is in inbound.py.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from crm.models import Account, User
from marketplace.encryption import secret_encrypt, secret_fingerprint
from marketplace.integrations.webhooks.listing import SLUG
from marketplace.integrations.webhooks.models import WebhookEndpoint
from marketplace.integrations.webhooks.signing import secret_generate, secret_masked
from marketplace.models import AppLogEvent, Connection, ConnectionStatus
from marketplace.services import app_log_add


class ConnectionExists(Exception):
    """The account already has Webhooks installed: go to it instead of installing."""

    def __init__(self, connection: Connection) -> None:
        super().__init__("this account already has the Webhooks app")
        self.connection = connection


@dataclass(frozen=True)
class SecretShown:
    """A new signing secret, to show once; only its mask is ever shown again."""

    connection: Connection
    secret: str


def connection_for_account(account: Account) -> Connection | None:
    """The account's installed Webhooks connection, or None."""
    return Connection.objects.for_account(account).installed().filter(app=SLUG).first()


@sensitive_variables("secret")
def _store_secret(connection: Connection, *, secret: str, user: User) -> None:
    connection.encrypted_secret = secret_encrypt(secret)
    connection.secret_mask = secret_masked(secret)
    connection.secret_fingerprint = secret_fingerprint(secret)
    connection.status = ConnectionStatus.CONNECTED
    connection.status_reason = ""
    connection.connected_by = user
    connection.connected_at = timezone.now()


@sensitive_variables("secret")
def connection_install(*, account: Account, user: User) -> SecretShown:
    """Install Webhooks for `account` with a new signing secret.

    Raises ConnectionExists when it is installed already — also when another request
    installs between our check and our insert (the unique constraint decides).
    """
    secret = secret_generate()
    try:
        with transaction.atomic():
            connection = (
                Connection.objects.select_for_update().filter(account=account, app=SLUG).first()
            )
            if connection is None:
                connection = Connection(account=account, app=SLUG)
            elif connection.is_installed:
                raise ConnectionExists(connection)
            _store_secret(connection, secret=secret, user=user)
            connection.save()
            app_log_add(connection=connection, event=AppLogEvent.INSTALLED, actor=user)
    except IntegrityError:
        raise ConnectionExists(Connection.objects.get(account=account, app=SLUG)) from None
    return SecretShown(connection, secret)


@sensitive_variables("secret")
def connection_secret_roll(*, connection: Connection, user: User) -> SecretShown:
    """Replace the signing secret (Actions > Reconnect app): requests signed from now on
    use the new one, so receivers must switch to it."""
    secret = secret_generate()
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        _store_secret(connection, secret=secret, user=user)
        connection.save()
        app_log_add(
            connection=connection,
            event=AppLogEvent.RECONNECTED,
            actor=user,
            reason="signing secret rolled",
        )
    return SecretShown(connection, secret)


# --- Inbound URLs ------------------------------------------------------------------


def _new_ids() -> tuple[str, str]:
    return secrets.token_urlsafe(9), secrets.token_urlsafe(24)


def endpoint_get_or_create(*, workflow: Any) -> WebhookEndpoint:
    """The workflow's inbound URL, made the first time its editor sees the trigger."""
    endpoint = WebhookEndpoint.objects.filter(workflow=workflow).first()
    if endpoint is not None:
        return endpoint
    public_id, token = _new_ids()
    try:
        with transaction.atomic():
            return WebhookEndpoint.objects.create(
                workflow=workflow, public_id=public_id, encrypted_token=secret_encrypt(token)
            )
    except IntegrityError:  # made by a concurrent request of the same editor
        return WebhookEndpoint.objects.get(workflow=workflow)


def endpoint_url_regenerate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new URL; the old one answers 404 at once."""
    public_id, token = _new_ids()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        public_id=public_id, encrypted_token=secret_encrypt(token), updated_at=timezone.now()
    )
    endpoint.refresh_from_db()
    return endpoint


def endpoint_mapping_save(
    *, endpoint: WebhookEndpoint, mapping: list[dict[str, str]], match_property: str
) -> WebhookEndpoint:
    """Store a mapping checked by `forms.mapping_clean`."""
    endpoint.mapping = mapping
    endpoint.match_property = match_property
    endpoint.save(update_fields=["mapping", "match_property", "updated_at"])
    return endpoint


def endpoint_answer_note(*, endpoint: WebhookEndpoint, status: int, message: str) -> None:
    """Remember the last answer (the trigger panel shows it): a separate write, so it is
    kept when the request's own transaction was rolled back."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        last_received_at=timezone.now(), last_status=status, last_message=message[:500]
    )
