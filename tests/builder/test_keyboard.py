"""The builder without a mouse: panel, picker and menus by keyboard, focus managed, and
the unsaved-changes guard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.builder.conftest import draft, task
from tests.builder.steps import log_in_as
from tests.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_panel_and_picker_work_from_the_keyboard(page, acme, builder_user):
    page.set_default_timeout(30_000)  # a shared, loaded machine
    workflow = draft(acme, {"start": 1, "steps": {"1": {**task("Hello "), "next": None}}})
    log_in_as(page, "builder")
    page.goto(f"/workflows/{workflow.pk}/")
    page.locator('[data-step="1"] .card-open').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel-title")).to_be_focused()
    insert = page.locator('[data-insert-data="title"]')
    insert.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#picker-source")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#picker")).to_be_hidden()
    expect(insert).to_be_focused()
    # Open again; Tab past the source and the search to the first property; Enter.
    page.keyboard.press("Enter")
    expect(page.locator("#picker-source")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("first")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    title = page.get_by_role("textbox", name="Title", exact=True)
    expect(title.locator(".token-chip")).to_have_text("First name")
    expect(title).to_be_focused()
    screenshot(page, "builder-keyboard-chip")
    # Unsaved changes: closing the panel asks first (dismissed: the panel stays).
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.locator("#panel [data-close-panel]").first.click()
    assert dialogs and "unsaved" in dialogs[0]
    expect(page.locator("#panel-title")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_have_class("builder-panel is-empty")
    workflow.refresh_from_db()
    assert (
        workflow.graph["steps"]["1"]["config"]["title"]
        .replace("\u00a0", " ")
        .startswith("Hello {{ object.first_name }}")
    )
    expect(page.locator('[data-step="1"] .card-body .token-chip')).to_have_text("First name")
    # The card's menu opens and closes from the keyboard too.
    page.locator('[data-step="1"] .card-menu > summary').focus()
    page.keyboard.press("Enter")
    expect(page.locator('[data-step="1"] .card-menu .menu-list')).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator('[data-step="1"] .card-menu > summary')).to_be_focused()
