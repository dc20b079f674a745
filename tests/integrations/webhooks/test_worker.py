"""End to end on a real Celery worker: a JSON request to a workflow's URL creates the
contact and enrolls it; the worker runs its "Send a webhook" step, which reaches the
local receiver signed, with the contact's data in its body."""

from __future__ import annotations

import pytest
from django.test import Client

from marketplace.integrations.webhooks.signing import signature_verify
from tests.celery_worker import wait_for
from tests.integrations.webhooks.conftest import LOCAL, chain, send_step, webhook_workflow
from workflows.models import ActionExecution

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": LOCAL,
    "WORKFLOWS_SWEEP_SECONDS": "1",
    "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    "WORKFLOWS_BACKOFF_SECONDS": "0.3",
}


def test_webhook_received_then_send_a_webhook_on_a_worker(
    acme, installed, receiver, local_allowed, celery_worker
):
    receiver.reply(503, "warming up")  # the worker retries it with the ledger's backoff
    _workflow, endpoint = webhook_workflow(
        acme,
        chain(
            send_step(
                receiver.url("/crm-events"),
                body='{"event": "signup", "email": "{{ object.email }}", '
                '"hello": "Hi {{ object.first_name }}"}',
            )
        ),
    )
    worker = celery_worker(beat=True, env=WORKER_ENV)

    response = Client().post(
        endpoint.path(),
        {"email": "ann@example.com", "first_name": "Ann"},
        content_type="application/json",
    )
    assert response.status_code == 202 and response.json()["accepted"] is True

    wait_for(
        lambda: ActionExecution.objects.filter(status="succeeded").exists(),
        timeout=60,
        message=f"the webhook step to succeed; worker log:\n{worker.log()[-3000:]}",
    )
    assert [r.path for r in receiver.requests] == ["/crm-events", "/crm-events"]
    sent = receiver.requests[-1]
    assert sent.json() == {"event": "signup", "email": "ann@example.com", "hello": "Hi Ann"}
    assert signature_verify(installed, sent.body, sent.headers["x-crmflow-signature"])
    execution = ActionExecution.objects.get()
    assert execution.attempt == 2
    assert sent.headers["x-crmflow-delivery"] == f"exec:{execution.pk}"
