"""Review and turn on; turn off."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.access import require_account
from crm.services import definitions_for
from workflows import services
from workflows.access import BuilderRequest, workflow_for
from workflows.builder import canvas
from workflows.builder.canvas_context import canvas_context
from workflows.builder.review import (
    Problem,
    economy_notes,
    economy_offered,
    enroll_now_count,
    review_problems,
)
from workflows.models import Workflow

PAGE = "workflows/review.html"


def _context(request: BuilderRequest, workflow: Workflow) -> dict[str, Any]:
    definitions = definitions_for(workflow.account, workflow.object_type)
    context = canvas_context(request, workflow, definitions=definitions)
    context.update(
        problems=review_problems(workflow, definitions=definitions),
        enroll_now=enroll_now_count(workflow, definitions=definitions),
        economy_offered=economy_offered(workflow),
        title=_("Review %(name)s") % {"name": workflow.name},
    )
    if context["economy_offered"] and context["enroll_now"] and not workflow.is_enabled:
        context["economy_notes"] = economy_notes(workflow, context["enroll_now"])
    return context


@require_http_methods(["GET", "POST"])
@require_account
def review(request: BuilderRequest, pk: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=request.method == "POST")
    if request.method == "GET":
        if request.htmx and request.htmx.target == "bulk-progress":
            return render(request, PAGE + "#bulk-progress", {"workflow": workflow})
        return render(request, PAGE, _context(request, workflow))
    context = _context(request, workflow)
    if context["problems"]:
        return render(request, PAGE, context, status=400)
    draft = canvas.normalised(workflow.graph)
    live = workflow.live_version.graph if workflow.live_version is not None else None
    try:
        if (
            live is None
            or live.get("steps") != draft["steps"]
            or live.get("start") != draft["start"]
        ):
            workflow.graph = draft
            services.workflow_publish(workflow=workflow)
            workflow.refresh_from_db()
        if not workflow.is_enabled:
            choice = request.POST.get("enroll_existing")
            services.workflow_turn_on(
                workflow=workflow,
                enroll_existing=choice != "no",
                economy=choice == "economy" and context["economy_offered"],
            )
            messages.success(request, _("The workflow is on."))
        else:
            messages.success(
                request,
                _(
                    "Your changes are live. Records already enrolled finish "
                    "on the version they started with."
                ),
            )
    except ValidationError as error:
        context["problems"] = [*context["problems"], *[Problem(m) for m in error.messages]]
        return render(request, PAGE, context, status=400)
    return redirect("workflows:review", pk=workflow.pk)


@require_POST
@require_account
def turn_off(request: BuilderRequest, pk: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=True)
    services.workflow_turn_off(workflow=workflow)
    messages.success(
        request,
        _(
            "The workflow is off: no new records enroll. Records already "
            "enrolled continue to the end."
        ),
    )
    return redirect("workflows:builder", pk=workflow.pk)
