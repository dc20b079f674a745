"""Writing the audit log (crm/models/audit.py): one function, `audit_record`, called by
the code that makes each audited change, inside that change's transaction.

Callers outside crm (marketplace, workflows) call it too: the audit log belongs to the
account, like its users and roles.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

from crm.models import Account, AuditAction, AuditEvent, User

__all__ = ["AuditAction", "AuditRequestMiddleware", "audit_record", "csv_cell"]

# The request being served, so that services called deep inside it (connecting an app,
# saving a budget) record who did it and from which address without being handed it.
_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


class AuditRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def _ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # After ClientAddressMiddleware: the client behind TRUSTED_PROXIES, not the proxy.
    address = request.META.get("REMOTE_ADDR") or None
    return address


def audit_record(
    *,
    action: AuditAction,
    request: HttpRequest | None = None,
    actor: User | None = None,
    account: Account | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row. `request` defaults to the one being served, `actor` to its
    signed-in user, `account` to the actor's. Call it inside the transaction of the change it records
    (`transaction.atomic()` around both), so neither is ever kept without the other;
    sign-in events record an attempt, not a change, and have no transaction to join."""
    if request is None:
        request = _current_request.get()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    if account is None and actor is not None:
        account = actor.account
    return AuditEvent.objects.create(
        account=account,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        target=str(target)[:300],
        detail=detail or {},
        ip_address=_ip(request),
    )


# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> str:
    """A value for a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text
