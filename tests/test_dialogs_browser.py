"""Every modal dialog from the keyboard: opening it moves the focus into it, Tab and
Shift+Tab stay inside it, Escape closes it, and the focus goes back to what opened it
(a button, or the menu whose item opened it)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.builder.test_keyboard_seed_in_browser import tab_to
from tests.conftest import log_in
from tests.integrations.openai.conftest import connect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_FOCUS_IN_OPEN_DIALOG = """() => {
  const dialog = document.querySelector("dialog[open]");
  return !!dialog && dialog.contains(document.activeElement);
}"""


def assert_focus_stays_inside(page: Page, dialog: Locator) -> None:
    expect(dialog).to_be_visible()
    assert page.evaluate(_FOCUS_IN_OPEN_DIALOG), "opening the dialog moved no focus into it"
    count = dialog.evaluate(
        "d => [...d.querySelectorAll('a[href], button:not([disabled]), "
        "input:not([type=hidden]), select, textarea')]"
        ".filter(e => e.getClientRects().length).length"
    )
    for key in ["Tab"] * (count + 2) + ["Shift+Tab"] * (count + 2):
        page.keyboard.press(key)
        assert page.evaluate(_FOCUS_IN_OPEN_DIALOG), f"{key} left the open dialog"


def test_the_create_record_dialog_traps_and_restores_the_focus(page, admin_user):
    log_in(page, "admin")
    page.goto("/objects/contacts/")
    opener = page.get_by_role("button", name="Create contact")
    tab_to(page, opener)
    page.keyboard.press("Enter")
    dialog = page.locator("#create-dialog")
    assert_focus_stays_inside(page, dialog)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()


def test_the_uninstall_and_reconnect_dialogs_trap_and_restore_the_focus(page, acme, admin_user):
    connect(acme)
    log_in(page, "admin")
    page.goto("/settings/integrations/connected-apps/openai/")
    actions = page.locator(".mkt-actions > summary")
    for item in ("Uninstall", "Reconnect app"):
        tab_to(page, actions)
        page.keyboard.press("Enter")
        tab_to(page, page.get_by_role("menuitem", name=item))
        page.keyboard.press("Enter")
        dialog = page.locator("#dialog-slot dialog")
        expect(dialog).to_be_visible()
        assert_focus_stays_inside(page, dialog)
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(actions).to_be_focused()  # the menu closed: its opener


def test_the_install_dialog_returns_the_focus_to_install(page, acme, admin_user):
    log_in(page, "admin")
    page.goto("/marketplace/openai/")
    install = page.get_by_role("link", name="Install")
    tab_to(page, install)
    page.keyboard.press("Enter")
    dialog = page.locator("#connect-dialog")
    assert_focus_stays_inside(page, dialog)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(install).to_be_focused()
