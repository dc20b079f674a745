"""Settings › Two-factor authentication: every user sets up their own authenticator app
(a QR code drawn on the server), gets recovery codes, makes new ones, or turns it off."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from crm.access import require_account
from crm.two_factor import (
    authenticator_for,
    authenticator_pending,
    code_verify,
    qr_code_svg,
    recovery_codes_create,
    recovery_codes_left,
    secret_for_typing,
    two_factor_disable,
    two_factor_enable,
    two_factor_required,
)


@never_cache
@require_http_methods(["GET", "POST"])
@require_account
def two_factor(request: HttpRequest) -> HttpResponse:
    """GET: the state, or the QR code to set it up. POST `confirm` (with `code`): turn it
    on and show the recovery codes once. POST `recovery` / `disable` (with a current
    code): new recovery codes / turn it off."""
    user = request.user
    device = authenticator_for(user)
    context: dict = {"settings_section": "two_factor", "required": two_factor_required(user)}
    error = ""
    if request.method == "POST" and device is None and "confirm" in request.POST:
        pending = authenticator_pending(user)
        if code_verify(user=user, code=request.POST.get("code", ""), device=pending):
            codes = two_factor_enable(request=request, device=pending)
            return render(
                request,
                "crm/two_factor.html",
                {**context, "device": pending, "recovery_codes": codes, "just_enabled": True},
            )
        error = _(
            "That code is not right. Enter the 6-digit code your authenticator app shows "
            "now for crmflow (it changes every 30 seconds). After a wrong code, wait a "
            "few seconds before the next try."
        )
    elif request.method == "POST" and device is not None:
        if not code_verify(user=user, code=request.POST.get("code", "")):
            error = _(
                "That code is not right. Enter the 6-digit code from your authenticator "
                "app, or one of your recovery codes."
            )
        elif "recovery" in request.POST:
            codes = recovery_codes_create(user)
            return render(
                request,
                "crm/two_factor.html",
                {**context, "device": device, "recovery_codes": codes},
            )
        elif "disable" in request.POST:
            if context["required"]:
                error = _(
                    "Super admins must use two-factor authentication on this installation: "
                    "it cannot be turned off. Make new recovery codes instead if you "
                    "changed phones."
                )
            else:
                two_factor_disable(request=request, user=user)
                messages.success(request, _("Two-factor authentication is off."))
                return redirect("crm:two_factor")
    if device is None:
        pending = authenticator_pending(user)
        context.update(qr_code=qr_code_svg(pending), secret=secret_for_typing(pending))
    else:
        context.update(device=device, codes_left=recovery_codes_left(user))
    context["error"] = error
    return render(request, "crm/two_factor.html", context, status=400 if error else 200)
