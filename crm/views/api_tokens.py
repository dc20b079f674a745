"""Settings > API tokens: super admins create tokens for the JSON API (crm/api.py)
and revoke them. A new token is shown once, on the page that created it."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from crm.access import account_for, api_token_for, require_roles
from crm.audit import AuditAction, audit_record
from crm.models import ApiToken, Role
from crm.views.common import parse_id

# Days until a new token expires (the form's list; default 90).
EXPIRY_CHOICES = {
    "30": gettext_lazy("In 30 days"),
    "90": gettext_lazy("In 90 days"),
    "365": gettext_lazy("In a year"),
    "never": gettext_lazy("Never"),
}

tokens_admin_required = require_roles(
    Role.SUPER_ADMIN, message=gettext_lazy("Only super admins can manage API tokens.")
)


@tokens_admin_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    new_token = None
    error = ""
    if request.method == "POST" and "revoke" in request.POST:
        token = api_token_for(request, parse_id(request.POST.get("token")) or 0)
        with transaction.atomic():
            token.revoke()
            audit_record(action=AuditAction.API_TOKEN_REVOKED, request=request, target=token.name)
        messages.success(
            request,
            _("Token “%(name)s” revoked: requests using it now get 401.") % {"name": token.name},
        )
        return redirect("intake:api_tokens")
    if request.method == "POST" and "create" in request.POST:
        name = request.POST.get("name", "").strip()[:100]
        scope = request.POST.get("scope", ApiToken.Scope.READ)
        expires_in = request.POST.get("expires_in", "90")
        if not name:
            error = _("Name the token after what will use it, e.g. “Website backend”.")
        elif scope not in ApiToken.Scope.values or expires_in not in EXPIRY_CHOICES:
            error = _("Choose a scope and an expiry from the lists.")
        else:
            with transaction.atomic():
                _token_row, new_token = ApiToken.issue(
                    account=account,
                    name=name,
                    created_by=request.user,
                    scope=scope,
                    expires_at=(
                        timezone.now() + dt.timedelta(days=int(expires_in))
                        if expires_in != "never"
                        else None
                    ),
                )
                audit_record(
                    action=AuditAction.API_TOKEN_CREATED,
                    request=request,
                    target=name,
                    detail={"scope": scope, "expires_in_days": expires_in},
                )
    tokens = ApiToken.objects.filter(account=account).select_related("created_by")
    return render(
        request,
        "crm/intake/api_tokens.html",
        {
            "tokens": tokens,
            "new_token": new_token,
            "error": error,
            "api_base": request.build_absolute_uri("/api/v1/"),
            "settings_section": "api_tokens",
            "scopes": ApiToken.Scope.choices,
            "expiry_choices": EXPIRY_CHOICES.items(),
        },
    )
