"""The OpenAI app's connect dialog (install, and Reconnect) and its Model access tab
(super admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from crm.access import account_for
from marketplace.access import connection_for_manager, require_app_manager, safe_next
from marketplace.integrations.openai.client import KeyOutcome
from marketplace.integrations.openai.endpoints import endpoint_for
from marketplace.integrations.openai.forms import ApiKeyForm, ConnectForm, ModelAccessForm
from marketplace.integrations.openai.listing import LISTING, SLUG
from marketplace.integrations.openai.models import EndpointKind
from marketplace.integrations.openai.services import (
    ConnectionExists,
    KeyResult,
    connection_install,
    connection_reconnect,
    model_access_update,
    models_for_builders,
    models_refresh,
    text_generation_models,
)
from marketplace.integrations.openai.views.app_page import AppRequest
from marketplace.models import Connection
from marketplace.registry import workflows_using_models
from marketplace.responses import htmx_redirect
from marketplace.views import app_page_context

DIALOG = "marketplace_openai/connect_dialog.html"


def _app_url() -> str:
    return reverse("marketplace:app_detail", args=[SLUG])


def _render_dialog(
    request: AppRequest, form: ApiKeyForm, *, mode: str, error: str | Promise | None = None
) -> HttpResponse:
    action = reverse(
        "marketplace:openai_connect" if mode == "install" else "marketplace:openai_reconnect"
    )
    context = {
        "title": LISTING.name,
        "listing": LISTING,
        "form": form,
        "mode": mode,
        "action": action,
        "error": error,
        "cancel_url": safe_next(request, form["next"].value())
        or (reverse("marketplace:listing", args=[SLUG]) if mode == "install" else _app_url()),
    }
    return render(request, DIALOG + ("#connect-dialog" if request.htmx else ""), context)


def _after_key_accepted(request: AppRequest, result: KeyResult, *, done: str) -> HttpResponse:
    messages.success(request, done)
    if result.check.outcome is KeyOutcome.QUOTA_EXHAUSTED:
        messages.warning(request, result.check.message)
    return htmx_redirect(request, safe_next(request, request.POST.get("next")) or _app_url())


@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
def connect(request: AppRequest) -> HttpResponse:
    """Install: the dialog behind Install (and behind "connect" in a workflow, with ?next=)."""
    require_app_manager(request)
    account = account_for(request)
    existing = Connection.objects.for_account(account).installed().filter(app=SLUG).first()
    if existing is not None:
        messages.info(request, _("OpenAI is already connected to this account."))
        return htmx_redirect(request, _app_url())
    if request.method == "GET":
        form = ConnectForm(initial={"next": safe_next(request, request.GET.get("next")) or ""})
        return _render_dialog(request, form, mode="install")
    form = ConnectForm(request.POST)
    if not form.is_valid():
        return _render_dialog(request, form, mode="install")
    try:
        result = connection_install(
            account=account,
            user=request.user,
            api_key=form.cleaned_data["api_key"],
            endpoint=form.endpoint,
            monthly_budget_usd=form.cleaned_data["monthly_budget_usd"],
        )
    except ConnectionExists:
        messages.info(request, _("OpenAI is already connected to this account."))
        return htmx_redirect(request, _app_url())
    if result.connection is None:
        return _render_dialog(request, form, mode="install", error=result.check.message)
    return _after_key_accepted(
        request,
        result,
        done=_("OpenAI is connected. Its models can now be used in your workflows."),
    )


@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
def reconnect(request: AppRequest) -> HttpResponse:
    connection, _listing = connection_for_manager(request, SLUG)
    if not connection.is_installed:
        return htmx_redirect(request, reverse("marketplace:openai_connect"))
    if request.method == "GET":
        form = ApiKeyForm(endpoint=endpoint_for(connection))
        return _render_dialog(request, form, mode="reconnect")
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _render_dialog(request, form, mode="reconnect")
    result = connection_reconnect(
        connection=connection,
        user=request.user,
        api_key=form.cleaned_data["api_key"],
        endpoint=form.endpoint,
    )
    if result.connection is None:
        return _render_dialog(request, form, mode="reconnect", error=result.check.message)
    if form.endpoint.kind == EndpointKind.OPENAI:
        done = _("OpenAI is reconnected with the new key.")
    else:
        done = _("OpenAI is reconnected through %(endpoint)s.") % {"endpoint": form.endpoint.label}
    return _after_key_accepted(request, result, done=done)


@require_http_methods(["GET", "POST"])
def model_access(request: AppRequest) -> HttpResponse:
    connection, listing = connection_for_manager(request, SLUG)
    page_url = reverse("marketplace:openai_models")
    choices = text_generation_models(connection)
    form = ModelAccessForm(
        request.POST if "save" in request.POST else None,
        choices=choices,
        initial={"models": models_for_builders(connection)},
    )
    affected = []
    if request.method == "POST" and connection.is_installed:
        if "refresh" in request.POST:
            check = models_refresh(connection=connection)
            if check.outcome is KeyOutcome.VALID:
                messages.success(request, _("The model list is up to date."))
            else:
                messages.error(request, check.message)
            return htmx_redirect(request, page_url)
        if form.is_valid():
            chosen = set(form.cleaned_data["models"])
            removed = set(models_for_builders(connection)) - chosen
            affected = workflows_using_models(connection, removed)
            if not affected or "confirm" in request.POST:
                model_access_update(
                    connection=connection, user=request.user, model_ids=list(chosen)
                )
                messages.success(request, _("Model access is saved."))
                return htmx_redirect(request, page_url)
    context = app_page_context(connection, listing, "models")
    context.update(
        {
            "form": form,
            "affected": affected,
            "other_models": [m for m in connection.available_models if m not in choices],
        }
    )
    return render(request, "marketplace_openai/model_access.html", context)
