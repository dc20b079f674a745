"""Loading a workflow for the user: another account's workflow is a 404, and editing
needs the builder role (a 403 that says why)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from crm.access import account_for
from workflows.models import Workflow


def workflow_for(request: HttpRequest, pk: int, *, edit: bool = False) -> Workflow:
    account = account_for(request)
    workflow = Workflow.objects.filter(account=account, pk=pk).select_related("account").first()
    if workflow is None:
        raise Http404
    if edit:
        editor_check(request)
    return workflow


def editor_check(request: HttpRequest) -> None:
    if not request.user.can_edit_workflows:
        raise PermissionDenied(
            _(
                "Sales reps can view workflows but not change them. Ask a "
                "workflow builder or a super admin."
            )
        )
