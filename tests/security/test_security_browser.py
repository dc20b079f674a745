"""The security screens in Chromium (axe-core audits every page): an admin sets up
two-factor authentication, signs in again with a code, and reads the audit log."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD, log_in, screenshot
from tests.security.test_two_factor import code_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_sets_up_two_factor_and_signs_in_with_a_code(page, admin_user):
    log_in(page, "admin")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Two-factor authentication").click()
    page.get_by_text("Scan this QR code with your authenticator app.").wait_for()
    assert page.locator(".qr-code svg").count() == 1
    screenshot(page, "two-factor-setup")
    device = TOTPDevice.objects.get(user=admin_user, confirmed=False)
    page.get_by_label("Enter the 6-digit code the app shows").fill(code_for(device))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert page.locator(".recovery-codes li").count() == 10
    page.get_by_role("link", name="I saved my codes").click()
    page.get_by_text("Recovery codes left").wait_for()

    page.locator("summary.user-menu").click()
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Two-factor authentication").wait_for()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("That code is not right").wait_for()
    screenshot(page, "two-factor-wrong-code")
    page.wait_for_timeout(1100)  # a wrong code makes the next try wait a second
    device.refresh_from_db()
    device.last_t = -1  # the code used at setup may still be the current one
    device.save(update_fields=["last_t"])
    page.get_by_label("Code").fill(code_for(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/login/" not in url)

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    page.get_by_label("What").select_option("sign_in_failed")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("cell", name="Sign-in failed").first.wait_for()
    assert page.get_by_role("cell", name="Signed in", exact=True).count() == 0
    export = page.get_by_role("link", name="Export CSV").get_attribute("href") or ""
    assert "what=sign_in_failed" in export
    screenshot(page, "audit-log")
