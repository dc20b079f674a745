"""The "Send email" action against a real SMTP server (aiosmtpd on 127.0.0.1): what
arrives, once; the unsubscribe link; refusals and empty addresses fail the step with
the reason; the HTML version is sanitized."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from crm import services as crm
from crm.models import ObjectType
from marketplace.integrations.email.delivery import Delivery, deliveries_send
from marketplace.integrations.email.message import Outgoing, message_id
from tests.smtp_server import free_port
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows import services
from workflows.engine import ledger, runner
from workflows.models import ActionExecution, EmailDelivery, Enrollment

pytestmark = pytest.mark.django_db


def email_step(**config):
    return {
        "type": "email_contact",
        "config": {
            "to": "record",
            "sender": "shared",
            "subject": "Hello {{ object.first_name }}",
            "body": "Dear {{ object.first_name }},\n\n{{ actions.1.response }}",
            **config,
        },
    }


def draft_step(text="Here is our proposal."):
    return {"type": "test_probe", "config": {"response": text}}


@pytest.fixture
def smtp(smtp_server, settings):
    smtp_server.use(settings)
    settings.SITE_URL = "http://crm.example.com"
    settings.DEFAULT_FROM_EMAIL = "Acme <sales@acme.example>"
    return smtp_server


def test_the_email_arrives_once_with_its_headers(acme, admin_user, smtp):
    admin_user.email = "owner@acme.example"
    admin_user.save()
    make_workflow(acme, chain(draft_step(), email_step()))
    ann = contact(acme, first_name="Ann", email="ann@example.com", owner=admin_user.pk)

    drain()

    smtp.wait(1)
    [message] = smtp.messages
    execution = ActionExecution.objects.get(action_type="email_contact")
    assert execution.status == "succeeded"
    assert execution.outputs["result"] == "sent"
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Acme <sales@acme.example>"
    assert message["Reply-To"] == "owner@acme.example"
    assert message["Subject"] == "Hello Ann"
    assert message["Message-ID"] == f"<crmflow.exec.{execution.pk}@acme.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "Dear Ann,\n\nHere is our proposal." in text
    assert "<p>Dear Ann,</p>" in html and "Here is our proposal." in html
    assert "http://crm.example.com/email/unsubscribe/" in text

    # As if the worker had died after the server's answer, before committing the step:
    # the execution runs again, finds the stamped marker and sends nothing more.
    Enrollment.objects.update(status="active", finished_at=None)
    ActionExecution.objects.filter(pk=execution.pk).update(
        status="running", lease_expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    ledger.leases_recover(timezone.now())
    drain()
    assert ActionExecution.objects.get(pk=execution.pk).status == "succeeded"
    assert len(smtp.messages) == 1
    assert EmailDelivery.objects.get(execution=execution).recipient == ann.properties["email"]


def test_the_unsubscribe_link_sets_the_property_and_later_emails_are_skipped(acme, smtp):
    make_workflow(acme, chain(draft_step(), email_step()))
    ann = contact(acme, first_name="Ann", email="ann@example.com")
    drain()
    smtp.wait(1)
    text = smtp.messages[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
    url = re.search(r"http://crm\.example\.com(/email/unsubscribe/\S+/)", text)[1]
    assert str(smtp.messages[0]["List-Unsubscribe"]).strip() == f"<http://crm.example.com{url}>"

    anonymous = Client()
    page = anonymous.get(url)
    assert page.status_code == 200 and b"Unsubscribe" in page.content
    ann.refresh_from_db()
    assert "unsubscribed_from_email" not in ann.properties  # a GET changes nothing
    done = anonymous.post(url)
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    ann.refresh_from_db()
    assert ann.properties["unsubscribed_from_email"] is True

    # The next workflow emailing the contact skips them, and says so on the step.
    workflow = make_workflow(acme, chain(draft_step(), email_step()))
    services.enrollment_create(workflow=workflow, record=ann)
    drain()
    skipped = ActionExecution.objects.get(action_type="email_contact", workflow=workflow)
    assert skipped.status == "succeeded"
    assert skipped.outputs["result"] == "skipped: unsubscribed"
    assert len(smtp.messages) == 1


def test_a_forged_unsubscribe_link_is_a_clear_404(acme):
    page = Client().get("/email/unsubscribe/forged:token/")
    assert page.status_code == 404
    assert b"This unsubscribe link does not work" in page.content


def test_a_refused_recipient_fails_the_step_with_the_servers_reply(acme, smtp):
    make_workflow(acme, chain(draft_step(), email_step()))
    contact(acme, first_name="Bob", email="refuse-bob@example.com")
    drain()
    execution = ActionExecution.objects.get(action_type="email_contact")
    assert execution.status == "failed"
    assert "550" in execution.error and "User unknown" in execution.error
    assert smtp.messages == []


def test_an_empty_email_address_fails_the_step_with_the_reason(acme, smtp):
    make_workflow(acme, chain(draft_step(), email_step()))
    contact(acme, first_name="Carl", email="")
    drain()
    execution = ActionExecution.objects.get(action_type="email_contact")
    assert execution.status == "failed"
    assert "has no email address" in execution.error


def test_a_deal_emails_its_associated_contact(acme, smtp):
    deal = crm.record_create(account=acme, object_type=ObjectType.DEAL, values={"name": "Big deal"})
    ann = contact(acme, first_name="Ann", email="ann@example.com")
    crm.association_create(record=deal, other=ann)
    workflow = services.workflow_create(
        account=acme,
        object_type=ObjectType.DEAL,
        name="Deal email",
        graph=chain(
            draft_step(),
            email_step(
                to="associated",
                subject="About {{ object.name }}",
                body="Hi {{ associated.contact.first_name }}",
            ),
        ),
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    services.enrollment_create(workflow=workflow, record=deal)
    drain()
    smtp.wait(1)
    [message] = smtp.messages
    assert message["To"] == "ann@example.com" and message["Subject"] == "About Big deal"


def test_the_html_version_is_sanitized_and_tokens_in_it_are_escaped(acme, smtp):
    make_workflow(
        acme,
        chain(
            draft_step(),
            email_step(
                html_body='<p onclick="x()">Hi <b>{{ object.first_name }}</b></p>'
                "<script>alert(1)</script><img src=x>",
            ),
        ),
    )
    contact(acme, first_name="<i>Eve</i>", email="eve@example.com")
    drain()
    smtp.wait(1)
    html = smtp.messages[0].get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "<p>Hi <b>&lt;i&gt;Eve&lt;/i&gt;</b></p>" in html
    assert "script" not in html and "onclick" not in html and "<img" not in html


def test_a_batch_goes_over_one_connection_and_a_refusal_fails_only_its_own_step(acme, smtp):
    workflow = make_workflow(acme, chain(email_step(body="Dear {{ object.first_name }}")))
    for name in ("Ann", "refuse-bob", "Cleo"):
        contact(acme, first_name=name, email=f"{name.lower()}@example.com")
    ids = list(ActionExecution.objects.filter(workflow=workflow).values_list("pk", flat=True))

    results = runner.executions_run(execution_ids=ids, queue="default")

    assert sorted(results.values()) == ["completed", "completed", "failed"]
    smtp.wait(2)
    assert [m["To"] for m in smtp.messages] == ["ann@example.com", "cleo@example.com"]
    assert len(set(smtp.handler.peers)) == 1  # one SMTP connection for the batch
    refused = ActionExecution.objects.get(status="failed")
    assert "550" in refused.error and "User unknown" in refused.error
    # Each sent email is stamped on its own marker; the refused one has none (a replay
    # may send it once the address is fixed).
    assert set(EmailDelivery.objects.values_list("recipient", flat=True)) == {
        "ann@example.com",
        "cleo@example.com",
    }
    assert not EmailDelivery.objects.filter(sent_at=None).exists()


def test_an_unreachable_server_retries_the_whole_batch_and_sends_nothing(acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    workflow = make_workflow(acme, chain(email_step(body="Hello")))
    for name in ("Ann", "Bob"):
        contact(acme, first_name=name)
    ids = list(ActionExecution.objects.filter(workflow=workflow).values_list("pk", flat=True))

    results = runner.executions_run(execution_ids=ids, queue="default")

    assert list(results.values()) == ["retry", "retry"]
    retried = ActionExecution.objects.filter(pk__in=ids)
    assert {e.status for e in retried} == {"pending"}
    assert all("could not be reached" in e.error for e in retried)
    assert not EmailDelivery.objects.exists()  # nothing accepted: a retry sends them


def test_a_marker_found_when_taking_it_is_not_sent_again_and_the_email_before_stays_stamped(
    acme, smtp
):
    """A batch finding an email's marker as it takes it (a worker that lost its lease
    took it meanwhile; here: the same execution twice in one batch) does not send it
    again, and the email sent just before keeps its stamp (it was to commit with that
    marker)."""
    make_workflow(acme, chain(email_step(body="Hello")))
    contact(acme, first_name="Ann", email="ann@example.com")
    execution = ActionExecution.objects.get(action_type="email_contact")
    outgoing = Outgoing(
        to="ann@example.com",
        from_email="sales@acme.example",
        reply_to="",
        subject="Hello",
        text="Hello",
        html="",
        unsubscribe_url="http://crm.example.com/unsubscribe/",
        message_id=message_id(execution.pk),
    )
    delivery = Delivery(execution.pk, acme.pk, outgoing)

    results = deliveries_send([delivery, delivery])

    assert [r["result"] for r in results] == ["sent", "sent"]
    smtp.wait(1)
    assert [m["To"] for m in smtp.messages] == ["ann@example.com"]
    assert EmailDelivery.objects.get().sent_at is not None
