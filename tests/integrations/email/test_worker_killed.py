"""At most once per execution, on real workers: a worker SIGKILLed after the mail
server received the email but before the step committed never makes a second copy;
the step fails saying the email may have gone out (docs/email.md)."""

from __future__ import annotations

import pytest

from tests.celery_worker import wait_for
from tests.workflows.conftest import chain, contact, make_workflow
from workflows.models import ActionExecution, EmailDelivery

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_around_the_send_never_sends_twice(acme, smtp_server, celery_worker):
    env = {
        "EMAIL_URL": smtp_server.url,
        "SITE_URL": "http://crm.example.com",
        "WORKFLOWS_LEASE_SECONDS": "3",
        "WORKFLOWS_SWEEP_SECONDS": "1",
        "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    }
    smtp_server.handler.hold_seconds = 20  # the server has the email; the worker waits for "250"
    make_workflow(
        acme,
        chain(
            {"type": "test_probe", "config": {"response": "Our offer"}},
            {
                "type": "email_contact",
                "config": {
                    "to": "record",
                    "sender": "shared",
                    "subject": "Hi",
                    "body": "{{ actions.1.response }}",
                },
            },
        ),
    )
    first = celery_worker(beat=True, include=["tests.workflows.probe_actions"], env=env)
    contact(acme, first_name="Ann", email="ann@example.com")

    assert smtp_server.handler.received.wait(60), first.log()[-3000:]
    first.kill()
    smtp_server.handler.hold_seconds = 0
    marker = EmailDelivery.objects.get()
    assert marker.sent_at is None  # the worker died before hearing the answer

    second = celery_worker(beat=True, include=["tests.workflows.probe_actions"], env=env)
    wait_for(
        lambda: ActionExecution.objects.filter(
            action_type="email_contact", status="failed"
        ).exists(),
        timeout=60,
        message=f"the email step to fail; worker log:\n{second.log()[-3000:]}",
    )
    execution = ActionExecution.objects.get(action_type="email_contact")
    assert "may or may not have been sent" in execution.error
    assert execution.attempt >= 2
    assert len(smtp_server.messages) == 1


def test_a_worker_killed_in_the_middle_of_a_batch_sends_each_email_at_most_once(
    acme, smtp_server, celery_worker
):
    """Three emails in one batch, over one connection; the worker dies while the
    server holds its answer to the second. The first was stamped (not sent again, its
    step succeeds), the second may have left (not sent again, its step fails saying
    so), the third never left (sent by the next worker)."""
    env = {
        "EMAIL_URL": smtp_server.url,
        "SITE_URL": "http://crm.example.com",
        "WORKFLOWS_LEASE_SECONDS": "3",
        "WORKFLOWS_SWEEP_SECONDS": "1",
        "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    }
    smtp_server.handler.hold_seconds, smtp_server.handler.hold_only = 20, 2
    for name in ("Ann", "Bob", "Cleo"):
        contact(acme, first_name=name, email=f"{name.lower()}@example.com")
    # Turning it on enrolls the three at once: their steps share one batch.
    make_workflow(
        acme,
        chain(
            {
                "type": "email_contact",
                "config": {"to": "record", "sender": "shared", "subject": "Hi", "body": "Offer"},
            }
        ),
        enroll_existing=True,
    )
    first = celery_worker(beat=True, env=env)
    wait_for(
        lambda: len(smtp_server.messages) >= 2,
        timeout=60,
        message=f"two emails at the server; worker log:\n{first.log()[-3000:]}",
    )
    first.kill()
    smtp_server.handler.hold_seconds = 0
    assert len(set(smtp_server.handler.peers)) == 1  # one connection for the batch
    markers = dict(EmailDelivery.objects.values_list("recipient", "sent_at"))
    assert markers["ann@example.com"] is not None  # stamped as soon as the server said 250
    assert markers["bob@example.com"] is None  # the worker never heard the answer
    assert "cleo@example.com" not in markers  # not yet handed over

    second = celery_worker(beat=True, env=env)
    wait_for(
        lambda: not ActionExecution.objects.filter(status__in=["pending", "running"]).exists(),
        timeout=60,
        message=f"every email step to settle; worker log:\n{second.log()[-3000:]}",
    )
    by_contact = {
        e.enrollment.record.properties["email"]: e
        for e in ActionExecution.objects.select_related("enrollment__record")
    }
    assert by_contact["ann@example.com"].status == "succeeded"
    assert by_contact["bob@example.com"].status == "failed"
    assert "may or may not have been sent" in by_contact["bob@example.com"].error
    assert by_contact["cleo@example.com"].status == "succeeded"
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "ann@example.com",
        "bob@example.com",
        "cleo@example.com",
    ]
