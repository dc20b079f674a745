"""The shell in a real browser: each role logs in and sees its own menus."""

import pytest

from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_logs_in_and_opens_settings_from_the_gear(page, admin_user):
    log_in(page, "admin")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Connected apps").wait_for()
    screenshot(page, "shell-admin-settings")


def test_a_rep_finds_no_integrations_and_switches_to_french(page, rep_user):
    log_in(page, "rep")
    page.get_by_role("link", name="Settings").click()
    assert page.get_by_role("link", name="Connected apps").count() == 0
    page.locator("summary.user-menu").click()
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("link", name="Paramètres").wait_for()
    screenshot(page, "shell-rep-french")
