"""Draft, approve and send, end to end in Chromium (English and French): the admin
creates the workflow from its template on the site, in the page's language (its name,
instructions and outcome paths come out in it) and picks who approves: the rep, from a
select of the account's users; the rep moves their deal to "Qualified
to buy" → a real Celery worker drafts with the simulator and
waits for approval → the rep (the deal's owner) opens the request from the bell, edits
the draft and approves → the worker sends it, and the local SMTP server receives the
edited email, addressed to the deal's contact."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm import services
from crm.models import Notification, ObjectType
from marketplace.integrations.openai.demo import (
    SALES_EMAIL_INSTRUCTIONS,
    workspace_assistant_ensure,
)
from tests.accessibility import close_checked, csp_watched_context
from tests.builder.steps import log_in_as, panel
from tests.celery_worker import wait_for
from tests.conftest import screenshot
from tests.integrations.openai.conftest import connect
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)
from tests.usecases.conftest import FAST
from tests.usecases.steps import create_from_template, open_step
from workflows import services as workflow_services
from workflows.models import Workflow

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEAL = "Globex — 200 seats"
APPROVE = {"en": "Approve", "fr": "Approuver"}
DECIDED = {"en": "Approved by", "fr": "Approuvé par"}
TEMPLATE = {
    "en": "Draft, approve and send sales emails",
    "fr": "Rédiger, approuver et envoyer des e-mails commerciaux",
}
INSTRUCTIONS = {
    "en": "Read the draft, fix anything wrong",
    "fr": "Lisez le brouillon, corrigez ce qui ne va pas",
}
OUTCOMES = {
    "en": ["Approved", "Rejected", "No decision"],
    "fr": ["Approuvé", "Refusé", "Pas de décision"],
}


@pytest.fixture(params=["en", "fr"])
def language_page(request, browser, live_server):
    context = csp_watched_context(
        browser,
        base_url=live_server.url,
        viewport={"width": 1440, "height": 900},
        locale="fr-FR" if request.param == "fr" else "en-US",
    )
    page = context.new_page()
    page.set_default_timeout(30_000)  # a shared, loaded machine
    yield request.param, page
    close_checked(context)  # fails on Content-Security-Policy violations


def test_the_owner_edits_and_approves_and_the_contact_gets_the_edited_email(
    language_page, sim, smtp_server, celery_worker, live_server, acme, admin_user, rep_user
):
    language, page = language_page
    connect(acme)
    workspace_assistant_ensure(acme, "Sales email drafter", SALES_EMAIL_INSTRUCTIONS)
    deal = services.record_create(
        account=acme,
        object_type=ObjectType.DEAL,
        values={"name": DEAL, "stage": "appointmentscheduled", "owner": rep_user.pk},
    )
    jane = services.record_create(
        account=acme,
        object_type=ObjectType.CONTACT,
        values={"first_name": "Jane", "email": "jane.doe@globex.example"},
    )
    services.association_create(record=deal, other=jane)
    # The admin creates the workflow from its template, on the site in their language:
    # the approval's three outcomes are the paths right below it.
    log_in_as(page, "admin")
    workflow = Workflow.objects.get(pk=create_from_template(page, TEMPLATE[language]))
    assert workflow.name == TEMPLATE[language]
    for outcome in OUTCOMES[language]:
        expect(page.locator(".branch-path", has_text=outcome).first).to_be_visible()
    # Who approves: "A specific user" shows the account's users, by name and email.
    open_step(page, 2)
    panel(page).locator("#step-field-approver_kind").select_option(value="user")
    users = panel(page).locator("select#step-field-approver_user")
    expect(users).to_be_visible()
    users.select_option(label="Riley Rep (rep@example.com)")
    panel(page).locator(".panel-footer button[name=_save]").click()
    expect(panel(page)).to_have_class(re.compile("is-empty"))
    expect(page.locator('[data-step="2"]')).to_contain_text("Riley Rep")
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["2"]["config"]["approver"] == str(rep_user.pk)
    page.locator('[data-step="3"]').evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, f"guide-approve-{language}-0-workflow")
    workflow_services.workflow_publish(workflow=workflow)
    workflow_services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    celery_worker(
        beat=True,
        env={
            **FAST,
            "OPENAI_BASE_URL": sim.base_url,
            "EMAIL_URL": smtp_server.url,
            "SITE_URL": live_server.url,
        },
    )

    # The rep moves their deal to "Qualified to buy" on its page.
    page.context.clear_cookies()
    log_in_as(page, "rep")
    page.goto(f"/objects/deals/{deal.pk}/")
    page.locator("#property-stage a.property-value").click()
    page.locator("#edit-stage").select_option(value="qualifiedtobuy")
    page.locator("#property-stage button[type=submit]").first.click()
    wait_for(
        lambda: Notification.objects.filter(url__startswith="/approvals/").exists(),
        timeout=120,
        message="the draft and its approval request",
    )
    assert smtp_server.messages == [] or all(
        m["To"] != "jane.doe@globex.example" for m in smtp_server.messages
    )

    # The request arrives in the bell; it opens the request's page.
    page.goto("/notifications/")
    page.locator(".notification-open").first.click()
    text = page.locator("#approval-text")
    expect(text).to_contain_text("Hi Jane,")
    expect(page.get_by_text(INSTRUCTIONS[language])).to_be_visible()
    # The reason is an input like the product's others (the text field's look).
    reason = page.locator("#approval-reason")
    for css in ("background-color", "border-top-color", "padding-left", "width"):
        expect(reason).to_have_css(css, text.evaluate(f"e => getComputedStyle(e)['{css}']"))
    screenshot(page, f"guide-approve-{language}-1-request")
    text.fill(text.input_value() + "\n\nP.S. Edited by Riley.")
    reason.fill("Added a P.S.")
    page.get_by_role("button", name=APPROVE[language], exact=True).click()
    expect(page.locator("#approval-decided")).to_contain_text(DECIDED[language])
    screenshot(page, f"guide-approve-{language}-2-approved")

    wait_for(
        lambda: any(m["To"] == "jane.doe@globex.example" for m in smtp_server.messages),
        timeout=120,
        message="the approved email at the SMTP server",
    )
    [sent] = [m for m in smtp_server.messages if m["To"] == "jane.doe@globex.example"]
    body = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Hi Jane," in body and "P.S. Edited by Riley." in body
