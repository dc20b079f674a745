"""Workflow history pages: Action logs, Enrollment history, run detail, replay, and the
live per-step counts the canvas polls. Every view loads the workflow from the user's
account (another account's id is a 404) and narrows runs to what the role may see
(workflows/history.py: `sees_all_runs`)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from crm.access import require_account
from workflows import history
from workflows import replay as replays
from workflows.models import Enrollment


def _render(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    """The whole page, or only its region when htmx asks for it (partial = element id)."""
    if request.htmx and request.htmx.target == partial:
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context)


def _base_context(request: HttpRequest, workflow, tab: str) -> dict:
    filters = history.LogFilter.from_query(request.GET)
    return {
        "workflow": workflow,
        "tab": tab,
        "filters": filters,
        "section": "automation",
        "events": history.Event.CHOICES,
        "action_types": history.action_types_of(workflow),
        "can_replay": request.user.can_edit_workflows,
        "title": workflow.name,
        "sees_all_runs": history.sees_all_runs(request.user),
    }


@require_GET
@require_account
def action_logs(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = history.workflow_for(request.user, workflow_id)
    context = _base_context(request, workflow, "logs")
    rows, next_cursor = history.action_logs(
        user=request.user,
        workflow=workflow,
        filters=context["filters"],
        cursor=request.GET.get("after"),
    )
    context.update(rows=rows, next_cursor=next_cursor, is_first_page=not request.GET.get("after"))
    return _render(request, "history/logs.html", "history-results", context)


@require_GET
@require_account
def enrollment_history(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = history.workflow_for(request.user, workflow_id)
    context = _base_context(request, workflow, "enrollments")
    rows, next_cursor = history.enrollment_history(
        user=request.user,
        workflow=workflow,
        filters=context["filters"],
        cursor=request.GET.get("after"),
    )
    context.update(rows=rows, next_cursor=next_cursor, is_first_page=not request.GET.get("after"))
    return _render(request, "history/enrollments.html", "history-results", context)


@require_GET
@require_account
def run_detail(request: HttpRequest, workflow_id: int, enrollment_id: int) -> HttpResponse:
    workflow = history.workflow_for(request.user, workflow_id)
    enrollment = history.enrollment_for(request.user, workflow, enrollment_id)
    context = {
        "workflow": workflow,
        "enrollment": enrollment,
        "steps": history.run_steps(enrollment, account=request.user.account),
        "in_flight": enrollment.status == Enrollment.Status.ACTIVE,
        "can_replay": request.user.can_edit_workflows
        and enrollment.status == Enrollment.Status.FAILED,
        "section": "automation",
        "title": _("Run of %(record)s") % {"record": enrollment.record},
    }
    return _render(request, "history/run.html", "run", context)


def _replay_selection(request: HttpRequest, workflow, params) -> tuple:
    ids = [int(v) for v in params.getlist("enrollment") if str(v).isdigit()]
    since = None
    if params.get("since"):
        try:
            since = dt.date.fromisoformat(params["since"])
        except ValueError:
            since = None
    visible = history.enrollments_visible(request.user, workflow)
    if ids:
        ids = list(visible.filter(pk__in=ids).values_list("pk", flat=True))
    failed = replays.failed_executions(workflow=workflow, enrollment_ids=ids or None, since=since)
    if params.getlist("enrollment") and not ids:
        failed = failed.none()
    return failed, ids, since


@require_http_methods(["GET", "POST"])
@require_account
def replay(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = history.workflow_for(request.user, workflow_id)
    if not request.user.can_edit_workflows:
        raise PermissionDenied(_("Only workflow builders and super admins can replay runs."))
    params = request.POST if request.method == "POST" else request.GET
    failed, ids, since = _replay_selection(request, workflow, params)
    if request.method == "POST" and "replay" in request.POST:
        replayed = replays.runs_replay(workflow=workflow, failed=failed)
        messages.success(
            request,
            ngettext(
                "%(n)d failed step will run again.", "%(n)d failed steps will run again.", replayed
            )
            % {"n": replayed},
        )
        if len(ids) == 1:
            return redirect("history:run", workflow.pk, ids[0])
        return redirect("history:logs", workflow.pk)
    estimate = replays.replay_estimate(failed)
    return render(
        request,
        "history/replay.html",
        {
            "workflow": workflow,
            "estimate": estimate,
            "ids": ids,
            "since": since,
            "section": "automation",
            "title": _("Replay failed runs"),
            "back": reverse("history:run", args=[workflow.pk, ids[0]])
            if len(ids) == 1
            else reverse("history:logs", args=[workflow.pk]),
        },
    )


@require_GET
@require_account
def live_counts(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = history.workflow_for(request.user, workflow_id)
    counts = history.live_counts(workflow)
    busy = history.is_busy(counts)
    if request.GET.get("format") == "json":
        return JsonResponse({"busy": busy, "steps": {str(k): v for k, v in counts.items()}})
    labels = {}
    graph = workflow.live_version.graph if workflow.live_version else workflow.graph
    for step_id, step in (graph or {}).get("steps", {}).items():
        labels[int(step_id)] = history.action_label(step.get("type", ""))
    steps = [
        {"id": step_id, "label": labels.get(step_id, ""), **counts.get(step_id, {})}
        for step_id in sorted(set(labels) | set(counts))
    ]
    return render(
        request,
        "history/live.html#live-counts",
        {"workflow": workflow, "steps": steps, "busy": busy},
    )
