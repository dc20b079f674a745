"""Access helpers: every product view starts with one of these.

The decorators let a role in or raise PermissionDenied (403) with a sentence saying
why. The loaders (`<object>_for`) load one object from the request's own account, or
raise Http404 for anything else — another account's object looks like no object — and
are the only way a view loads an object by id: never a bare `Model.objects.get(id=...)`.
One loader per object type; a view needing an object "if it exists" catches Http404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from crm.models import (
    Account,
    ApiToken,
    Form,
    ImportJob,
    Notification,
    ObjectType,
    PropertyDefinition,
    Record,
    Role,
    Task,
)

ModelT = TypeVar("ModelT", bound=Model)
View = Callable[..., HttpResponse]


def account_for(request: HttpRequest) -> Account:
    """The account the request acts for: in the JSON API the bearer token's (crm/api.py
    sets `request.api_token`), elsewhere the logged-in user's."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return token.account
    account = getattr(request.user, "account", None)
    if account is None:
        raise PermissionDenied(_("Your user does not belong to any account."))
    return account


# --- Who may do what ----------------------------------------------------------------


def require_roles(*roles: Role, message: str | Promise | None = None) -> Callable[[View], View]:
    """Allow the view only to users of the account with one of `roles`."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            account_for(request)
            if getattr(request.user, "role", None) not in roles:
                raise PermissionDenied(
                    message or _("Your role does not allow this. Ask a super admin.")
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def require_permission(name: str, *, message: str | Promise) -> Callable[[View], View]:
    """Allow the view only to users of the account whose `User.<name>` is true (a
    permission the account's super admins set per role)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            account_for(request)
            if not getattr(request.user, name, False):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def require_account(view: View) -> View:
    """Any member of an account, whatever the role."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account_for(request)
        return view(request, *args, **kwargs)

    return wrapped


super_admin_required = require_roles(Role.SUPER_ADMIN, message=None)
workflow_editor_required = require_roles(Role.SUPER_ADMIN, Role.WORKFLOW_BUILDER)


# --- One loader per object ----------------------------------------------------------


def record_for(request: HttpRequest, pk: int, *, slug: str | None = None) -> Record:
    """A record of the account; with `slug` (the URL's "contacts", "deals"…), of that
    object type only."""
    records = Record.objects.filter(account=account_for(request), pk=pk)
    if slug is not None:
        object_type = ObjectType.from_slug(slug)
        if object_type is None:
            raise Http404
        records = records.filter(object_type=object_type)
    return _one(records.select_related("owner", "account"))


def task_for(request: HttpRequest, pk: int) -> Task:
    return _one(Task.objects.filter(account=account_for(request), pk=pk).select_related("assignee"))


def notification_for(request: HttpRequest, pk: int) -> Notification:
    """One of the user's own notifications (never a colleague's)."""
    return _one(
        Notification.objects.filter(
            account=account_for(request), recipient_id=request.user.pk, pk=pk
        )
    )


def property_definition_for(request: HttpRequest, pk: int) -> PropertyDefinition:
    return _one(PropertyDefinition.objects.filter(account=account_for(request), pk=pk))


def form_for(request: HttpRequest, pk: int) -> Form:
    """A web form of the account. (Its public page finds it by its random public key
    instead, with no account: knowing the key is the access.)"""
    return _one(Form.objects.filter(account=account_for(request), pk=pk))


def import_job_for(request: HttpRequest, pk: int, *, with_content: bool = False) -> ImportJob:
    """A CSV import of the account; its file's text is loaded only `with_content`."""
    jobs = ImportJob.objects.filter(account=account_for(request), pk=pk)
    return _one(jobs if with_content else jobs.defer("content"))


def api_token_for(request: HttpRequest, pk: int) -> ApiToken:
    return _one(ApiToken.objects.filter(account=account_for(request), pk=pk))


def _one(queryset: QuerySet[ModelT]) -> ModelT:
    found = queryset.first()
    if found is None:
        raise Http404
    return found
