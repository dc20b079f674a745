"""/healthz, /readyz and /metrics (ops/views.py, ops/metrics.py and the OpenAI
package's families): no login for the probes, the bearer token for the metrics, and
figures that follow the work as the ledger runs it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import redis
from django.test import Client
from django.utils import timezone

from config.embedded_redis import free_port
from tests.integrations.openai.conftest import (  # noqa: F401  (sim, simulator_session: fixtures)
    DEMO_REVOKED_KEY,
    ask_then_task,
    connect,
    settle,
    sim,
    simulator_session,
    workspace_assistant,
)
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.engine import health, ledger, sweeper
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
        client.delete(health.METRICS_KEY)
    return TOKEN


def scrape(client: Client | None = None) -> dict[str, float]:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    figures = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            figures[name] = float(value)
    return figures


def test_the_probes_answer_without_login_and_without_detail():
    client = Client()
    health_response = client.get("/healthz")
    assert health_response.status_code == 200 and health_response.content == b"ok\n"
    ready_response = client.get("/readyz")
    assert ready_response.status_code == 200 and ready_response.content == b"ok\n"


def test_the_probes_answer_a_load_balancer_over_http_by_address(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client(HTTP_HOST="10.0.0.7:8000")  # not in ALLOWED_HOSTS
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/").status_code == 400  # everything else keeps both checks


def test_readyz_says_not_ready_when_redis_does_not_answer(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.content == b"not ready\n"  # no detail for whoever asks
    assert Client().get("/healthz").status_code == 200


def test_metrics_do_not_exist_without_a_token_and_refuse_a_wrong_one(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_a_logged_in_user_does_not_get_the_metrics_without_the_token(admin_client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert admin_client.get("/metrics").status_code == 401


def test_ledger_figures_follow_the_work(acme, metrics_token, settings):
    before = scrape()
    assert before['crmflow_executions{status="pending"}'] == 0
    assert before['crmflow_executions{status="waiting"}'] == 0  # approval waits
    assert before["crmflow_redis_up"] == 1
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "Call"}}))
    contact(acme, first_name="Ann")
    contact(acme, first_name="Bob")
    ActionExecution.objects.update(due_at=timezone.now() - dt.timedelta(seconds=90))

    waiting = scrape()
    assert waiting['crmflow_executions{status="pending"}'] == 2
    assert waiting["crmflow_oldest_due_pending_age_seconds"] >= 90

    drain()
    done = scrape()
    assert done['crmflow_executions{status="pending"}'] == 0
    assert done['crmflow_executions{status="succeeded"}'] == 2
    assert done["crmflow_oldest_due_pending_age_seconds"] == 0


def test_sweeper_runs_and_recovered_leases_are_counted(acme, metrics_token, settings):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "Call"}}))
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    assert ledger.executions_claim_many(execution_ids=[execution.pk]) == [execution.pk]
    ActionExecution.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert scrape()["crmflow_leases_recovered_total"] == 0

    sweeper.executions_sweep()
    figures = scrape()
    assert figures["crmflow_sweeps_total"] == 1
    assert figures["crmflow_leases_recovered_total"] == 1
    assert 0 <= figures["crmflow_sweeper_lag_seconds"] < 60  # not a speed target
    assert figures['crmflow_queue_depth{queue="default"}'] >= 0


def test_openai_calls_tokens_cost_and_limiter_share_are_reported(acme, globex, sim, metrics_token):
    connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="california")
    connect(globex, DEMO_REVOKED_KEY)
    make_workflow(globex, ask_then_task(workspace_assistant(globex).choice_value))
    contact(globex, first_name="Eve", state="texas")
    settle()

    figures = scrape()
    assert figures['crmflow_openai_requests_total{outcome="ok"}'] == 1
    assert figures['crmflow_openai_requests_total{outcome="auth"}'] == 1
    # Two calls observed in the latency histogram (counts, not durations).
    assert (
        figures['crmflow_openai_request_duration_seconds_bucket{le="+Inf"}'] == 2
    )  # not a speed target
    assert figures["crmflow_openai_request_duration_seconds_sum"] > 0  # not a speed target
    assert figures['crmflow_openai_tokens_total{kind="input",model="gpt-4o-mini"}'] > 0
    assert figures['crmflow_openai_cost_usd_total{model="gpt-4o-mini"}'] > 0
    shares = {k: v for k, v in figures.items() if k.startswith("crmflow_openai_limiter_share")}
    assert shares and all(0 < v <= 1 for k, v in shares.items() if 'limit="requests"' in k)
    assert not any(re.search(r"sk-", k) for k in shares)  # fingerprints, never keys
