"""What the OpenAI app's views share: their typed request (the app page's context is
`marketplace.views.app_page_context`)."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from crm.models import User


class AppRequest(HttpRequest):
    """The request of an OpenAI app view: a signed-in user (LoginRequiredMiddleware)
    and `htmx` (HtmxMiddleware)."""

    user: User
    htmx: HtmxDetails
