"""Install, reconnect and model access for the OpenAI app.

The endpoint's address and the key are checked live (outside any transaction: slow
network calls) before anything is written; then one short transaction stores the key
encrypted and the endpoint, and logs the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from crm.models import Account, User
from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
from marketplace.integrations.openai.client import (
    KeyCheck,
    KeyOutcome,
    is_text_generation_model,
    key_check,
)
from marketplace.integrations.openai.endpoints import (
    OPENAI,
    Endpoint,
    endpoint_for,
    endpoint_store,
    endpoint_url_problem,
)
from marketplace.integrations.openai.listing import SLUG
from marketplace.integrations.openai.models import BudgetUnit
from marketplace.integrations.openai.usage import budget_set
from marketplace.models import AppLogEvent, Connection, ConnectionStatus
from marketplace.services import app_log_add


class ConnectionExists(Exception):
    """The account already has an OpenAI connection: go to it instead of installing."""

    def __init__(self, connection: Connection) -> None:
        super().__init__("this account already has an OpenAI connection")
        self.connection = connection


@dataclass(frozen=True)
class KeyResult:
    check: KeyCheck
    connection: Connection | None = None  # None: the key was refused and nothing stored


@sensitive_variables("api_key")
def _store_key(connection: Connection, *, api_key: str, check: KeyCheck, user: User) -> None:
    connection.encrypted_secret = secret_encrypt(api_key)
    connection.secret_mask = secret_mask(api_key)
    connection.secret_fingerprint = secret_fingerprint(api_key)
    connection.status = ConnectionStatus.CONNECTED
    connection.status_reason = ""
    connection.organization = check.organization
    connection.project = check.project
    connection.quota_exhausted = check.outcome is KeyOutcome.QUOTA_EXHAUSTED
    connection.connected_by = user
    connection.connected_at = timezone.now()
    if check.model_ids:
        connection.available_models = list(check.model_ids)
        connection.models_refreshed_at = timezone.now()


@sensitive_variables("api_key")
def endpoint_key_check(api_key: str, endpoint: Endpoint) -> KeyCheck:
    """The endpoint's address (nothing is sent to a refused one), then the key."""
    if endpoint.kind != OPENAI.kind:
        problem = endpoint_url_problem(endpoint.url)
        if problem:
            return KeyCheck(
                KeyOutcome.ADDRESS_REFUSED,
                secret_fingerprint(api_key),
                endpoint=endpoint,
                detail=problem,
            )
    return key_check(api_key, endpoint)


@sensitive_variables("api_key")
def connection_install(
    *,
    account: Account,
    user: User,
    api_key: str,
    endpoint: Endpoint = OPENAI,
    monthly_budget_usd: Decimal | None = None,
) -> KeyResult:
    """Check `endpoint` and `api_key`, and connect OpenAI for `account`, with a monthly
    budget in US dollars for the whole connection when one is given.

    Raises ConnectionExists when the account is already connected — also when another
    request installs between our check and our insert (the unique constraint decides).
    """
    existing = Connection.objects.for_account(account).filter(app=SLUG).first()
    if existing is not None and existing.is_installed:
        raise ConnectionExists(existing)
    check = endpoint_key_check(api_key, endpoint)
    if not check.outcome.connectable:
        return KeyResult(check)
    try:
        with transaction.atomic():
            if existing is not None:
                connection = Connection.objects.select_for_update().get(pk=existing.pk)
                if connection.is_installed:
                    raise ConnectionExists(connection)
            else:
                connection = Connection(account=account, app=SLUG)
            _store_key(connection, api_key=api_key, check=check, user=user)
            connection.allowed_models = None
            if not check.model_ids:
                connection.available_models = []
            connection.save()
            endpoint_store(connection=connection, endpoint=endpoint)
            if monthly_budget_usd is not None:
                budget_set(
                    connection=connection,
                    workflow=None,
                    unit=BudgetUnit.USD,
                    monthly_limit=monthly_budget_usd,
                )
            app_log_add(connection=connection, event=AppLogEvent.INSTALLED, actor=user)
    except IntegrityError:
        raise ConnectionExists(Connection.objects.get(account=account, app=SLUG)) from None
    return KeyResult(check, connection)


@sensitive_variables("api_key")
def connection_reconnect(
    *, connection: Connection, user: User, api_key: str, endpoint: Endpoint = OPENAI
) -> KeyResult:
    """Replace the stored key and endpoint once the endpoint accepts `api_key`; clears
    Needs attention. A new endpoint lists its own models: Model access starts again
    from every text-generation model."""
    check = endpoint_key_check(api_key, endpoint)
    if not check.outcome.connectable:
        return KeyResult(check)
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        moved = endpoint_for(connection) != endpoint
        _store_key(connection, api_key=api_key, check=check, user=user)
        if moved:
            connection.allowed_models = None
            connection.available_models = list(check.model_ids)
        connection.save()
        endpoint_store(connection=connection, endpoint=endpoint)
        app_log_add(connection=connection, event=AppLogEvent.RECONNECTED, actor=user)
    return KeyResult(check, connection)


def models_refresh(*, connection: Connection) -> KeyCheck:
    """Re-list the key's models from its endpoint."""
    check = endpoint_key_check(connection.secret(), endpoint_for(connection))
    if check.model_ids:
        Connection.objects.filter(pk=connection.pk).update(
            available_models=list(check.model_ids), models_refreshed_at=timezone.now()
        )
        connection.refresh_from_db()
    return check


def text_generation_models(connection: Connection) -> list[str]:
    return [m for m in connection.available_models if is_text_generation_model(m)]


def models_for_builders(connection: Connection) -> list[str]:
    """The model ids workflow builders may pick in Model selection."""
    choices = text_generation_models(connection)
    if connection.allowed_models is None:
        return choices
    allowed = set(connection.allowed_models)
    return [m for m in choices if m in allowed]


@transaction.atomic
def model_access_update(*, connection: Connection, user: User, model_ids: list[str]) -> Connection:
    choices = text_generation_models(connection)
    chosen = [m for m in choices if m in set(model_ids)]
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    before = set(models_for_builders(connection))
    # Everything chosen is stored as the default again, so that new models appear.
    connection.allowed_models = None if chosen == choices else chosen
    connection.save(update_fields=["allowed_models", "updated_at"])
    after = set(models_for_builders(connection))
    if before != after:
        changes = [f"+{m}" for m in sorted(after - before)] + [
            f"-{m}" for m in sorted(before - after)
        ]
        app_log_add(
            connection=connection,
            event=AppLogEvent.MODELS_CHANGED,
            actor=user,
            reason=", ".join(changes),
        )
    return connection
