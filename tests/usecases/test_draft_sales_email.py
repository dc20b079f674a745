"""Draft sales emails, end to end (PRODUCT.md §1.7), from a fresh database:

a super admin connects OpenAI in the Marketplace and creates the "Sales email drafter"
workspace assistant → creates the workflow from its template (deals entering
"Qualified to buy"; the prompt reads the deal's contact and company) and turns it on →
the rep moves their deal to "Qualified to buy" on the deal's page → a real Celery
worker asks the simulator → the rep finds an email task in the queue with the draft in
its notes, on the deal and its contact; the run's history shows it succeeded. The
"faults" variant runs it while the simulator refuses calls with 429s and 500s: same end
state, the retries counted in the run, one task.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm import services
from crm.models import ObjectType, Task
from openai_simulator.config import DEMO_KEY
from tests.builder.steps import insert_data, labels, log_in_as, save, type_into
from tests.celery_worker import wait_for
from tests.conftest import screenshot
from tests.marketplace.test_marketplace_browser import switch_to_french
from tests.usecases.steps import (
    SALES_EMAIL_INSTRUCTIONS,
    complete_step,
    connect_openai,
    create_from_template,
    create_workspace_assistant,
    crm_menu,
    open_run,
    open_step,
    step_attempts,
    turn_on,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEAL = "Globex — 200 seats"


def deal_with_contact_and_company(account, owner):
    """A deal at the first stage, owned by the rep, with its contact and company."""
    deal = services.record_create(
        account=account,
        object_type=ObjectType.DEAL,
        values={
            "name": DEAL,
            "stage": "appointmentscheduled",
            "amount": "48000",
            "description": "Support seats for the whole sales floor.",
            "owner": owner.pk,
        },
    )
    jane = services.record_create(
        account=account,
        object_type=ObjectType.CONTACT,
        values={
            "first_name": "Jane",
            "last_name": "Doe",
            "email": "jane.doe@globex.example",
            "job_title": "Head of Sales",
            "company_name": "Globex",
            "owner": owner.pk,
        },
    )
    globex = services.record_create(
        account=account,
        object_type=ObjectType.COMPANY,
        values={"name": "Globex", "domain": "globex.example", "industry": "Manufacturing"},
    )
    services.association_create(record=deal, other=jane)
    services.association_create(record=deal, other=globex)
    return deal, jane


def test_a_deal_entering_the_stage_gives_its_owner_an_email_task_with_the_draft(
    wide_page, sim, openai_mode, worker, acme, admin_user, rep_user
):
    page = wide_page
    shot = "guide-draft" if openai_mode == "clean" else "faults-draft"
    deal, jane = deal_with_contact_and_company(acme, rep_user)

    log_in_as(page, "admin")
    connect_openai(page, DEMO_KEY)
    create_workspace_assistant(page, "Sales email drafter", SALES_EMAIL_INSTRUCTIONS)
    workflow_id = create_from_template(page, "Draft sales emails")
    expect(page.locator(".card-trigger")).to_contain_text("Qualified to buy")
    screenshot(page, f"{shot}-1-template")
    complete_step(page, 1)  # the template chose "Sales email drafter": check it and save
    # The task's title names the deal's contact: Insert data → Associated records.
    open_step(page, 2)
    type_into(page, "Title", " for ")
    insert_data(page, "Title", "Associated records", "Contact (associated)", "First name")
    screenshot(page, f"{shot}-1b-associated-data")
    save(page, labels("en"))
    turn_on(page)  # the deal is at an earlier stage: nobody enrolls yet
    expect(page.locator("#bulk-progress")).to_contain_text("0 existing records enrolled")
    screenshot(page, f"{shot}-2-on")

    # The rep moves the deal to "Qualified to buy" on its page.
    page.context.clear_cookies()
    log_in_as(page, "rep")
    crm_menu(page, "Deals")
    page.get_by_role("link", name=DEAL).first.click()
    page.locator("#property-stage a.property-value").click()
    page.locator("#edit-stage").select_option(label="Qualified to buy")
    page.locator("#property-stage").get_by_role("button", name="Save").click()
    expect(page.locator("#property-stage")).to_contain_text("Qualified to buy")
    screenshot(page, f"{shot}-3-stage")

    wait_for(
        lambda: Task.objects.filter(records=deal).exists(),
        timeout=120,
        message="the email task with the draft",
    )
    crm_menu(page, "Tasks")
    row = page.locator("tbody tr", has_text=f"Review and send the drafted email: {DEAL} for Jane")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Email")
    expect(row).to_contain_text("Riley Rep")
    expect(row.locator(".task-notes")).to_contain_text("Hi Jane,")
    expect(row.locator(".task-notes")).to_contain_text("Globex")
    expect(row.get_by_role("link", name=DEAL, exact=True)).to_be_visible()
    expect(row.get_by_role("link", name="Jane Doe", exact=True)).to_be_visible()
    screenshot(page, f"{shot}-4-task")
    page.get_by_role("link", name="Jane Doe").first.click()  # on the contact's page too
    expect(page.locator("#tasks")).to_contain_text("Hi Jane,")
    screenshot(page, f"{shot}-5-contact")

    page.context.clear_cookies()
    log_in_as(page, "admin")
    open_run(page, workflow_id, DEAL)
    screenshot(page, f"{shot}-6-run")
    attempts = step_attempts(page, "Ask OpenAI assistant")
    assert attempts >= 3 if openai_mode == "faults" else attempts == 1

    # Exactly once: one task, on the deal and its contact, for the deal owner.
    task = Task.objects.get(records=deal)
    assert (task.type, task.assignee) == ("email", rep_user)
    assert set(task.records.all()) == {deal, jane}
    responses = sim.requests(path_prefix="/v1/responses")
    assert responses[-1]["status"] == 200
    if openai_mode == "faults":
        assert {r["status"] for r in responses[:2]} == {429, 500}

    if openai_mode == "clean":
        # The user guide's French screenshots: the deal at its stage, the owner's task.
        switch_to_french(page)
        page.goto(f"/objects/deals/{deal.pk}/")
        expect(page.locator("#property-stage")).to_contain_text("Qualifié pour l’achat")
        screenshot(page, "guide-draft-fr-3-stage")
        page.goto("/tasks/?view=all")
        row = page.locator("tbody tr", has_text=f"Review and send the drafted email: {DEAL}")
        expect(row).to_contain_text("E-mail")
        screenshot(page, "guide-draft-fr-4-task")
