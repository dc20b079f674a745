"""Webhooks: install and roll the signing secret (dialogs), the Signatures tab, the
trigger panel's buttons, and the public URL workflows are started by."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from crm.access import account_for
from crm.models import User
from marketplace.access import connection_for_manager, require_app_manager, safe_next
from marketplace.integrations.webhooks import trigger
from marketplace.integrations.webhooks.access import workflow_for_editor
from marketplace.integrations.webhooks.forms import mapping_clean, mapping_rows_from_post
from marketplace.integrations.webhooks.inbound import Refused, endpoint_for, webhook_receive
from marketplace.integrations.webhooks.listing import LISTING, SLUG
from marketplace.integrations.webhooks.models import WebhookEndpoint
from marketplace.integrations.webhooks.services import (
    ConnectionExists,
    SecretShown,
    connection_for_account,
    connection_install,
    connection_secret_roll,
    endpoint_answer_note,
    endpoint_get_or_create,
    endpoint_mapping_save,
    endpoint_url_regenerate,
)
from marketplace.integrations.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TOLERANCE_SECONDS,
)
from marketplace.responses import htmx_redirect
from marketplace.views import app_page_context

DIALOG = "marketplace_webhooks/connect_dialog.html"
# Larger request bodies are refused (413) before they are read.
MAX_BODY_BYTES = 1024 * 1024


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here but `receive` has one)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _app_url() -> str:
    return reverse("marketplace:app_detail", args=[SLUG])


def _dialog(
    request: HtmxHttpRequest, *, mode: str, shown: SecretShown | None = None
) -> HttpResponse:
    next_path = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    context = {
        "title": LISTING.name,
        "listing": LISTING,
        "mode": mode,
        "action": reverse(
            "marketplace:webhooks_connect" if mode == "install" else "marketplace:webhooks_roll"
        ),
        "next": next_path or "",
        "done_url": next_path or reverse("marketplace:webhooks_signatures"),
        "cancel_url": next_path
        or (reverse("marketplace:listing", args=[SLUG]) if mode == "install" else _app_url()),
        "secret": shown.secret if shown else "",
    }
    return render(request, DIALOG + ("#connect-dialog" if request.htmx else ""), context)


@never_cache  # the answer may hold the new secret
@require_http_methods(["GET", "POST"])
def connect(request: HtmxHttpRequest) -> HttpResponse:
    """Install: a confirmation, then the new signing secret, shown this once."""
    require_app_manager(request)
    account = account_for(request)
    if request.method == "GET":
        if connection_for_account(account) is not None:
            messages.info(request, _("Webhooks is already installed in this account."))
            return htmx_redirect(request, _app_url())
        return _dialog(request, mode="install")
    try:
        shown = connection_install(account=account, user=_user(request))
    except ConnectionExists:
        messages.info(request, _("Webhooks is already installed in this account."))
        return htmx_redirect(request, _app_url())
    return _dialog(request, mode="secret", shown=shown)


@never_cache
@require_http_methods(["GET", "POST"])
def roll(request: HtmxHttpRequest) -> HttpResponse:
    """Actions > Reconnect app: a new signing secret, shown this once."""
    connection, _listing = connection_for_manager(request, SLUG)
    if not connection.is_installed:
        return htmx_redirect(request, reverse("marketplace:webhooks_connect"))
    if request.method == "GET":
        return _dialog(request, mode="roll")
    shown = connection_secret_roll(connection=connection, user=_user(request))
    return _dialog(request, mode="secret", shown=shown)


@require_GET
def signatures(request: HttpRequest) -> HttpResponse:
    """The app page's Signatures tab: the secret's mask and how receivers check it."""
    connection, listing = connection_for_manager(request, SLUG)
    return render(
        request,
        "marketplace_webhooks/signatures.html",
        {
            **app_page_context(connection, listing, "signatures"),
            "signature_header": SIGNATURE_HEADER,
            "delivery_header": DELIVERY_HEADER,
            "tolerance": TOLERANCE_SECONDS,
        },
    )


# --- The trigger panel --------------------------------------------------------------


@require_POST
def trigger_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The buttons of the "Webhook received" settings in the builder's trigger panel:
    Generate a new URL, or save the mapping (also on Add a field, Remove, and when the
    trigger panel's form is submitted)."""
    workflow = workflow_for_editor(request, pk)
    endpoint = endpoint_get_or_create(workflow=workflow)
    rows = mapping_rows_from_post(request.POST)
    if "_new_url" in request.POST:
        endpoint_url_regenerate(endpoint=endpoint)
        return trigger.panel_response(request, workflow, rows=rows, note=_("New URL generated."))
    if "_remove" in request.POST:
        index = str(request.POST["_remove"])
        rows = [row for i, row in enumerate(rows) if str(i) != index]
    mapping, match, problems = mapping_clean(rows, trigger.definitions(workflow))
    if not problems:
        endpoint_mapping_save(endpoint=endpoint, mapping=mapping, match_property=match)
    if "_add" in request.POST:
        rows.append(trigger.blank_row())
    return trigger.panel_response(
        request, workflow, rows=rows, problems=problems, note="" if problems else _("Saved.")
    )


# --- The public URL -----------------------------------------------------------------


def _answer(status: int, message: str, **data: Any) -> JsonResponse:
    return JsonResponse({"error": message, **data} if status >= 400 else data, status=status)


@login_not_required
@csrf_exempt
@require_POST
def receive(request: HttpRequest, public_id: str, token: str) -> JsonResponse:
    """POST JSON here to start the workflow: 202 {"accepted": true, "request_id"} once
    the request is in the inbox (a worker makes the record and enrolls it); 404 unknown
    URL, 401 wrong secret, 413 over 1 MB, 400 unreadable body, 409 workflow not ready."""
    # No account here: knowing the URL (its public id and its token) is the access.
    found = endpoint_for(public_id)
    if found is None:
        return _answer(404, _("No webhook has this URL."))
    endpoint, installed = found
    if not endpoint.token_matches(token):
        return _answer(401, _("This URL's secret is wrong."))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = b"" if declared > MAX_BODY_BYTES else request.read(MAX_BODY_BYTES + 1)
    if declared > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
        return _noted(endpoint, 413, _("The body is larger than 1 MB."))
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return _noted(endpoint, 400, _("The body is not valid JSON: %(error)s") % {"error": error})
    try:
        accepted = webhook_receive(endpoint=endpoint, payload=payload, installed=installed)
    except Refused as refused:
        return _noted(endpoint, refused.status, refused.message)
    # The trigger panel's "last request" is noted when the inbox is ingested (once per
    # batch), not here: one write per request on the endpoint's row would queue them.
    return JsonResponse({"accepted": True, "request_id": accepted.pk}, status=202)


def _noted(endpoint: WebhookEndpoint, status: int, message: str) -> JsonResponse:
    endpoint_answer_note(endpoint=endpoint, status=status, message=message)
    return _answer(status, message)
