"""Who sees what in the history: every history view starts with `workflows.access.
workflow_for` (the one loader of a workflow) and then one of these, one per object, as
crm/access.py's do. They load from `request.user.account`: another
account's workflow or run is a 404; replaying without the builder role is a 403 that
says why.

Builders and super admins see every run of the account; sales reps only the runs of
records they own (prompts and responses hold other people's customer data).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django_htmx.middleware import HtmxDetails

from crm.access import account_for
from crm.models import User
from workflows.models import ActionExecution, Enrollment, Workflow


class HistoryRequest(HttpRequest):
    """The request of a history view: a signed-in user (LoginRequiredMiddleware) and
    `htmx` (HtmxMiddleware)."""

    user: User
    htmx: HtmxDetails


def sees_all_runs(user: User) -> bool:
    return user.can_edit_workflows


def _check_account(request: HistoryRequest, workflow: Workflow) -> None:
    if workflow.account_id != account_for(request).pk:
        raise Http404


def enrollments_for(request: HistoryRequest, workflow: Workflow) -> QuerySet[Enrollment]:
    """The runs of `workflow` the user may see (the run detail loads one of them, or 404)."""
    _check_account(request, workflow)
    enrollments = Enrollment.objects.filter(workflow=workflow)
    if not sees_all_runs(request.user):
        enrollments = enrollments.filter(record__owner=request.user)
    return enrollments


def executions_for(request: HistoryRequest, workflow: Workflow) -> QuerySet[ActionExecution]:
    """The steps of the runs of `workflow` the user may see."""
    _check_account(request, workflow)
    executions = ActionExecution.objects.filter(workflow=workflow)
    if not sees_all_runs(request.user):
        executions = executions.filter(enrollment__record__owner=request.user)
    return executions
