"""Create from a template in the browser: the qualify-visitors workflow is drawn with its
branch paths side by side, its assistant step flagged incomplete until OpenAI is
connected and an assistant chosen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.builder.steps import log_in_as
from tests.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_template_opens_prefilled_with_branch_paths(page, acme, builder_user):
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.set_default_timeout(30_000)  # a shared, loaded machine
    log_in_as(page, "builder")
    page.goto("/workflows/")
    page.locator(".create-menu > summary").click()
    page.get_by_role("button", name="Qualify visitors").click()
    expect(page.locator(".branch-label")).to_have_text(["HOT", "WARM", "None met"])
    expect(page.locator('[data-step="1"]')).to_contain_text("Ask OpenAI assistant")
    expect(page.locator('[data-step="1"] .card-flag')).to_be_visible()
    screenshot(page, "builder-template-qualify-visitors")
    page.locator('[data-step="1"] .card-open').click()
    expect(page.locator("#panel")).to_contain_text("OpenAI is not connected to this account.")
    expect(page.locator("#panel").get_by_role("link", name="Connect to OpenAI")).to_be_visible()
    page.locator(".add-step").first.click()
    expect(page.locator("#panel")).to_contain_text("OpenAI integration")
    screenshot(page, "builder-action-panel")
