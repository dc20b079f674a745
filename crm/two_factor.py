"""Two-factor authentication: a TOTP authenticator app, with recovery codes (django-otp).

What must stay true:
- A user with a confirmed authenticator is signed in only after a code from it, or one
  of their single-use recovery codes (crm/views/signin.py asks for it after the password).
- A recovery code works once (otp_static deletes it when it matches).
- With REQUIRE_2FA_FOR_SUPER_ADMINS, a super admin's session that was not verified with
  a second factor reaches only the setup page, the sign-out and the static files.
- Wrong codes slow down: each device doubles its wait after every failure (django-otp's
  throttling), so the six digits cannot be guessed in a burst.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import segno
from django.conf import settings
from django.contrib.auth import logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import User

RECOVERY_CODE_COUNT = 10
_SEPARATORS = re.compile(r"[\s-]+")


def authenticator_for(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if they set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def authenticator_pending(user: User) -> TOTPDevice:
    """The authenticator being set up: one unconfirmed device, kept across page loads so
    the QR code stays the same until the user confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)
    return device


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// address as an inline SVG QR code (drawn here: no CDN)."""
    svg = segno.make(device.config_url, error="m").svg_inline(
        scale=5, light="#ffffff", title=_("QR code to scan with your authenticator app")
    )
    return mark_safe(svg)  # noqa: S308 (segno's own markup; the address is hex and letters)


def secret_for_typing(device: TOTPDevice) -> str:
    """The secret in base32 in groups of four, for typing into an app by hand."""
    from base64 import b32encode

    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _normalise(code: str) -> str:
    return _SEPARATORS.sub("", code or "").lower()[:32]


def code_verify(*, user: User, code: str, device: TOTPDevice | None = None) -> Device | None:
    """The device that accepts `code`: six digits go to the authenticator (or to the
    given one being set up), anything else to the recovery codes."""
    code = _normalise(code)
    if not code:
        return None
    with transaction.atomic():
        if code.isdigit() and len(code) == 6:
            candidates: list[Device] = (
                [device]
                if device
                else list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True))
            )
        else:
            candidates = list(
                StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
            )
        for candidate in candidates:
            if candidate.verify_token(code):
                return candidate
    return None


def recovery_codes_create(user: User) -> list[str]:
    """A new set of single-use recovery codes; the previous set stops working."""
    with transaction.atomic():
        device, _created = StaticDevice.objects.get_or_create(
            user=user, defaults={"name": "Recovery codes", "confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _i in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_enable(*, request: HttpRequest, device: TOTPDevice) -> list[str]:
    """Confirm the authenticator being set up (its code was checked), mark this session
    as verified, and return the first recovery codes (shown once)."""
    from crm.audit import AuditAction, audit_record

    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_create(device.user)
        audit_record(request=request, action=AuditAction.TWO_FACTOR_ON, target=str(device.user))
    otp_login(request, device)
    return codes


def two_factor_disable(*, request: HttpRequest, user: User) -> None:
    from crm.audit import AuditAction, audit_record

    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_record(request=request, action=AuditAction.TWO_FACTOR_OFF, target=str(user))


def two_factor_required(user: User) -> bool:
    return bool(settings.REQUIRE_2FA_FOR_SUPER_ADMINS and getattr(user, "is_super_admin", False))


class RequireTwoFactorMiddleware:
    """With REQUIRE_2FA_FOR_SUPER_ADMINS, a super admin not verified with a second
    factor goes to its setup page (no authenticator yet) or signs in again (one exists:
    the session predates it or the setting)."""

    ALLOWED_PREFIXES = ("/static/", "/i18n/", "/logout/", "/login/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and two_factor_required(user)
            and not user.is_verified()
        ):
            setup = reverse("crm:two_factor")
            if request.path != setup and not request.path.startswith(self.ALLOWED_PREFIXES):
                if has_second_factor(user):
                    logout(request)
                    return redirect(f"{reverse('crm:login')}?{urlencode({'next': request.path})}")
                return redirect(setup)
        return self.get_response(request)
