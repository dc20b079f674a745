"""In Chromium, through the labels a builder sees: a workflow that starts on "Webhook
received", asks an OpenAI assistant (the simulator, over real HTTP) and sends the
answer on with "Send a webhook". Turned on, a JSON request to its URL makes a real
Celery worker run it, and the local receiver gets the assistant's response."""

from __future__ import annotations

import re

import httpx2
import pytest
from playwright.sync_api import expect

from marketplace.integrations.openai.models import WorkspaceAssistant
from marketplace.integrations.openai.services import connection_install
from marketplace.integrations.webhooks.models import WebhookEndpoint
from openai_simulator.config import DEMO_KEY
from openai_simulator.testing import running_simulator
from tests.builder.steps import (
    add_action,
    create_workflow,
    insert_data,
    labels,
    log_in_as,
    panel,
    save,
    type_into,
)
from tests.celery_worker import wait_for
from tests.conftest import screenshot
from tests.integrations.webhooks.conftest import LOCAL
from workflows.models import ActionExecution, Workflow

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def openai_simulator():
    with running_simulator({"keys": [{"key": DEMO_KEY, "name": "demo"}]}) as simulator:
        yield simulator


@pytest.fixture
def openai(openai_simulator, settings, acme, admin_user):
    """OpenAI connected through its own service, and one workspace assistant."""
    openai_simulator.reset()
    settings.OPENAI_BASE_URL = openai_simulator.base_url
    settings.OPENAI_TIMEOUT = 5.0
    assert connection_install(account=acme, user=admin_user, api_key=DEMO_KEY).connection
    WorkspaceAssistant.objects.create(
        account=acme,
        name="Lead rater",
        model="gpt-4o-mini",
        instructions="Rate the lead: HOT, WARM or COLD, with one reason.",
    )
    return openai_simulator


def test_a_builder_sends_an_assistants_answer_on_from_a_received_webhook(
    page, acme, builder_user, installed, openai, receiver, local_allowed, celery_worker
):
    L = labels("en")
    celery_worker(
        beat=True,
        env={
            "OPENAI_BASE_URL": openai.base_url,
            "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": LOCAL,
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
        },
    )
    page.set_default_timeout(30_000)  # a shared, loaded machine
    log_in_as(page, "builder")
    create_workflow(page, L, object_label=L["contact"], name="Rate inbound leads")

    # Trigger: Webhook received, its URL, and the mapping.
    page.locator(".card-trigger .card-open").click()
    panel(page).get_by_label("Start when").select_option(label="Webhook received")
    page.wait_for_load_state("networkidle")
    url = panel(page).get_by_label("Webhook URL").input_value()
    assert re.fullmatch(r"http://[^/]+/hooks/[\w-]+/[\w-]+/", url)
    rows = panel(page).locator(".webhook-row")
    rows.nth(0).get_by_label("JSON field").fill("email")
    rows.nth(0).get_by_label("Property", exact=True).select_option(label="Email")
    page.wait_for_load_state("networkidle")
    add = panel(page).get_by_role("button", name="Add a field")
    for _ in range(3):  # a click before htmx has wired the freshly swapped button does nothing
        add.click()
        try:
            expect(rows).to_have_count(2, timeout=10_000)
            break
        except AssertionError:
            continue
    rows.nth(1).get_by_label("JSON field").fill("name")
    rows.nth(1).get_by_label("Property", exact=True).select_option(label="First name")
    expect(rows.nth(0).get_by_label("Find the record by this property")).to_be_checked()
    screenshot(page, "webhooks-1-trigger")
    save(page, L)
    workflow = Workflow.objects.get(name="Rate inbound leads")
    endpoint = WebhookEndpoint.objects.get(workflow=workflow)
    assert workflow.trigger == "webhook_received"
    wait_for(
        lambda: (
            WebhookEndpoint.objects.get(pk=endpoint.pk).mapping
            == [
                {"field": "email", "property": "email"},
                {"field": "name", "property": "first_name"},
            ]
        ),
        timeout=15,
        message="the mapping saved with the panel",
    )
    expect(page.locator(".card-trigger")).to_contain_text("When a webhook is received")

    # 1. Ask OpenAI assistant about the contact.
    add_action(page, L["openai_section"], L["ask_openai"])
    panel(page).get_by_label(L["assistant_selection"]).select_option(label="Lead rater")
    type_into(page, L["prompt"], "Rate the lead ")
    insert_data(page, L["prompt"], L["contact_properties"], None, L["first_name"])
    save(page, L)

    # 2. Send a webhook with the assistant's response in its JSON body.
    add_action(page, "Webhooks", "Send a webhook")
    expect(panel(page).get_by_label("Method")).to_have_value("POST")
    type_into(page, "URL", receiver.url("/ratings"))
    type_into(page, "JSON body", '{"lead": "')
    insert_data(page, "JSON body", L["contact_properties"], None, L["first_name"])
    type_into(page, "JSON body", '", "rating": "')
    insert_data(page, "JSON body", L["action_outputs"], "1. " + L["ask_openai"], L["response"])
    type_into(page, "JSON body", '"}')
    screenshot(page, "webhooks-2-send")
    save(page, L)
    expect(page.locator(".card-webhooks")).to_contain_text(f"POST {receiver.url('/ratings')}")
    step = Workflow.objects.get(pk=workflow.pk).graph["steps"]["2"]["config"]
    assert step["body"] == (
        '{"lead": "{{ object.first_name }}", "rating": "{{ actions.1.response }}"}'
    )

    page.get_by_role("link", name=L["review"]).click()
    page.get_by_role("button", name=L["turn_on"], exact=True).click()
    expect(page.locator("#bulk-progress")).to_contain_text("On")
    screenshot(page, "webhooks-3-on")

    answer = httpx2.post(url, json={"email": "ann@example.com", "name": "Ann"}, trust_env=False)
    assert answer.status_code == 202 and answer.json()["accepted"] is True

    wait_for(lambda: receiver.requests, timeout=90, message="the outbound webhook")
    [request] = receiver.requests
    asked = ActionExecution.objects.get(workflow=workflow, step_id=1)
    assert asked.outputs["response"]
    assert request.json() == {"lead": "Ann", "rating": asked.outputs["response"]}
    assert request.headers["x-crmflow-signature"].startswith("t=")


def test_a_super_admin_installs_webhooks_copies_the_secret_once_and_rolls_it(
    page, acme, admin_user
):
    from marketplace.models import Connection

    log_in_as(page, "admin")
    page.goto("/marketplace/")
    page.get_by_role("link", name=re.compile("Webhooks")).first.click()
    page.get_by_role("link", name="Install").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Before you begin")
    dialog.get_by_role("button", name="Install").click()
    secret = dialog.get_by_label("Signing secret").input_value()
    connection = Connection.objects.get(account=acme, app="webhooks")
    assert secret.startswith("whsec_") and connection.secret() == secret
    screenshot(page, "webhooks-4-secret")
    dialog.get_by_role("link", name="I have copied it").click()

    expect(page.get_by_role("heading", name="Verify a request")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"whsec_…{secret[-4:]}")
    expect(page.locator("main")).not_to_contain_text(secret)
    page.get_by_role("link", name="Roll the secret").click()
    page.get_by_role("dialog").get_by_role("button", name="Roll the secret").click()
    rolled = page.get_by_role("dialog").get_by_label("Signing secret").input_value()
    assert rolled != secret
    connection.refresh_from_db()
    assert connection.secret() == rolled
