"""The Webhooks app in the marketplace: install (the secret shown once), roll, the
Signatures tab, who may do it, and what uninstalling lists."""

from __future__ import annotations

import re

from django.urls import reverse

from marketplace.models import AppLogEntry, Connection
from tests.integrations.webhooks.conftest import send_step, webhook_workflow
from workflows.models import Workflow


def shown_secret(html: str) -> str:
    return re.search(r'id="signing-secret" value="(whsec_[^"]+)"', html)[1]


def test_installing_shows_the_signing_secret_once_then_only_its_mask(acme, admin_client):
    listing = admin_client.get(reverse("marketplace:listing", args=["webhooks"])).content.decode()
    assert "Send signed HTTP requests from workflows" in listing
    assert "Developer tools" in listing and "marketplace_webhooks/webhooks.svg" in listing

    dialog = admin_client.get(reverse("marketplace:webhooks_connect")).content.decode()
    assert "Before you begin" in dialog and "whsec_" not in dialog
    response = admin_client.post(reverse("marketplace:webhooks_connect"))
    secret = shown_secret(response.content.decode())
    assert "no-store" in response["Cache-Control"]
    connection = Connection.objects.get(account=acme, app="webhooks")
    assert connection.secret() == secret and secret not in connection.encrypted_secret
    assert connection.secret_mask == f"whsec_…{secret[-4:]}"

    page = admin_client.get(reverse("marketplace:webhooks_signatures")).content.decode()
    assert connection.secret_mask in page and secret not in page
    assert "X-Crmflow-Signature" in page and "hmac.compare_digest" in page
    app_page = admin_client.get(reverse("marketplace:app_detail", args=["webhooks"]))
    app_page = app_page.content.decode()
    assert secret not in app_page and connection.secret_mask in app_page
    # Its own facts: a signing secret, not an OpenAI key's models.
    assert "Signing secret" in app_page and "API key" not in app_page
    assert "available to this key" not in app_page

    # Installing again goes to the app instead.
    again = admin_client.post(reverse("marketplace:webhooks_connect"))
    assert again.status_code == 302 and Connection.objects.filter(app="webhooks").count() == 1


def test_rolling_makes_a_new_secret_shown_once(acme, admin_client, installed):
    before = Connection.objects.get(account=acme, app="webhooks")
    assert (
        "Roll the signing secret"
        in admin_client.get(reverse("marketplace:webhooks_roll")).content.decode()
    )
    secret = shown_secret(admin_client.post(reverse("marketplace:webhooks_roll")).content.decode())
    after = Connection.objects.get(pk=before.pk)
    assert secret != installed and after.secret() == secret
    assert after.secret_fingerprint != before.secret_fingerprint
    assert [e.event for e in AppLogEntry.objects.filter(connection=after)] == [
        "reconnected",
        "installed",
    ]


def test_only_super_admins_install_or_roll(acme, builder_client, installed):
    assert builder_client.post(reverse("marketplace:webhooks_connect")).status_code == 403
    assert builder_client.post(reverse("marketplace:webhooks_roll")).status_code == 403
    assert builder_client.get(reverse("marketplace:webhooks_signatures")).status_code == 403


def test_the_builder_offers_to_install_the_app_from_the_step(acme, builder_client):
    from workflows.models import Workflow

    workflow = Workflow.objects.create(
        account=acme,
        object_type="contact",
        name="Draft",
        graph={"start": 1, "steps": {"1": send_step("https://example.com/")}},
    )
    panel = builder_client.get(reverse("workflows:step", args=[workflow.pk, 1])).content.decode()
    assert "The Webhooks app is not installed in this account." in panel
    assert "/marketplace/webhooks/connect/?next=" in panel
    adding = builder_client.get(reverse("workflows:add", args=[workflow.pk])).content.decode()
    assert "Send a webhook" in adding and "Webhooks" in adding


def test_uninstalling_lists_the_workflows_that_use_it(acme, admin_client, installed):
    webhook_workflow(acme, {"start": 1, "steps": {"1": send_step("https://example.com/")}})
    ask = {"type": "ask_openai_assistant", "config": {"prompt": "Hi"}, "next": None}
    Workflow.objects.create(
        account=acme,
        object_type="contact",
        name="Ask only",
        graph={"start": 1, "steps": {"1": ask}},
    )
    dialog = admin_client.get(reverse("marketplace:app_uninstall", args=["webhooks"]))
    assert "Inbound" in dialog.content.decode()
    # Only workflows that use webhooks: an Ask-only workflow is OpenAI's concern.
    assert "Ask only" not in dialog.content.decode()
