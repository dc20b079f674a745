"""Two-factor authentication: setting up an authenticator app, signing in with its code
or a recovery code, refused without one, and required for super admins by a setting."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import AuditAction, AuditEvent
from crm.two_factor import recovery_codes_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice) -> str:
    """What the authenticator app shows now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


@pytest.fixture
def admin_with_2fa(admin_user):
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    codes = recovery_codes_create(admin_user)
    return admin_user, device, codes


def _password_step(client: Client, username: str = "admin", next_url: str = ""):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/login/", data)


def test_setting_it_up_shows_a_qr_code_then_recovery_codes(admin_client, admin_user):
    page = admin_client.get("/settings/two-factor/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in text and "QR code to scan with your authenticator app" in text
    device = TOTPDevice.objects.get(user=admin_user, confirmed=False)
    # The key for typing by hand is on the page, in groups of four.
    assert page.context["secret"].replace(" ", "") in text.replace(" ", "")

    wrong = admin_client.post("/settings/two-factor/", {"confirm": "1", "code": "000000"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()

    time.sleep(1.1)  # a wrong code makes the next try wait a second (django-otp's throttle)
    done = admin_client.post("/settings/two-factor/", {"confirm": "1", "code": code_for(device)})
    assert done.status_code == 200
    codes = done.context["recovery_codes"]
    assert len(codes) == 10 and all(code in done.content.decode() for code in codes)
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_ON, actor=admin_user).exists()
    # Shown once: the page now says it is on, without the codes.
    again = admin_client.get("/settings/two-factor/").content.decode()
    assert codes[0] not in again and "Recovery codes left" in again


def test_sign_in_with_a_code_from_the_app(admin_with_2fa):
    _user, device, _codes = admin_with_2fa
    client = Client()
    response = _password_step(client, next_url="/tasks/")
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    # Not signed in yet.
    assert client.get("/settings/").status_code == 302
    response = client.post("/login/code/", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/tasks/"
    assert client.get("/settings/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN, actor_name="admin").exists()


def test_sign_in_with_a_recovery_code_works_once(admin_with_2fa):
    _user, _device, codes = admin_with_2fa
    client = Client()
    _password_step(client)
    response = client.post("/login/code/", {"code": codes[3].upper()})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/settings/").status_code == 200

    other = Client()
    _password_step(other)
    reused = other.post("/login/code/", {"code": codes[3]})
    assert reused.status_code == 400
    assert "That code is not right" in reused.content.decode()
    assert other.get("/settings/").status_code == 302


def test_sign_in_is_refused_without_a_right_code(admin_with_2fa):
    client = Client()
    _password_step(client)
    response = client.post("/login/code/", {"code": "123456"})
    assert response.status_code == 400
    assert "recovery codes" in response.content.decode()
    assert client.get("/settings/").status_code == 302
    assert AuditEvent.objects.filter(
        action=AuditAction.SIGN_IN_FAILED, target="admin", detail__step="two_factor"
    ).exists()
    # The code page without a password step sends back to the password.
    assert Client().get("/login/code/")["Location"] == "/login/"


def test_super_admins_must_set_it_up_when_the_setting_says_so(admin_client, rep_client, settings):
    settings.REQUIRE_2FA_FOR_SUPER_ADMINS = True
    response = admin_client.get("/objects/contacts/")
    assert response.status_code == 302 and response["Location"] == "/settings/two-factor/"
    page = admin_client.get("/settings/two-factor/").content.decode()
    assert "Super admins must use two-factor authentication" in page
    # Other roles are not asked.
    assert rep_client.get("/objects/contacts/").status_code == 200


def test_a_required_second_factor_cannot_be_turned_off(admin_with_2fa, settings):
    settings.REQUIRE_2FA_FOR_SUPER_ADMINS = True
    _user, device, _codes = admin_with_2fa
    client = Client()
    _password_step(client)
    client.post("/login/code/", {"code": code_for(device)})
    assert client.get("/objects/contacts/").status_code == 200
    response = client.post("/settings/two-factor/", {"disable": "1", "code": _codes[0]})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_session_without_the_second_factor_signs_in_again(admin_with_2fa, settings):
    settings.REQUIRE_2FA_FOR_SUPER_ADMINS = True
    user, _device, _codes = admin_with_2fa
    client = Client()
    client.force_login(user)  # a session from before the setting
    response = client.get("/objects/contacts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_turning_it_off_needs_a_code(admin_with_2fa):
    user, device, codes = admin_with_2fa
    client = Client()
    client.force_login(user)
    refused = client.post("/settings/two-factor/", {"disable": "1", "code": "999999"})
    assert refused.status_code == 400
    done = client.post("/settings/two-factor/", {"disable": "1", "code": codes[0]})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_OFF).exists()
