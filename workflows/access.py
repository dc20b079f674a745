"""Loading a workflow for the user — the one helper every builder and history view
starts with: another account's workflow is a 404, and changing it (editing, turning
on, replaying runs) needs the builder role: a 403 that says why."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from django_htmx.middleware import HtmxDetails

from crm.access import account_for
from crm.models import User
from workflows.models import Workflow


class BuilderRequest(HttpRequest):
    """The request of a builder view: a signed-in user (LoginRequiredMiddleware) and
    `htmx` (HtmxMiddleware)."""

    user: User
    htmx: HtmxDetails


def workflow_for(request: HttpRequest, pk: int, *, edit: bool = False) -> Workflow:
    """The account's workflow (with its account and live version, which the pages read)."""
    account = account_for(request)
    workflow = (
        Workflow.objects.filter(account=account, pk=pk)
        .select_related("account", "live_version")
        .first()
    )
    if workflow is None:
        raise Http404
    if edit:
        editor_check(request)
    return workflow


def editor_check(request: HttpRequest) -> None:
    if not getattr(request.user, "can_edit_workflows", False):
        raise PermissionDenied(
            _(
                "Sales reps can view workflows but not change them. Ask a "
                "workflow builder or a super admin."
            )
        )
