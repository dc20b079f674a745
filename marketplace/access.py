"""Access helpers for marketplace views (built on crm/access.py)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm.access import account_for
from marketplace.models import Connection
from marketplace.registry import AppListing, app_listing


def listing_or_404(slug: str) -> AppListing:
    listing = app_listing(slug)
    if listing is None:
        raise Http404
    return listing


def require_app_manager(request: HttpRequest) -> None:
    account_for(request)
    if not request.user.can_manage_apps:
        raise PermissionDenied(
            _(
                "Your role does not allow this: only super admins can install, reconnect or "
                "uninstall apps. Ask a super admin of your account."
            )
        )


def connection_for_manager(request: HttpRequest, slug: str) -> tuple[Connection, AppListing]:
    """The user's own account's connection of app `slug`: 403 unless a super admin,
    404 when the account has none (another account's connection is never reachable)."""
    require_app_manager(request)
    listing = listing_or_404(slug)
    connection = get_object_or_404(
        Connection.objects.for_account(request.user.account).select_related("connected_by"),
        app=slug,
    )
    return connection, listing


def safe_next(request: HttpRequest, value: str | None) -> str | None:
    """`value` if it is a path on this site (the ?next= of "connect from a workflow")."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return None
