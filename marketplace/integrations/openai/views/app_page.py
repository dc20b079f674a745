"""What the OpenAI app's views share: their typed request and the app page's tabs."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from crm.models import User
from marketplace.models import Connection
from marketplace.registry import AppListing


class AppRequest(HttpRequest):
    """The request of an OpenAI app view: a signed-in user (LoginRequiredMiddleware)
    and `htmx` (HtmxMiddleware)."""

    user: User
    htmx: HtmxDetails


def app_tab_context(connection: Connection, listing: AppListing, tab: str) -> dict[str, Any]:
    """What the app page's header (marketplace/_app_header.html) needs."""
    return {
        "title": listing.name,
        "settings_section": "connected_apps",
        "connection": connection,
        "listing": listing,
        "tab": tab,
        "reconnect_url": reverse(listing.reconnect_url_name),
        "connect_url": reverse(listing.connect_url_name),
    }
