"""What Redis holds can be rebuilt from the database (docs/operations.md, "Backups"):
Redis flushed in the middle of a run of OpenAI steps on real workers and beat — the
queued wake-ups, the rate limiter's windows, the heartbeats, the beat lock, the metrics
counters all gone — and every step still runs once, to the end."""

from __future__ import annotations

import os

import pytest
import redis
from django.test import Client

from crm.models import Task
from marketplace.integrations.openai.models import AssistantUsage
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.integrations.openai.conftest import (  # noqa: F401  (sim, simulator_session: fixtures)
    ask_then_task,
    connect,
    contact,
    make_workflow,
    sim,
    simulator_session,
    workspace_assistant,
)
from workflows.models import Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
CONTACTS = 12


def test_flushing_redis_mid_run_loses_and_doubles_nothing(acme, sim, celery_worker, settings):
    connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    sim.configure(latency="uniform:200:4000")  # calls in flight when Redis goes
    env = {
        "OPENAI_BASE_URL": sim.base_url,
        "WORKFLOWS_LEASE_SECONDS": "20",
        "WORKFLOWS_SWEEP_SECONDS": "0.5",
        "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
        "OPENAI_ASSISTANT_DEADLINE_SECONDS": "15",
        "CRMFLOW_BEAT_LOCK_SECONDS": "3",
    }
    celery_worker(beat=True, env=env, concurrency=2)
    for number in range(CONTACTS):
        contact(acme, first_name=f"C{number}", state="california")
    wait_for(lambda: AssistantUsage.objects.exists(), timeout=60, message="the first answer")
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    assert Enrollment.objects.filter(status="completed").count() < CONTACTS  # mid-run

    wait_for(
        lambda: Enrollment.objects.filter(status="completed").count() == CONTACTS,
        timeout=120,
        message="every enrollment to complete after the flush",
    )
    assert AssistantUsage.objects.count() == CONTACTS
    assert Task.objects.filter(title="Code: CA").count() == CONTACTS
    assert len(sim.requests(key="demo")) == CONTACTS  # no call made twice
    settings.METRICS_TOKEN = "t"
    scrape = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer t")
    assert scrape.status_code == 200 and b"crmflow_redis_up 1.0" in scrape.content
