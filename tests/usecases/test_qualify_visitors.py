"""Qualify visitors, end to end (PRODUCT.md §1.7), from a fresh database:

a super admin connects OpenAI in the Marketplace, builds the public "Contact us" form
(with the free-text "What are you looking for?") and creates the "Lead qualifier"
workspace assistant (structured: rating HOT/WARM/COLD + reason) → a builder creates
the workflow from its template (trigger: the "Contact us" form; the assistant already
chosen) and turns it on → an anonymous visitor asks for pricing and a demo on the public
form → a real Celery worker asks the simulator → HOT: the rep sees a notification under
the bell and a high-priority call task in the queue; the run's history shows it
succeeded. The "faults" variant runs the same story while the simulator refuses calls
with 429s and 500s: same end state, the retries counted in the run, nothing twice.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.models import Form, Notification, Record, Task
from marketplace.integrations.openai.models import WorkspaceAssistant
from openai_simulator.config import DEMO_KEY
from tests.builder.steps import log_in_as
from tests.celery_worker import wait_for
from tests.conftest import screenshot
from tests.marketplace.test_marketplace_browser import switch_to_french
from tests.usecases.steps import (
    FREE_TEXT_NEW_PROPERTY,
    LEAD_QUALIFIER_INSTRUCTIONS,
    complete_step,
    connect_openai,
    create_form,
    create_from_template,
    create_workspace_assistant,
    crm_menu,
    open_notifications,
    open_run,
    step_attempts,
    submit_public_form,
    turn_on,
)
from workflows.models import Enrollment, Workflow

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISITOR = {
    "Email": "ann.lee@globex.example",
    "First name": "Ann",
    "Last name": "Lee",
    "Company name": "Globex",
    "Job title": "VP Sales",
    # Buying signals: the simulator rates this HOT.
    "What are you looking for?": "Pricing for 200 seats and a demo this quarter: we have budget.",
}


def test_a_hot_visitor_reaches_a_rep_as_a_notification_and_a_call_task(
    wide_page, browser, live_server, sim, openai_mode, worker, acme, admin_user, rep_user
):
    page = wide_page
    shot = "guide-qualify" if openai_mode == "clean" else "faults-qualify"

    log_in_as(page, "admin")
    connect_openai(page, DEMO_KEY)
    public_url = create_form(
        page,
        "Contact us",
        [
            ("First name", "", True),
            ("Last name", "", False),
            ("Company name", "", False),
            ("Job title", "", False),
            (FREE_TEXT_NEW_PROPERTY, "What are you looking for?", True),
        ],
    )
    screenshot(page, f"{shot}-0-form")
    form = Form.objects.get(account=acme, name="Contact us")
    create_workspace_assistant(
        page,
        "Lead qualifier",
        LEAD_QUALIFIER_INSTRUCTIONS,
        fields=[("rating", "enumeration", "HOT, WARM, COLD"), ("reason", "text", "")],
    )
    screenshot(page, f"{shot}-1-assistant")

    workflow_id = create_from_template(page, "Qualify visitors")
    expect(page.locator(".card-trigger")).to_contain_text("When the form is submitted")
    expect(page.locator(".branch-label")).to_have_text(["HOT", "WARM", "None met"])
    screenshot(page, f"{shot}-2-template")
    complete_step(page, 1)  # the template chose "Lead qualifier": check it and save
    turn_on(page)
    screenshot(page, f"{shot}-3-on")
    workflow = Workflow.objects.get(pk=workflow_id)
    assert workflow.is_enabled and workflow.form_id == form.pk

    submit_public_form(browser, live_server.url, public_url, VISITOR)
    ann = Record.objects.get(account=acme, email="ann.lee@globex.example")

    wait_for(
        lambda: Task.objects.filter(records=ann).exists(),
        timeout=120,
        message="the hot lead's call task",
    )
    open_run(page, workflow_id, "Ann Lee")
    screenshot(page, f"{shot}-4-run")
    attempts = step_attempts(page, "Ask OpenAI assistant")
    if openai_mode == "faults":
        assert attempts >= 3  # a 429, a 500, then the answer
    else:
        assert attempts == 1

    # What the rep sees: the notification under the bell, the call task in the queue.
    page.context.clear_cookies()
    log_in_as(page, "rep")
    expect(page.locator("#notifications-bell")).to_have_accessible_name("Notifications (1 unread)")
    open_notifications(page)
    expect(page.locator(".notification-title")).to_have_text(["Hot lead: Ann Lee"])
    expect(page.locator(".notification-body")).not_to_be_empty()
    screenshot(page, f"{shot}-5-notification")
    crm_menu(page, "Tasks")
    row = page.locator("tbody tr", has_text="Call Ann Lee (hot lead)")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("High")
    expect(row).to_contain_text("Call")
    expect(row).to_contain_text("Riley Rep")
    expect(row.locator(".task-notes")).to_contain_text("Pricing for 200 seats")
    screenshot(page, f"{shot}-6-task")

    # Exactly once: one task, one notification per recipient, the lead status untouched.
    assert Task.objects.filter(records=ann).count() == 1
    assert Notification.objects.filter(recipient=rep_user).count() == 1
    ann.refresh_from_db()
    assert ann.properties.get("lead_status") != "unqualified"

    responses = sim.requests(path_prefix="/v1/responses")
    assert responses[-1]["status"] == 200
    if openai_mode == "faults":
        assert {r["status"] for r in responses[:2]} == {429, 500}

    if openai_mode == "clean":
        french_screenshots(page, acme, workflow_id, ann)


def french_screenshots(page, acme, workflow_id: int, ann: Record) -> None:
    """The user guide's French screenshots: the same pages, the site in French (the
    rep's notification and task, then the admin's assistant, workflow and run)."""
    switch_to_french(page)
    page.goto("/notifications/")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.locator(".notification-title")).to_have_text(["Hot lead: Ann Lee"])
    screenshot(page, "guide-qualify-fr-5-notification")
    page.goto("/tasks/")
    row = page.locator("tbody tr", has_text="Call Ann Lee (hot lead)")
    expect(row).to_contain_text("Haute")
    screenshot(page, "guide-qualify-fr-6-task")
    page.context.clear_cookies()
    log_in_as(page, "admin")
    switch_to_french(page)
    assistant = WorkspaceAssistant.objects.get(account=acme, name="Lead qualifier")
    page.goto(f"/settings/integrations/connected-apps/openai/assistants/{assistant.pk}/")
    expect(page.get_by_text("Champs de sortie structurée")).to_be_visible()
    screenshot(page, "guide-qualify-fr-1-assistant")
    page.goto(f"/workflows/{workflow_id}/")
    expect(page.locator(".branch-label")).to_have_text(["HOT", "WARM", "Aucune remplie"])
    screenshot(page, "guide-qualify-fr-2-template")
    run = Enrollment.objects.get(workflow_id=workflow_id, record=ann)
    page.goto(f"/workflows/{workflow_id}/history/runs/{run.pk}/")
    page.locator('[data-run-status="completed"]').wait_for()
    expect(page.get_by_role("heading", name=re.compile("^Exécution pour "))).to_be_visible()
    screenshot(page, "guide-qualify-fr-4-run")
