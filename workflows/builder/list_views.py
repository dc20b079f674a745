"""Automation > Workflows: the list, create, create from a template."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm.access import account_for, require_account
from workflows import registry, services
from workflows.access import BuilderRequest, editor_check
from workflows.builder.templates import template_create
from workflows.forms import WorkflowCreateForm, WorkflowSearchForm
from workflows.models import Workflow

PAGE = "workflows/list.html"


def _list_context(
    request: BuilderRequest, create_form: WorkflowCreateForm | None = None
) -> dict[str, Any]:
    account = account_for(request)
    search = WorkflowSearchForm(request.GET or None)
    workflows = (
        Workflow.objects.filter(account=account)
        .select_related("created_by")
        .annotate(enrolled=Count("enrollments"))
        .order_by("-updated_at")
    )
    if search.is_valid():
        data = search.cleaned_data
        if data["q"]:
            workflows = workflows.filter(name__icontains=data["q"])
        if data["object_type"]:
            workflows = workflows.filter(object_type=data["object_type"])
        if data["status"]:
            workflows = workflows.filter(is_enabled=data["status"] == "on")
        if data["uses"]:
            keys = {t.key for t in registry.all_types() if t.section == data["uses"]}
            workflows = workflows.filter(
                pk__in=[
                    pk
                    for pk, graph in workflows.values_list("pk", "graph")
                    if any(
                        isinstance(step, dict) and step.get("type") in keys
                        for step in ((graph or {}).get("steps") or {}).values()
                    )
                ]
            )
    return {
        "title": "Workflows",
        "section": "automation",
        "search": search,
        "workflows": workflows[:200],
        "create_form": create_form or WorkflowCreateForm(),
        "templates": registry.templates(),
        "can_edit": request.user.can_edit_workflows,
        "create_open": create_form is not None,
    }


@require_GET
@require_account
def workflow_list(request: BuilderRequest) -> HttpResponse:
    template = PAGE + ("#workflow-rows" if request.htmx else "")
    return render(request, template, _list_context(request))


@require_POST
@require_account
def workflow_create(request: BuilderRequest) -> HttpResponse:
    editor_check(request)
    form = WorkflowCreateForm(request.POST)
    if not form.is_valid():
        return render(request, PAGE, _list_context(request, form), status=400)
    workflow = services.workflow_create(
        account=account_for(request),
        actor=request.user,
        object_type=form.cleaned_data["object_type"],
        name=form.cleaned_data["name"],
    )
    return redirect("workflows:builder", pk=workflow.pk)


@require_POST
@require_account
def workflow_from_template(request: BuilderRequest, key: str) -> HttpResponse:
    editor_check(request)
    try:
        workflow = template_create(account=account_for(request), key=key, actor=request.user)
    except KeyError:
        raise Http404 from None
    return redirect("workflows:builder", pk=workflow.pk)
