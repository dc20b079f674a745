"""The OpenAI app's Assistants tab (super admins): the workspace assistants (list,
create, edit, archive, restore) and the account's own assistants (read-only,
refreshable)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.ids import parse_id
from marketplace.access import connection_for_manager
from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai import version_history, versions
from marketplace.integrations.openai.forms import (
    FIELD_TYPE_CHOICES,
    WorkspaceAssistantForm,
    field_rows,
)
from marketplace.integrations.openai.listing import SLUG
from marketplace.integrations.openai.models import WorkspaceAssistant
from marketplace.integrations.openai.services import models_for_builders
from marketplace.integrations.openai.views.app_page import AppRequest
from marketplace.responses import htmx_redirect
from marketplace.views import app_page_context


@require_http_methods(["GET", "POST"])
def assistants(request: AppRequest) -> HttpResponse:
    """Workspace assistants, and the account's own assistants (read-only, refreshable)."""
    connection, listing = connection_for_manager(request, SLUG)
    refresh = request.method == "POST" and "refresh" in request.POST
    choices = assistants_mod.assistant_choices(account=connection.account, refresh=refresh)
    if refresh:
        messages.success(request, _("The list of OpenAI account assistants is up to date."))
        return htmx_redirect(request, reverse("marketplace:openai_assistants"))
    context = app_page_context(connection, listing, "assistants")
    context.update(
        {
            "workspace_assistants": WorkspaceAssistant.objects.for_account(connection.account),
            "choices": choices,
        }
    )
    return render(request, "marketplace_openai/assistants.html", context)


@require_http_methods(["GET", "POST"])
def assistant_edit(request: AppRequest, pk: int | None = None) -> HttpResponse:
    connection, listing = connection_for_manager(request, SLUG)
    assistant = None
    if pk is not None:
        assistant = get_object_or_404(
            WorkspaceAssistant.objects.for_account(connection.account), pk=pk
        )
    list_url = reverse("marketplace:openai_assistants")
    if request.method == "POST" and ("archive" in request.POST or "restore" in request.POST):
        if assistant is not None:
            if "archive" in request.POST:
                assistants_mod.workspace_assistant_archive(assistant=assistant)
                messages.success(
                    request,
                    _(
                        "The assistant is archived: workflows that use it fail until they choose another one."
                    ),
                )
            else:
                assistants_mod.workspace_assistant_restore(assistant=assistant)
                messages.success(request, _("The assistant is restored."))
        return htmx_redirect(request, list_url)
    if request.method == "POST" and "restore_version" in request.POST and assistant is not None:
        old = get_object_or_404(
            assistant.versions.all(), pk=parse_id(request.POST["restore_version"])
        )
        restored = versions.assistant_version_restore(version=old, user=request.user)
        messages.success(
            request,
            _(
                "Version %(old)s is restored as version %(number)s. Published workflows keep "
                "the version they use until their builders adopt this one."
            )
            % {"old": old.number, "number": restored.number},
        )
        return htmx_redirect(request, request.path)
    instance = assistant or WorkspaceAssistant(account=connection.account)
    form = WorkspaceAssistantForm(
        request.POST if request.method == "POST" else None,
        instance=instance,
        model_choices=models_for_builders(connection) if connection.is_installed else [],
    )
    if request.method == "POST":
        form.set_output_fields(request.POST)
        if form.is_valid():
            version = versions.workspace_assistant_save(
                assistant=form.save(commit=False),
                user=request.user,
                note=form.cleaned_data.get("note", ""),
            )
            if version is not None and version.number > 1:
                messages.success(
                    request,
                    _(
                        "The assistant is saved as version %(number)s. Published workflows "
                        "keep the version they use until their builders adopt this one."
                    )
                    % {"number": version.number},
                )
                # Back to the page: it lists the workflows this version would break.
                return htmx_redirect(
                    request,
                    reverse("marketplace:openai_assistant_edit", args=[version.assistant_id]),
                )
            messages.success(request, _("The assistant is saved."))
            return htmx_redirect(request, list_url)
    context = app_page_context(connection, listing, "assistants")
    context.update(
        {
            "form": form,
            "assistant": assistant,
            "field_rows": field_rows(assistant, request.POST if request.method == "POST" else None),
            "field_types": FIELD_TYPE_CHOICES,
            "uses": version_history.workflows_using(assistant) if assistant else [],
            "version_rows": version_history.version_rows(assistant) if assistant else [],
            "evaluation_sets": assistant.evaluation_sets.all() if assistant else [],
        }
    )
    return render(request, "marketplace_openai/assistant_form.html", context)
