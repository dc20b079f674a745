"""Access helpers: every product view starts with one of these.

They load from the user's own account and raise PermissionDenied (403) for a role
that may not do the thing, or Http404 for another account's object — never a bare
`Model.objects.get(id=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _

from crm.models import Account, Role


def account_for(request: HttpRequest) -> Account:
    account = getattr(request.user, "account", None)
    if account is None:
        raise PermissionDenied(_("Your user does not belong to any account."))
    return account


def require_roles(*roles: Role, message: str | None = None) -> Callable:
    """Allow the view only to users of the account with one of `roles`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            account_for(request)
            if request.user.role not in roles:
                raise PermissionDenied(
                    message or _("Your role does not allow this. Ask a super admin.")
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def require_account(view: Callable) -> Callable:
    """Any member of an account, whatever the role."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        account_for(request)
        return view(request, *args, **kwargs)

    return wrapped


super_admin_required = require_roles(Role.SUPER_ADMIN, message=None)
workflow_editor_required = require_roles(Role.SUPER_ADMIN, Role.WORKFLOW_BUILDER)
