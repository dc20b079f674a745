"""Connecting OpenAI from a workflow's Ask step returns to that step, its panel open, and
the step is then no longer flagged for the connection."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import log_in, screenshot
from tests.marketplace.helpers import VALID_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connecting_from_an_ask_step_comes_back_to_it(page, sim, admin_user, acme):
    page.set_default_timeout(30_000)  # a shared, loaded machine
    log_in(page, "admin")
    page.goto("/workflows/")
    page.locator(".create-menu > summary").click()
    page.get_by_role("button", name="Qualify visitors").click()
    page.locator('[data-step="1"] .card-open').click()
    panel = page.locator("#panel")
    expect(panel).to_contain_text("OpenAI is not connected to this account.")
    panel.get_by_role("link", name="Connect to OpenAI").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("API key").fill(VALID_KEY)
    dialog.get_by_role("button", name="Connect to OpenAI").click()
    page.get_by_text("OpenAI is connected.").wait_for()
    expect(page).to_have_url(re.compile(r"/workflows/\d+/steps/1/$"))
    expect(page.locator("#panel-title")).to_contain_text("Ask OpenAI assistant")
    expect(page.locator("#panel")).not_to_contain_text("OpenAI is not connected")
    screenshot(page, "builder-connected-from-step")
