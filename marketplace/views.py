"""App Marketplace (catalog, listing) and Settings > Integrations > Connected apps."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.access import account_for, require_account
from marketplace.access import connection_for_manager, listing_or_404, require_app_manager
from marketplace.forms import UninstallForm
from marketplace.models import AppLogEvent, Connection, ConnectionStatus
from marketplace.registry import (
    CATEGORIES,
    AppListing,
    app_listings,
    workflows_using_connection,
)
from marketplace.registry import app_listing as app_listing_for
from marketplace.responses import htmx_redirect
from marketplace.services import connection_uninstall


@require_GET
@require_account
def catalog(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    query = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "")
    listings = [
        listing
        for listing in app_listings()
        if (not query or listing.matches(query)) and (not category or listing.category == category)
    ]
    installed = set(
        Connection.objects.for_account(account).installed().values_list("app", flat=True)
    )
    context = {
        "title": _("App Marketplace"),
        "listings": listings,
        "installed": installed,
        "query": query,
        "category": category,
        "categories": CATEGORIES,
    }
    template = "marketplace/catalog.html"
    if request.htmx:
        template += "#catalog-results"
    return render(request, template, context)


@require_GET
@require_account
def app_listing(request: HttpRequest, slug: str) -> HttpResponse:
    account = account_for(request)
    listing = listing_or_404(slug)
    connection = Connection.objects.for_account(account).filter(app=slug).first()
    return render(
        request,
        "marketplace/listing.html",
        {
            "title": listing.name,
            "listing": listing,
            "connection": connection,
            "connect_url": reverse(listing.connect_url_name),
        },
    )


@require_GET
def connected_apps(request: HttpRequest) -> HttpResponse:
    require_app_manager(request)
    account = account_for(request)
    query = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    rows = []
    for connection in Connection.objects.for_account(account).select_related("connected_by"):
        listing = app_listing_for(connection.app)
        if listing is None:  # an integration removed from the code base
            continue
        if query and not listing.matches(query):
            continue
        if status and connection.status != status:
            continue
        rows.append((connection, listing))
    context = {
        "title": _("Connected apps"),
        "settings_section": "connected_apps",
        "rows": rows,
        "query": query,
        "status": status,
        "statuses": ConnectionStatus.choices,
        "has_any": Connection.objects.for_account(account).exists(),
    }
    template = "marketplace/connected_apps.html"
    if request.htmx:
        template += "#connected-apps-results"
    return render(request, template, context)


def app_page_context(connection: Connection, listing: AppListing, tab: str) -> dict[str, Any]:
    """What the app page's header (marketplace/_app_header.html) needs: every tab of an
    app's page, the core's and its integration's, starts its context with this."""
    return {
        "title": listing.name,
        "settings_section": "connected_apps",
        "connection": connection,
        "listing": listing,
        "tab": tab,
        "reconnect_url": reverse(listing.reconnect_url_name),
        "connect_url": reverse(listing.connect_url_name),
    }


@require_GET
def app_detail(request: HttpRequest, slug: str) -> HttpResponse:
    connection, listing = connection_for_manager(request, slug)
    context = app_page_context(connection, listing, "overview")
    context["recent_log"] = connection.log_entries.select_related("actor")[:5]
    return render(request, "marketplace/app_detail.html", context)


@require_GET
def app_log(request: HttpRequest, slug: str) -> HttpResponse:
    connection, listing = connection_for_manager(request, slug)
    event = request.GET.get("event", "")
    entries = connection.log_entries.select_related("actor")
    if event in AppLogEvent.values:
        entries = entries.filter(event=event)
    context = app_page_context(connection, listing, "log")
    context.update({"entries": entries[:200], "event": event, "events": AppLogEvent.choices})
    template = "marketplace/app_log.html"
    if request.htmx:
        template += "#app-log-results"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def app_uninstall(request: HttpRequest, slug: str) -> HttpResponse:
    connection, listing = connection_for_manager(request, slug)
    detail_url = reverse("marketplace:app_detail", args=[slug])
    if not connection.is_installed:
        return htmx_redirect(request, detail_url)
    form = UninstallForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        connection_uninstall(
            connection=connection, actor=request.user, reason=form.cleaned_data["reason"]
        )
        messages.success(
            request,
            _("%(app)s is uninstalled. Its API key was deleted from crmflow.")
            % {"app": listing.name},
        )
        return htmx_redirect(request, detail_url)
    context = app_page_context(connection, listing, "overview")
    context.update({"form": form, "usages": workflows_using_connection(connection)})
    template = "marketplace/uninstall_dialog.html"
    if request.htmx:
        template += "#uninstall-dialog"
    return render(request, template, context)
