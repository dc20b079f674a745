"""The Lead qualifier reads the visitor's company through a CRM tool, in Chromium with a
real Celery worker and the simulator: a super admin ticks "Associated records" on the
assistant, a known contact (at a 500-employee company) sends the Contact us form, and
the run detail shows the tool round that found the company and the HOT rating the
answer reasoned from it."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from crm import services as crm
from crm.models import Form, ObjectType
from marketplace.integrations.openai.demo import qualify_visitors_demo
from tests.builder.steps import log_in_as
from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)
from tests.conftest import screenshot
from tests.integrations.openai.conftest import connect, contact
from tests.usecases.conftest import FAST
from tests.usecases.steps import open_run, submit_public_form
from workflows import services
from workflows.models import Workflow

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The simulator's model, scripted: look the contact's company up, then rate from it.
ANSWER = {"rating": "HOT", "reason": "Their company, Initech, has 500 employees."}


def test_the_lead_qualifier_rates_from_the_company_it_looked_up(
    page, browser, live_server, sim, celery_worker, acme, admin_user
):
    connect(acme)
    qualify_visitors_demo(account=acme, actor=admin_user)
    ann = contact(acme, first_name="Ann", last_name="Lee", email="ann.lee@initech.example")
    initech = crm.record_create(
        account=acme,
        object_type=ObjectType.COMPANY,
        values={"name": "Initech", "number_of_employees": "500"},
    )
    crm.association_create(record=ann, other=initech)
    sim.configure(
        tool_calls=[
            {
                "instructions": "HOT, WARM or COLD",
                "calls": [
                    {
                        "name": "list_associated_records",
                        "arguments": {
                            "object": "contact",
                            "id": ann.pk,
                            "associated_object": "company",
                        },
                    }
                ],
                "answer": json.dumps(ANSWER),
            }
        ]
    )

    log_in_as(page, "admin")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Connected apps", exact=True).click()
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.locator(".mkt-tabs").get_by_role("link", name="Assistants", exact=True).click()
    page.get_by_role("link", name="Lead qualifier", exact=True).click()
    page.get_by_role("checkbox", name=re.compile("Associated records")).check()
    page.get_by_role("button", name="Save", exact=True).click()
    # Tools are part of the assistant's version: the save makes version 2.
    expect(page.get_by_text("The assistant is saved as version 2")).to_be_visible()

    workflow = Workflow.objects.get(account=acme, name__icontains="qualif")
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    celery_worker(beat=True, env={**FAST, "OPENAI_BASE_URL": sim.base_url})
    form = Form.objects.get(account=acme, name="Contact us")
    submit_public_form(
        browser,
        live_server.url,
        form.get_public_path(),
        {
            "Email": "ann.lee@initech.example",
            "First name": "Ann",
            "What are you looking for?": "Some information about your product.",
        },
    )

    open_run(page, workflow.pk, "Ann")
    rounds = page.locator("section.tool-rounds")
    # The tool by its label and its arguments in words, not the function name and its JSON.
    expect(rounds).to_contain_text("Associated records (e.g. a contact's company)")
    expect(rounds).not_to_contain_text("list_associated_records")
    expect(rounds).to_contain_text("Object: contact")
    expect(rounds.locator("[data-round='1'] .tool-result")).to_contain_text(
        '"number_of_employees":"500"'
    )
    expect(page.locator("section.history-step").first).to_contain_text("HOT")
    expect(page.locator("section.history-step").first).to_contain_text("500 employees")
    rounds.scroll_into_view_if_needed()
    screenshot(page, "guide-tools-1-run-rounds")
    # The same run in French (the language the user picked: Django's language cookie).
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": live_server.url}])
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("section.tool-rounds")).not_to_contain_text("list_associated_records")
    page.locator("section.tool-rounds").scroll_into_view_if_needed()
    screenshot(page, "guide-tools-fr-1-run-rounds")
