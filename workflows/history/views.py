"""The history pages, one view each (workflows/history/urls.py): Action logs,
Enrollment history, run detail, replay, the live per-step counts the canvas polls, and
the System status page.

Every view starts with an access helper (access.py, crm/access.py): another account's
workflow or run is a 404, a sales rep sees only the runs of records they own, replaying
needs the builder role and the System status the super admin role (403)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from crm.access import account_for, super_admin_required
from workflows import registry
from workflows.access import workflow_for
from workflows.engine import health
from workflows.history import access, lists, live, run
from workflows.history import replay as replays
from workflows.history.access import HistoryRequest
from workflows.history.events import Event
from workflows.history.filters import HistoryFilter
from workflows.models import Enrollment, Workflow


def _render(
    request: HistoryRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    """The whole page, or only its region when htmx asks for it (partial = element id)."""
    if request.htmx and request.htmx.target == partial:
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context)


def _list_context(request: HistoryRequest, workflow: Workflow, tab: str) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "tab": tab,
        "filters": HistoryFilter.from_query(request.GET),
        "section": "automation",
        "events": Event.CHOICES,
        "action_types": lists.action_types_of(workflow),
        "can_replay": request.user.can_edit_workflows,
        "title": workflow.name,
        "sees_all_runs": access.sees_all_runs(request.user),
        "is_first_page": not request.GET.get("after"),
    }


@require_GET
def action_logs(request: HistoryRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_for(request, workflow_id)
    context = _list_context(request, workflow, "logs")
    context["page"] = lists.action_logs(
        access.executions_for(request, workflow),
        workflow=workflow,
        filters=context["filters"],
        cursor=request.GET.get("after"),
    )
    return _render(request, "history/logs.html", "history-results", context)


@require_GET
def enrollment_history(request: HistoryRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_for(request, workflow_id)
    context = _list_context(request, workflow, "enrollments")
    context["page"] = lists.enrollment_history(
        access.enrollments_for(request, workflow),
        workflow=workflow,
        filters=context["filters"],
        cursor=request.GET.get("after"),
    )
    return _render(request, "history/enrollments.html", "history-results", context)


@require_GET
def run_detail(request: HistoryRequest, workflow_id: int, enrollment_id: int) -> HttpResponse:
    workflow = workflow_for(request, workflow_id)
    enrollment = get_object_or_404(
        access.enrollments_for(request, workflow).select_related("record", "version"),
        pk=enrollment_id,
    )
    context = {
        "workflow": workflow,
        "enrollment": enrollment,
        "steps": run.run_steps(enrollment, account=account_for(request)),
        "in_flight": enrollment.status == Enrollment.Status.ACTIVE,
        "can_replay": request.user.can_edit_workflows
        and enrollment.status == Enrollment.Status.FAILED,
        "section": "automation",
        "title": _("Run of %(record)s") % {"record": enrollment.record},
    }
    return _render(request, "history/run.html", "run", context)


@require_http_methods(["GET", "POST"])
def replay(request: HistoryRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_for(request, workflow_id, edit=True)
    selection = replays.replay_selection(
        request.POST if request.method == "POST" else request.GET,
        workflow=workflow,
        enrollments=access.enrollments_for(request, workflow),
    )
    ids = selection.enrollment_ids
    if request.method == "POST" and "replay" in request.POST:
        replayed = replays.runs_replay(workflow=workflow, failed=selection.failed)
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
    return render(
        request,
        "history/replay.html",
        {
            "workflow": workflow,
            "estimate": replays.replay_estimate(selection.failed),
            "ids": ids,
            "since": selection.since,
            "section": "automation",
            "title": _("Replay failed runs"),
            "back": reverse("history:run", args=[workflow.pk, ids[0]])
            if len(ids) == 1
            else reverse("history:logs", args=[workflow.pk]),
        },
    )


@require_GET
def live_counts(request: HistoryRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_for(request, workflow_id)
    counts = live.live_counts(workflow)
    busy = live.is_busy(counts)
    if request.GET.get("format") == "json":
        return JsonResponse({"busy": busy, "steps": {str(k): v for k, v in counts.items()}})
    return render(
        request,
        "history/live.html#live-counts",
        {"workflow": workflow, "steps": live.live_steps(workflow, counts), "busy": busy},
    )


@require_GET
@super_admin_required
def system_status(request: HistoryRequest) -> HttpResponse:
    """Workers, queues, sweeper lag, rate limiter, failures in the last hour. Queues and
    workers are shared by every account; failures are the viewer's account's only."""
    account = account_for(request)
    context = {
        "health": health.health_read(),
        "health_sections": registry.health_sections(),
        "failures": health.failures_last_hour(account.pk),
        "lag_warning_seconds": health.SWEEPER_LAG_WARNING_SECONDS,
        "heartbeat_ttl": health.HEARTBEAT_TTL_SECONDS,
        "title": _("System status"),
    }
    if request.htmx:
        return render(request, "history/status.html#status", context)
    return render(request, "history/status.html", context)
