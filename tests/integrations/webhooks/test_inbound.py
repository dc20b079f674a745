"""The "Webhook received" trigger: the public URL through Django's test client, and its
settings in the builder's trigger panel."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Record, TimelineEvent
from marketplace.integrations.webhooks.inbox import inbox_ingest
from marketplace.integrations.webhooks.models import InboundRequest, WebhookEndpoint
from tests.integrations.webhooks.conftest import contact, task_step, webhook_workflow
from workflows import services
from workflows.builder.review import review_problems
from workflows.models import Enrollment


@pytest.fixture
def hook(acme, installed):
    """A live workflow on "Webhook received" (email finds the record), and its URL."""
    workflow, endpoint = webhook_workflow(acme, {"start": 1, "steps": {"1": task_step("Call")}})
    return workflow, endpoint.path()


def post(path: str, body, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post(path, data=data, content_type="application/json", **extra)


def accepted(response) -> int:
    """A 202 from the URL: the request is in the inbox, not yet ingested."""
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] is True and InboundRequest.objects.filter(pk=body["request_id"])
    return body["request_id"]


def test_it_creates_the_record_then_finds_it_by_the_match_property_and_enrolls(acme, hook):
    workflow, path = hook
    accepted(post(path, {"email": "Ann@Example.com", "first_name": "Ann", "other": 1}))
    assert not Record.objects.exists()  # the URL only fills the inbox
    assert inbox_ingest() == 1
    assert not InboundRequest.objects.exists()
    record = Record.objects.get(account=acme, email="ann@example.com")
    assert record.properties["first_name"] == "Ann"
    assert Enrollment.objects.get(workflow=workflow).record == record
    created = TimelineEvent.objects.get(record=record, kind=TimelineEvent.Kind.CREATED)
    assert created.source == "webhook"

    # Found again by email (case does not matter): updated, not enrolled twice.
    accepted(post(path, {"email": "ANN@example.com", "first_name": "Annie"}))
    assert inbox_ingest() == 1
    assert Enrollment.objects.get(workflow=workflow).record == record
    record.refresh_from_db()
    assert record.properties["first_name"] == "Annie"
    assert Record.objects.filter(account=acme).count() == 1
    endpoint = WebhookEndpoint.objects.get(workflow=workflow)
    assert endpoint.last_status == 202 and "did not enroll" in endpoint.last_message


def test_an_existing_record_enrolls_and_fields_inside_objects_can_be_mapped(acme, installed):
    bea = contact(acme, first_name="Bea", email="bea@example.com")
    workflow, endpoint = webhook_workflow(
        acme,
        {"start": 1, "steps": {"1": task_step("Call")}},
        mapping=[
            {"field": "data.customer.email", "property": "email"},
            {"field": "data.customer.city", "property": "city"},
        ],
    )
    accepted(
        post(endpoint.path(), {"data": {"customer": {"email": "bea@example.com", "city": "Lyon"}}})
    )
    inbox_ingest()
    assert Enrollment.objects.get(workflow=workflow).record == bea
    bea.refresh_from_db()
    assert bea.properties["city"] == "Lyon"


def test_a_record_that_does_not_meet_the_criteria_is_written_but_not_enrolled(acme, installed):
    workflow, endpoint = webhook_workflow(
        acme,
        {"start": 1, "steps": {"1": task_step("Call")}},
        criteria=[[{"property": "first_name", "operator": "eq_any", "values": ["VIP"]}]],
    )
    accepted(post(endpoint.path(), {"email": "cy@example.com", "first_name": "Cy"}))
    inbox_ingest()
    assert Record.objects.filter(email="cy@example.com").exists()
    assert not Enrollment.objects.exists()


def test_a_wrong_secret_is_401_and_an_unknown_url_404(acme, hook):
    workflow, path = hook
    endpoint = WebhookEndpoint.objects.get(workflow=workflow)
    wrong = reverse("marketplace:webhooks_receive", args=[endpoint.public_id, "guessed"])
    response = post(wrong, {"email": "ann@example.com"})
    assert response.status_code == 401 and "secret is wrong" in response.json()["error"]
    unknown = reverse("marketplace:webhooks_receive", args=["nope", endpoint.token()])
    assert post(unknown, {"email": "ann@example.com"}).status_code == 404
    assert Client().get(path).status_code == 405
    assert not InboundRequest.objects.exists()


def test_a_body_over_1_mb_is_refused_before_it_is_read(acme, hook):
    _workflow, path = hook
    big = json.dumps({"email": "ann@example.com", "pad": "x" * (1024 * 1024)})
    response = post(path, big)
    assert response.status_code == 413 and "1 MB" in response.json()["error"]
    assert not InboundRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"email": "ann@example.com",', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"first_name": "Ann"}, "no value for “email”"),
        ({"email": {"a": 1}}, "“email” is an object or a list"),
        ({"email": "not an email", "first_name": "Ann"}, "email: “not an email” is not a valid"),
    ],
)
def test_a_body_that_cannot_make_a_record_is_400_with_a_message_and_writes_nothing(
    acme, hook, body, message
):
    _workflow, path = hook
    response = post(path, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not InboundRequest.objects.exists()


def test_a_refused_value_rolls_back_the_whole_request(acme, installed):
    workflow, endpoint = webhook_workflow(
        acme,
        {"start": 1, "steps": {"1": task_step("Call")}},
        mapping=[
            {"field": "email", "property": "email"},
            {"field": "stage", "property": "lead_status"},
        ],
    )
    response = post(endpoint.path(), {"email": "new@example.com", "stage": "sleepy"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("stage: “sleepy” is not an option of")
    assert not InboundRequest.objects.exists()


def test_a_workflow_that_is_off_answers_409_with_a_message(acme, hook):
    workflow, path = hook
    services.workflow_turn_off(workflow=workflow)
    response = post(path, {"email": "ann@example.com"})
    assert response.status_code == 409
    assert "is off" in response.json()["error"]
    assert not InboundRequest.objects.exists()


def test_a_workflow_no_longer_on_a_webhook_or_without_the_app_answers_409(acme, hook, admin_user):
    from marketplace.models import Connection
    from marketplace.services import connection_uninstall

    workflow, path = hook
    connection_uninstall(
        connection=Connection.objects.get(account=acme, app="webhooks"), actor=admin_user
    )
    assert "not installed" in post(path, {"email": "a@example.com"}).json()["error"]
    workflow.trigger = ""
    workflow.save(update_fields=["trigger"])
    assert post(path, {"email": "a@example.com"}).status_code == 409


# --- The trigger panel ------------------------------------------------------------


def test_the_trigger_panel_shows_the_url_and_saves_the_mapping(acme, installed, builder_client):
    workflow, endpoint = webhook_workflow(
        acme, {"start": 1, "steps": {"1": task_step("Call")}}, mapping=[], match="", on=False
    )
    page = builder_client.get(reverse("workflows:criteria", args=[workflow.pk])).content.decode()
    assert "http://testserver" + endpoint.path() in page
    assert "Generate a new URL" in page and "Map JSON fields to properties" in page

    action = reverse("marketplace:webhooks_trigger", args=[workflow.pk])
    rows = {"wh-rows": "2", "wh-field-0": "mail", "wh-property-0": "email"}
    rows |= {"wh-field-1": "name", "wh-property-1": "first_name", "wh-match": "0"}
    response = builder_client.post(action, {**rows, "_add": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'name="wh-field-2"' in response.content.decode()  # the new blank row
    endpoint.refresh_from_db()
    assert endpoint.mapping == [
        {"field": "mail", "property": "email"},
        {"field": "name", "property": "first_name"},
    ]
    assert endpoint.match_property == "email"

    response = builder_client.post(action, {**rows, "_remove": "0"})
    endpoint.refresh_from_db()
    assert endpoint.mapping == [{"field": "name", "property": "first_name"}]
    assert endpoint.match_property == "first_name"  # the first row, when none is chosen

    bad = builder_client.post(action, {**rows, "wh-field-0": "a b", "_save": "1"})
    assert "a JSON field is a name" in bad.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.mapping == [{"field": "name", "property": "first_name"}]  # unchanged


def test_generating_a_new_url_retires_the_old_one(acme, hook, builder_client):
    workflow, old = hook
    builder_client.post(
        reverse("marketplace:webhooks_trigger", args=[workflow.pk]), {"_new_url": "1"}
    )
    new = WebhookEndpoint.objects.get(workflow=workflow).path()
    assert new != old
    assert post(old, {"email": "ann@example.com"}).status_code == 404
    assert post(new, {"email": "ann@example.com"}).status_code == 202


def test_only_editors_of_the_account_see_or_change_the_url(acme, hook, rep_client, globex_client):
    workflow, path = hook
    page = rep_client.get(reverse("workflows:criteria", args=[workflow.pk])).content.decode()
    assert path not in page and "Only workflow builders and super admins" in page
    action = reverse("marketplace:webhooks_trigger", args=[workflow.pk])
    assert rep_client.post(action, {"_new_url": "1"}).status_code == 403
    assert globex_client.post(action, {"_new_url": "1"}).status_code == 404
    assert WebhookEndpoint.objects.get(workflow=workflow).path() == path


def test_review_asks_for_a_mapping_and_the_app(acme, builder_user):
    workflow, _endpoint = webhook_workflow(
        acme, {"start": 1, "steps": {"1": task_step("Call")}}, mapping=[], match="", on=False
    )
    from crm.services import definitions_for

    messages = [
        p.message for p in review_problems(workflow, definitions=definitions_for(acme, "contact"))
    ]
    assert any("not installed" in m for m in messages)
    assert any("Map at least one field" in m for m in messages)


def test_it_speaks_french_from_its_own_catalogue(acme, hook):
    from django.utils import translation

    from workflows import registry

    workflow, path = hook
    with translation.override("fr"):
        assert str(registry.trigger_type("webhook_received").label) == "Webhook reçu"
        assert str(registry.get("send_webhook").label) == "Envoyer un webhook"
    services.workflow_turn_off(workflow=workflow)
    response = post(path, {"email": "ann@example.com"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"] == (
        "Le workflow «\u00a0Inbound\u00a0» est désactivé\u00a0: activez-le pour accepter des requêtes."
    )
