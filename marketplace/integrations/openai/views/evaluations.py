"""Evaluations (super admins, from an assistant's page): a new evaluation set, a set's
page (its records with their expected answers, and "Evaluate"), and an evaluation's
page (a progress bar polled while a worker runs it, then the side-by-side results)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.models import ObjectType
from marketplace.access import connection_for_manager
from marketplace.integrations.openai import (
    evaluation_economy,
    evaluation_run,
    evaluations,
    versions,
)
from marketplace.integrations.openai.evaluation_forms import (
    OBJECT_CHOICES,
    EvaluateForm,
    EvaluationSetForm,
    expected_from_post,
)
from marketplace.integrations.openai.listing import SLUG
from marketplace.integrations.openai.models import Evaluation, EvaluationSet, WorkspaceAssistant
from marketplace.integrations.openai.services import models_for_builders
from marketplace.integrations.openai.views.app_page import AppRequest
from marketplace.responses import htmx_redirect
from marketplace.views import app_page_context


@require_http_methods(["GET", "POST"])
def evaluation_set_new(request: AppRequest, pk: int) -> HttpResponse:
    connection, listing = connection_for_manager(request, SLUG)
    assistant = get_object_or_404(WorkspaceAssistant.objects.for_account(connection.account), pk=pk)
    object_type = request.GET.get("object") or ObjectType.CONTACT
    if object_type not in ObjectType.values:
        object_type = ObjectType.CONTACT
    form = EvaluationSetForm(
        request.POST if request.method == "POST" else None,
        account=connection.account,
        object_type=object_type,
        initial={"prompt": "{{ object.job_title }}"},
    )
    if request.method == "POST" and form.is_valid():
        evaluation_set = EvaluationSet.objects.create(
            account=connection.account,
            assistant=assistant,
            name=form.cleaned_data["name"],
            object_type=object_type,
            prompt=form.cleaned_data["prompt"],
            records=form.cleaned_data["record_ids"],
            created_by=request.user,
        )
        messages.success(
            request,
            _("The set is saved with %(n)s records. Add expected answers, then evaluate.")
            % {"n": len(evaluation_set.records)},
        )
        return htmx_redirect(
            request, reverse("marketplace:openai_evaluation_set", args=[evaluation_set.pk])
        )
    context = app_page_context(connection, listing, "assistants")
    context.update(
        {
            "assistant": assistant,
            "form": form,
            "object_type": object_type,
            "objects": OBJECT_CHOICES,
        }
    )
    return render(request, "marketplace_openai/evaluation_set_new.html", context)


@require_http_methods(["GET", "POST"])
def evaluation_set(request: AppRequest, pk: int) -> HttpResponse:
    connection, listing = connection_for_manager(request, SLUG)
    the_set = get_object_or_404(
        EvaluationSet.objects.filter(account=connection.account).select_related("assistant"),
        pk=pk,
    )
    assistant = the_set.assistant
    newest = versions.version_current(assistant)
    fields = versions.snapshot_fields(newest.snapshot)
    models = models_for_builders(connection) if connection.is_installed else []
    evaluate_form = EvaluateForm(
        request.POST if "evaluate" in request.POST else None,
        assistant=assistant,
        models=models,
        initial={"version_a": newest.pk},
    )
    errors: list[str] = []
    if request.method == "POST" and "save_expected" in request.POST:
        expected, errors = expected_from_post(
            request.POST, the_set.records, [f.name for f in fields]
        )
        if not errors:
            the_set.expected = expected
            the_set.save(update_fields=["expected", "updated_at"])
            messages.success(
                request,
                _("Expected answers saved for %(n)s records.") % {"n": len(expected)},
            )
            return htmx_redirect(request, request.path)
    if request.method == "POST" and "evaluate" in request.POST and evaluate_form.is_valid():
        version_b, model_b = evaluate_form.side_b()
        evaluation = evaluation_run.evaluation_start(
            evaluation_set=the_set,
            version_a=evaluate_form.cleaned_data["version_a"],
            model_a=evaluate_form.cleaned_data.get("model_a") or "",
            version_b=version_b,
            model_b=model_b,
            user=request.user,
            economy=evaluate_form.cleaned_data.get("economy") or False,
        )
        return htmx_redirect(
            request, reverse("marketplace:openai_evaluation", args=[evaluation.pk])
        )
    expected = the_set.expected or {}
    rows = [
        {
            "record": record,
            "values": [
                (f, (expected.get(str(record.pk)) or {}).get("fields", {}).get(f.name, ""))
                for f in fields
            ],
            "op": (expected.get(str(record.pk)) or {}).get("text_op", "contains"),
            "text": (expected.get(str(record.pk)) or {}).get("text", ""),
        }
        for record in evaluations.set_records(the_set)
    ]
    context = app_page_context(connection, listing, "assistants")
    context.update(
        {
            "set": the_set,
            "assistant": assistant,
            "newest": newest,
            "fields": fields,
            "rows": rows,
            "text_ops": evaluations.TEXT_OPS.items(),
            "errors": errors,
            "evaluate_form": evaluate_form,
            "evaluations": the_set.evaluations.select_related("version_a", "version_b")[:20],
        }
    )
    return render(request, "marketplace_openai/evaluation_set.html", context)


@require_GET
def evaluation(request: AppRequest, pk: int) -> HttpResponse:
    connection, listing = connection_for_manager(request, SLUG)
    found = get_object_or_404(
        Evaluation.objects.filter(account=connection.account).select_related(
            "evaluation_set__assistant", "version_a", "version_b"
        ),
        pk=pk,
    )
    results = evaluations.evaluation_results(found, rows=found.is_finished)
    batch_wait = (
        evaluation_economy.batch_wait(found) if found.economy and not found.is_finished else None
    )
    context = app_page_context(connection, listing, "assistants")
    context.update(
        {
            "evaluation": found,
            "results": results,
            "set": found.evaluation_set,
            "batch_wait": batch_wait,
        }
    )
    template = "marketplace_openai/evaluation.html"
    if request.htmx:
        return render(request, template + "#evaluation-results", context)
    return render(request, template, context)
