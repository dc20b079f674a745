"""The public unsubscribe page (no login): the signed link of every email sent to a
contact. GET shows a button; POST (that button, or a mail client's one-click
unsubscribe) sets the contact's "Unsubscribed from email"."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.services import record_update
from marketplace.integrations.email.unsubscribe import PROPERTY, contact_from_token, is_unsubscribed

TEMPLATE = "marketplace_email/unsubscribe.html"


@login_not_required
@csrf_exempt  # the signed token is the access; mail clients POST without a CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    contact = contact_from_token(token)
    if contact is None:
        return render(request, TEMPLATE, {"state": "unknown"}, status=404)
    if request.method == "POST":
        with transaction.atomic():
            record_update(record=contact, values={PROPERTY: True}, source="unsubscribe")
        return render(request, TEMPLATE, {"state": "done", "contact": contact})
    state = "done" if is_unsubscribed(contact) else "ask"
    return render(request, TEMPLATE, {"state": state, "contact": contact, "token": token})
