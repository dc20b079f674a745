"""Signing in: the password, then (for users who set one up) a code from the
authenticator app or a recovery code; the page a throttled sign-in gets; the password
reset email's link.

Throttling is django-axes (settings: AXES_*): its authentication backend refuses a
locked-out user name or client address before the password is checked, here and in the
Django admin, and `lockout_response` tells the person how long to wait.
"""

from __future__ import annotations

import math
import time

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from crm.audit import AuditAction, audit_record
from crm.models import User
from crm.two_factor import code_verify, has_second_factor

# The session key of a sign-in whose password was right and whose code is awaited.
PENDING = "crmflow_2fa_pending"
# Seconds the code step waits before the password must be entered again.
PENDING_SECONDS = 300


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if not has_second_factor(user):
            return with_language(super().form_valid(form), user)
        self.request.session[PENDING] = {
            "user": user.pk,
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[-1]),
            "at": int(time.time()),
            "next": self.get_redirect_url(),
        }
        return redirect("crm:login_code")


def with_language(response: HttpResponse, user: User) -> HttpResponse:
    """Signed in: the pages speak the language the user last picked in the menu (saved
    on the user), on this browser too, whatever language the sign-in page was in."""
    if user.language and user.language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            user.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    return response


def _pending_user(request: HttpRequest) -> tuple[User, dict] | None:
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending.get("user"), is_active=True).first()
    return (user, pending) if user is not None else None


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator app, or a recovery code."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING, None)
        return redirect("crm:login")
    user, pending = found
    error = ""
    if request.method == "POST":
        device = code_verify(user=user, code=request.POST.get("code", ""))
        if device is not None:
            del request.session[PENDING]
            user.backend = pending["backend"]
            login(request, user, backend=pending["backend"])
            otp_login(request, device)
            target = pending.get("next") or ""
            if not url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                target = reverse(settings.LOGIN_REDIRECT_URL)
            return with_language(redirect(target), user)
        audit_record(
            action=AuditAction.SIGN_IN_FAILED,
            request=request,
            account=user.account,
            target=user.get_username(),
            detail={"step": "two_factor"},
        )
        error = _(
            "That code is not right. Enter the 6-digit code your authenticator app shows "
            "now, or one of your recovery codes. After several wrong codes, wait a few "
            "seconds between tries."
        )
    return render(
        request,
        "registration/login_code.html",
        {"error": error},
        status=400 if error else 200,
    )


def lockout_wait(request: HttpRequest, credentials: dict | None) -> int:
    """Seconds until the throttled user name and client address may try again."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return 0
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None)
    last = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=address)).aggregate(
        last=Max("attempt_time")
    )["last"]
    if last is None:
        return int(cool_off.total_seconds())
    return max(1, math.ceil((last + cool_off - timezone.now()).total_seconds()))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """What a throttled sign-in gets (AXES_LOCKOUT_CALLABLE), at /login/ and /admin/:
    the sign-in page with the reason and the wait, status 429 and Retry-After."""
    seconds = lockout_wait(request, credentials)
    minutes = max(1, math.ceil(seconds / 60))
    message = ngettext(
        "Too many failed sign-ins for this user name or from your network. For your "
        "security, signing in is paused: try again in %(minutes)s minute, or reset your "
        "password.",
        "Too many failed sign-ins for this user name or from your network. For your "
        "security, signing in is paused: try again in %(minutes)s minutes, or reset your "
        "password.",
        minutes,
    ) % {"minutes": minutes}
    form = AuthenticationForm(request)
    response = render(
        request,
        "registration/login.html",
        {"form": form, "lockout_message": message, "next": request.GET.get("next", "")},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


# --- Password change and reset (Django's views, our templates) ----------------------


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("crm:password_reset_done")

    def form_valid(self, form):
        # Links in emails start with SITE_URL, not with whatever Host the request named.
        self.extra_email_context = {"site_url": settings.SITE_URL.rstrip("/")}
        return super().form_valid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    extra_context = {"settings_section": "password"}
    success_url = reverse_lazy("crm:settings_home")

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                action=AuditAction.PASSWORD_CHANGED,
                request=self.request,
                target=str(self.request.user),
            )
        messages.success(self.request, _("Your password was changed."))
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("crm:password_reset_complete")

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                action=AuditAction.PASSWORD_CHANGED,
                request=self.request,
                actor=self.user,
                target=str(self.user),
                detail={"by": "email_reset"},
            )
        return response
