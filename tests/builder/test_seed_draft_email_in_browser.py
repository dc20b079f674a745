"""Seed steps 5–6 in Chromium, exactly as the article describes them, in English and
in French:
create → criteria → + → OpenAI integration → Ask OpenAI assistant → pick an
assistant, prompt with two contact properties, Advanced API parameters (model,
temperature 0.3) → Save → + → Create task → Insert data → Action outputs → Ask OpenAI
assistant → Response → assign to a rep → Save → Review → Turn on. A real Celery worker
then runs it against the OpenAI simulator, and the rep's task holds the drafted email."""

from __future__ import annotations

import pytest

from crm.models import Task
from tests.builder.conftest import contact
from tests.builder.steps import (
    add_action,
    create_workflow,
    expand,
    insert_data,
    labels,
    log_in_as,
    panel,
    review_and_turn_on,
    save,
    set_criteria,
    type_into,
)
from tests.builder.test_build_in_browser import FAST, localized_page  # noqa: F401
from tests.celery_worker import wait_for
from tests.conftest import screenshot
from tests.integrations.openai.conftest import (  # noqa: F401  (fixtures)
    connect,
    sim,
    simulator_session,
    workspace_assistant,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("localized_page", ["en", "fr"], indirect=True)
def test_a_builder_drafts_sales_emails_with_an_openai_assistant(
    localized_page, sim, acme, builder_user, rep_user, celery_worker
):
    language, page = localized_page
    L = labels(language)
    connect(acme)
    workspace_assistant(
        acme,
        name="Sales email drafter",
        model="gpt-4o-mini",
        instructions="Draft a short prospecting email to the contact.",
    )
    celery_worker(beat=True, env={**FAST, "OPENAI_BASE_URL": sim.base_url})
    contact(acme, first_name="Ann", last_name="Lee", company_name="Globex", state="California")

    log_in_as(page, "builder")
    create_workflow(page, L, object_label=L["contact"], name="Draft sales emails")
    set_criteria(page, L, property_label=L["state"])
    add_action(page, L["openai_section"], L["ask_openai"])
    panel(page).get_by_label(L["assistant_selection"]).select_option(
        label=f"Sales email drafter ({L['in_crmflow']})"  # also in the OpenAI account
    )
    type_into(page, L["prompt"], "Draft a prospecting email to ")
    insert_data(page, L["prompt"], L["contact_properties"], None, L["first_name"])
    type_into(page, L["prompt"], " at ")
    insert_data(page, L["prompt"], L["contact_properties"], None, L["company_name"])
    expand(page, L["advanced"])
    panel(page).get_by_label(L["model"]).select_option("gpt-4.1-mini")
    panel(page).get_by_label(L["temperature"]).fill("0.3")
    screenshot(page, f"seed-{language}-1-ask-openai")
    save(page, L)

    add_action(page, L["crm_section"], L["create_task"])
    type_into(page, L["title"], "Email draft for ")
    insert_data(page, L["title"], L["contact_properties"], None, L["first_name"])
    insert_data(page, L["notes"], L["action_outputs"], "1. " + L["ask_openai"], L["response"])
    page.get_by_label(L["assigned_to"]).select_option(label="Riley Rep")
    screenshot(page, f"seed-{language}-2-task-with-response")
    save(page, L)
    review_and_turn_on(page, L)
    screenshot(page, f"seed-{language}-3-on")

    wait_for(
        lambda: Task.objects.filter(assignee=rep_user).exists(),
        timeout=120,
        message="the rep's task with the drafted email",
    )
    task = Task.objects.get(assignee=rep_user)
    assert task.title.strip() == "Email draft for Ann"
    assert "Ann" in task.notes and "{{" not in task.notes
    requests = [r for r in sim.requests() if r["path"] == "/v1/responses"]
    assert [r["model"] for r in requests] == ["gpt-4.1-mini"]
