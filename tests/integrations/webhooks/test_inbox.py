"""The inbox of "Webhook received" on real Celery workers: the URL only fills the inbox;
a worker ingests it in batches (a debounced message, and the periodic sweep); every
accepted request is ingested once, even when the worker is killed mid-ingest."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import Client

from crm.models import Record, Task
from marketplace.integrations.webhooks.models import InboundRequest
from tests.celery_worker import wait_for
from tests.integrations.webhooks.conftest import task_step, webhook_workflow
from workflows.models import Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROBE = "tests.integrations.webhooks.ingest_probe"
WORKER_ENV = {"WORKFLOWS_SWEEP_SECONDS": "1", "WORKFLOWS_RESEND_AFTER_SECONDS": "2"}


def post_all(path: str, emails: list[str]) -> list[int]:
    client = Client()
    ids = []
    for n, email in enumerate(emails):
        response = client.post(
            path, {"email": email, "first_name": f"N{n}"}, content_type="application/json"
        )
        assert response.status_code == 202, response.content
        ids.append(response.json()["request_id"])
    return ids


def test_requests_go_through_the_inbox_and_enroll_once_each(acme, installed, celery_worker):
    workflow, endpoint = webhook_workflow(acme, {"start": 1, "steps": {"1": task_step("Call")}})
    worker = celery_worker(env=WORKER_ENV)  # no beat: the debounced messages alone
    emails = [f"p{n}@example.com" for n in range(40)]
    # The same people again (any case): found, updated, not enrolled twice.
    emails += [f"P{n}@Example.com" for n in range(0, 40, 4)]
    ids = post_all(endpoint.path(), emails)
    assert len(set(ids)) == len(emails)

    wait_for(
        lambda: (
            Task.objects.filter(account=acme).count() >= 40 and not InboundRequest.objects.exists()
        ),
        timeout=90,
        message=f"40 tasks and an empty inbox; worker log:\n{worker.log()[-3000:]}",
    )
    assert Record.objects.filter(account=acme).count() == 40
    per_record = Counter(
        Enrollment.objects.filter(workflow=workflow).values_list("record", flat=True)
    )
    assert len(per_record) == 40 and set(per_record.values()) == {1}
    tasks = Counter(Task.records.through.objects.values_list("record_id", flat=True))
    assert set(tasks.values()) == {1} and len(tasks) == 40
    # The later request's value won: first names of the repeated people were rewritten.
    assert Record.objects.get(email="p0@example.com").properties["first_name"] == "N40"


def test_a_worker_killed_mid_ingest_loses_nothing(acme, installed, celery_worker, tmp_path):
    workflow, endpoint = webhook_workflow(acme, {"start": 1, "steps": {"1": task_step("Call")}})
    hold = tmp_path / "hold"
    hold.touch()
    # Posted before the worker starts: SQLite has one writer, and the held ingest is it.
    post_all(endpoint.path(), [f"k{n}@example.com" for n in range(25)])
    first = celery_worker(
        beat=True, include=[PROBE], env={**WORKER_ENV, "INGEST_PROBE_HOLD": str(hold)}
    )
    wait_for(
        lambda: (tmp_path / "hold.inside").exists(),
        timeout=60,
        message=f"an ingest to start; worker log:\n{first.log()[-3000:]}",
    )
    first.kill()  # inside the ingest's transaction: records written, nothing enrolled
    hold.unlink()
    # Rolled back, deletion included: the requests are still in the inbox.
    wait_for(lambda: InboundRequest.objects.count() == 25, timeout=30, message="the rollback")
    assert not Record.objects.filter(account=acme).exists()

    second = celery_worker(beat=True, env=WORKER_ENV)  # no message left: the sweep finds them
    wait_for(
        lambda: (
            Task.objects.filter(account=acme).count() >= 25 and not InboundRequest.objects.exists()
        ),
        timeout=90,
        message=f"the sweep to ingest the inbox; worker log:\n{second.log()[-3000:]}",
    )
    assert Record.objects.filter(account=acme).count() == 25
    per_record = Counter(
        Enrollment.objects.filter(workflow=workflow).values_list("record", flat=True)
    )
    assert len(per_record) == 25 and set(per_record.values()) == {1}
    assert Task.objects.filter(account=acme).count() == 25
