"""Evaluations in Chromium with a real Celery worker and the simulator: a super admin
edits the Lead qualifier (v2: another model), sees the published workflow that uses it,
saves a set of 20 contacts with two expected ratings, evaluates v1 against v2 on the
worker (a progress bar while it runs), reads the side-by-side comparison, then adopts
v2 in the workflow and turns it on."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from marketplace.integrations.openai import versions
from marketplace.integrations.openai.models import Evaluation
from tests.builder.steps import log_in_as
from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)
from tests.conftest import screenshot
from tests.integrations.openai.conftest import (
    connect,
    contact,
    make_workflow,
    rater_branch,
    workspace_assistant,
)
from tests.marketplace.test_marketplace_browser import switch_to_french
from tests.usecases.conftest import FAST
from workflows import services

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLES = [
    "We need a quote and pricing, budget approved",
    "Student looking for an internship",
    "Curious to learn more about the product",
    "Urgent: ready to sign the contract this quarter",
]


def test_a_super_admin_evaluates_v1_against_v2_then_the_workflow_adopts_v2(
    page, live_server, sim, celery_worker, acme, admin_user
):
    connect(acme)
    qualifier = workspace_assistant(
        acme,
        name="Lead qualifier",
        instructions="Rate the lead: HOT, WARM or COLD.",
        output_format="structured",
        output_fields=[
            {
                "name": "rating",
                "label": "Lead rating",
                "type": "enumeration",
                "options": ["HOT", "WARM", "COLD"],
            },
            {"name": "reason", "type": "text", "options": []},
        ],
    )
    workflow = make_workflow(acme, rater_branch(qualifier))
    services.workflow_turn_off(workflow=workflow)
    leads = [
        contact(acme, first_name=f"Lead{i:02d}", job_title=TITLES[i % len(TITLES)])
        for i in range(20)
    ]
    celery_worker(env={**FAST, "OPENAI_BASE_URL": sim.base_url})

    log_in_as(page, "admin")
    page.goto(f"/settings/integrations/connected-apps/openai/assistants/{qualifier.pk}/")
    page.get_by_label("Model", exact=True).select_option("gpt-4.1-mini")
    page.get_by_label("Version note").fill("A faster model")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("The assistant is saved as version 2")).to_be_visible()
    uses = page.locator("#assistant-uses-title").locator("xpath=..")
    expect(uses).to_contain_text("Test workflow")
    expect(uses).to_contain_text("Nothing breaks")

    page.get_by_role("link", name="New evaluation set").click()
    page.get_by_label("Name", exact=True).fill("Twenty leads")
    page.get_by_label("Records", exact=True).select_option([str(r.pk) for r in leads])
    page.get_by_role("button", name="Save the set").click()
    expect(page.get_by_text("The set is saved with 20 records")).to_be_visible()
    # Each output field under the label its assistant gives it (or its name in words).
    expected = page.locator("table.evaluation-expected")
    expect(expected.get_by_role("columnheader", name="Lead rating")).to_be_visible()
    expect(expected.get_by_role("columnheader", name="Reason")).to_be_visible()
    page.get_by_label("Lead rating · Lead00").select_option("HOT")
    page.get_by_label("Lead rating · Lead01").select_option("COLD")
    page.get_by_label("Lead rating · Lead02").select_option("HOT")  # the qualifier says WARM
    page.get_by_role("button", name="Save expected answers").click()
    expect(page.get_by_text("Expected answers saved for 3 records.")).to_be_visible()
    v1 = qualifier.versions.get(number=1)
    page.get_by_label("Version", exact=True).select_option(str(v1.pk))
    page.get_by_label("Compare with version").select_option(
        str(versions.version_current(qualifier).pk)
    )
    screenshot(page, "evaluation-set-en")
    page.get_by_role("button", name="Evaluate", exact=True).click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    results = page.locator("#evaluation-results")
    expect(results).to_contain_text("Answers side by side", timeout=90_000)
    expect(results).to_contain_text("Finished · 40 of 40 answers")
    summary = page.locator("table.evaluation-summary")
    expect(summary.get_by_role("row", name="v1 · gpt-4o-mini")).to_contain_text("67 % (2/3)")
    expect(summary.get_by_role("row", name="v2 · gpt-4.1-mini")).to_contain_text("67 % (2/3)")
    lead02 = page.locator("table.evaluation-answers").get_by_role("row", name="Lead02")
    expect(lead02).to_contain_text("Lead rating: WARM")
    expect(lead02).to_contain_text("Fail: Lead rating = HOT")
    # Headers as written (versions, models, records), not upper-cased.
    for header in (summary.locator("th").first, lead02.locator("th")):
        assert header.evaluate("th => getComputedStyle(th).textTransform") == "none"
    screenshot(page, "evaluation-results-en")

    # The version it tested links to the evaluation.
    page.goto(f"/settings/integrations/connected-apps/openai/assistants/{qualifier.pk}/")
    expect(page.get_by_role("link", name="Twenty leads", exact=False).first).to_be_visible()

    page.goto(f"/workflows/{workflow.pk}/")
    page.locator('[data-step="1"] .card-open').click()
    notice = page.locator(".assistant-update")
    expect(notice).to_contain_text("Assistant updated: v1 → v2", timeout=30_000)
    notice.get_by_role("button", name="Use the latest version").click()
    expect(page.get_by_text("This step now uses version 2")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Review and turn on").click()
    page.get_by_label("Only enroll records that meet the criteria from now on").check()
    page.get_by_role("button", name="Turn on", exact=True).click()
    expect(page.locator("#bulk-progress")).to_contain_text("On", timeout=90_000)
    workflow.refresh_from_db()
    step = workflow.live_version.graph["steps"]["1"]["config"]
    assert workflow.is_enabled
    assert step[versions.CONFIG_KEY] == versions.version_current(qualifier).pk

    # The same pages in French (the user guide's French screenshots).
    switch_to_french(page)
    evaluation = Evaluation.objects.get()
    page.goto(
        f"/settings/integrations/connected-apps/openai/evaluation-sets/{evaluation.evaluation_set_id}/"
    )
    expect(page.get_by_role("heading", name="Réponses attendues")).to_be_visible()
    screenshot(page, "evaluation-set-fr")
    page.goto(f"/settings/integrations/connected-apps/openai/evaluations/{evaluation.pk}/")
    expect(page.locator("#evaluation-results")).to_contain_text("Terminée · 40 réponses sur 40")
    expect(page.locator("#evaluation-results")).to_contain_text("Réponses côte à côte")
    french_lead02 = page.locator("table.evaluation-answers").get_by_role("row", name="Lead02")
    expect(french_lead02).to_contain_text("Lead rating\u00a0: WARM")
    expect(french_lead02).to_contain_text("Échoué\u00a0: Lead rating = HOT")
    screenshot(page, "evaluation-results-fr")
