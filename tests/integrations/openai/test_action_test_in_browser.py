"""The builder's Test of the Ask OpenAI assistant action, in Chromium, in English and
French: open the action's panel, find a record, change the prompt without saving,
press Test and read the prompt sent, the response, the model, tokens and cost. The
simulator answers over real HTTP; nothing is saved and nothing later in the workflow runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.models import Task
from tests.builder.conftest import contact, draft
from tests.builder.steps import labels, log_in_as, panel, type_into
from tests.builder.test_build_in_browser import localized_page  # noqa: F401
from tests.conftest import screenshot
from tests.integrations.openai.conftest import (  # noqa: F401  (fixtures)
    ask_then_task,
    connect,
    sim,
    simulator_session,
    workspace_assistant,
)
from workflows.models import ActionExecution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEST_LABELS = {
    "en": {
        "test": "Test",
        "find": "Find a record",
        "record": "Record",
        "prompt_sent": "Prompt sent",
    },
    "fr": {
        "test": "Tester",
        "find": "Rechercher une fiche",
        "record": "Fiche",
        "prompt_sent": "Invite envoyée",
    },
}


@pytest.mark.parametrize("localized_page", ["en", "fr"], indirect=True)
def test_a_builder_tests_the_action_on_a_record_from_its_panel(
    localized_page, sim, acme, builder_user
):
    language, page = localized_page
    L, T = labels(language), TEST_LABELS[language]
    connect(acme)
    assistant = workspace_assistant(acme)
    contact(acme, first_name="Ann", last_name="Lee", state="texas")
    contact(acme, first_name="Bob", last_name="Ray", state="ohio")
    workflow = draft(
        acme, ask_then_task(assistant.choice_value, prompt="{{ object.state }} is the state")
    )

    log_in_as(page, "builder")
    page.goto(f"/workflows/{workflow.pk}/")
    page.locator('[data-step="1"] .card-open').click()
    # Opening the panel lists the account's OpenAI assistants: slow on a loaded machine.
    expect(panel(page).locator("#panel-title")).to_have_text(L["ask_openai"], timeout=30_000)

    type_into(page, L["prompt"], ", please")  # edited, not saved: the Test runs this
    section = panel(page).locator(".action-test")
    section.get_by_label(T["find"]).fill("ann")
    # The search narrows the dropdown to Ann; Enter in the search box saves nothing.
    record = section.get_by_label(T["record"], exact=True)
    expect(record.locator("option")).to_have_count(1)
    expect(record.locator("option")).to_contain_text("Ann Lee")
    section.get_by_label(T["find"]).press("Enter")
    expect(panel(page).locator("#panel-title")).to_have_text(L["ask_openai"])

    section.get_by_role("button", name=T["test"], exact=True).click()
    result = section.locator("#action-test-result")
    expect(result).to_contain_text(T["prompt_sent"], timeout=30_000)
    expect(result).to_contain_text("texas is the state, please")
    expect(result).to_contain_text("TX")
    expect(result).to_contain_text("gpt-4o-mini")
    expect(result.locator("dd", has_text="$")).to_have_count(1)
    screenshot(page, f"assistant-test-{language}")

    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["config"]["prompt"] == "{{ object.state }} is the state"
    assert not Task.objects.exists() and not ActionExecution.objects.exists()
    # One call to OpenAI (the panel also listed the account's assistants).
    assert [r["path"] for r in sim.requests() if r["path"] != "/v1/assistants"] == ["/v1/responses"]
