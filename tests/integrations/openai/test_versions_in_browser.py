"""Assistant versions in Chromium: a super admin drops a field the live workflow's
branch reads and sees that workflow listed with what would break; the builder sees
"Assistant updated: v1 → v2" on the step, uses the latest version, and the branch is
marked incomplete, so review refuses to turn the changes on."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.builder.steps import log_in_as
from tests.conftest import screenshot
from tests.integrations.openai.conftest import (  # noqa: F401  (fixtures)
    connect,
    lead_rater,
    make_workflow,
    rater_branch,
    sim,
    simulator_session,
)
from tests.usecases.steps import open_step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_sees_what_an_edit_breaks_and_a_builder_adopts_it_knowingly(
    page, sim, acme, admin_user, builder_user
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))

    log_in_as(page, "admin")
    page.goto(f"/settings/integrations/connected-apps/openai/assistants/{rater.pk}/")
    page.locator('input[name="field-0-name"]').fill("reason")
    page.locator('select[name="field-0-type"]').select_option("text")
    page.locator('input[name="field-1-name"]').fill("")
    page.get_by_label("Version note").fill("Only the reason")
    page.get_by_role("button", name="Save", exact=True).click()
    uses = page.locator("#assistant-uses-title").locator("xpath=..")
    expect(uses).to_contain_text("Test workflow")
    expect(uses).to_contain_text("Step 2 breaks")
    expect(uses).to_contain_text("“rating” is removed")
    screenshot(page, "assistant-versions-affected-en")

    page.context.clear_cookies()
    log_in_as(page, "builder")
    page.goto(f"/workflows/{workflow.pk}/")
    open_step(page, 1)
    notice = page.locator(".assistant-update")
    expect(notice).to_contain_text("Assistant updated: v1 → v2", timeout=30_000)
    screenshot(page, "assistant-versions-builder-en")
    notice.get_by_role("button", name="Use the latest version").click()
    expect(page.locator('li.flow-item[data-step="2"]')).to_contain_text(
        "Incomplete", timeout=30_000
    )
    page.goto(f"/workflows/{workflow.pk}/review/")
    expect(page.locator("body")).to_contain_text("no longer gives")
