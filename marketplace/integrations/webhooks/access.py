"""The one loader of this package's views: a workflow of the user's own account (another
account's is a 404), for its editors only (a sales rep gets a 403 saying why)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from crm.access import account_for
from workflows.models import Workflow


def workflow_for_editor(request: HttpRequest, pk: int) -> Workflow:
    workflow = Workflow.objects.filter(account=account_for(request), pk=pk).first()
    if workflow is None:
        raise Http404
    if not getattr(request.user, "can_edit_workflows", False):
        raise PermissionDenied(
            _("Only workflow builders and super admins can change a workflow's webhook.")
        )
    return workflow
