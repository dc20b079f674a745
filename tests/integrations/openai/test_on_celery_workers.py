"""The action on real Celery workers (tests/celery_worker.py), the simulator behind the
real SDK: both engines end to end, every error class, and the shared rate limiter
keeping a 60-RPM key under its limit with 4 worker processes."""

from __future__ import annotations

import time

import pytest

from crm.models import Account, Task
from marketplace.integrations.openai.models import AssistantUsage
from marketplace.models import Connection
from openai_simulator.config import DEMO_NO_QUOTA_KEY, DEMO_REVOKED_KEY
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.integrations.openai.conftest import (
    FLAKY_KEY,
    LEAD_QUALIFIER,
    SIXTY_KEY,
    SLOW_KEY,
    ask_then_task,
    connect,
    contact,
    make_workflow,
    rater_branch,
    workspace_assistant,
)
from workflows.models import ActionExecution, Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {
    "WORKFLOWS_LEASE_SECONDS": "20",
    "WORKFLOWS_SWEEP_SECONDS": "0.5",
    "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    "WORKFLOWS_BACKOFF_SECONDS": "0.3",
    "OPENAI_ASSISTANT_DEADLINE_SECONDS": "2",
    "OPENAI_TIMEOUT": "5",
}


def worker_env(sim) -> dict[str, str]:
    return {**FAST, "OPENAI_BASE_URL": sim.base_url}


def settled(count: int):
    return lambda: Enrollment.objects.exclude(status="active").count() == count


def test_both_engines_run_end_to_end_on_a_worker(acme, sim, celery_worker):
    connect(acme)
    assistant = workspace_assistant(acme)
    make_workflow(acme, ask_then_task(assistant.choice_value))
    make_workflow(
        acme, ask_then_task(f"acct:{LEAD_QUALIFIER}", prompt="pricing and a demo, urgent")
    )
    celery_worker(beat=True, env=worker_env(sim))
    contact(acme, first_name="Ann", state="california")
    wait_for(settled(2), timeout=60, message="both runs to finish")
    titles = sorted(Task.objects.values_list("title", flat=True))
    assert titles[0] == "Code: CA" and titles[1].startswith("Code: HOT")
    engines = sorted(AssistantUsage.objects.values_list("engine", flat=True))
    assert engines == ["assistants", "responses"]


def test_every_error_class_on_a_worker(sim, celery_worker):
    """One account per key: revoked (401), no quota, 500 twice, 429 twice, a hang."""
    accounts = {}
    for name, key in [
        ("revoked", DEMO_REVOKED_KEY),
        ("no-quota", DEMO_NO_QUOTA_KEY),
        ("flaky", FLAKY_KEY),
        ("slow", SLOW_KEY),
    ]:
        account = Account.objects.create(name=name)
        connect(account, key)
        make_workflow(account, ask_then_task(workspace_assistant(account).choice_value))
        accounts[name] = account
    sim.configure(
        faults=[
            {"path_prefix": "/v1/responses", "key": "flaky", "error_500": 1.0, "times": 2},
            {"path_prefix": "/v1/responses", "key": "slow", "hang": 1.0, "times": 1},
        ]
    )
    celery_worker(beat=True, env=worker_env(sim))
    for account in accounts.values():
        contact(account, first_name="Ann", state="ohio")
    wait_for(settled(4), timeout=90, message="all four runs to finish")

    def step(name):
        return ActionExecution.objects.get(step_id=1, workflow__account=accounts[name])

    assert step("revoked").status == "failed" and "refused the API key" in step("revoked").error
    assert Connection.objects.get(account=accounts["revoked"]).status == "needs_attention"
    assert step("no-quota").status == "failed" and step("no-quota").attempt == 1
    assert "out of quota" in step("no-quota").error
    assert step("flaky").status == "succeeded" and step("flaky").attempt == 3
    assert step("slow").status == "succeeded" and step("slow").attempt == 2
    assert [r["status"] for r in sim.requests(key="flaky")] == [500, 500, 200]
    assert [r["status"] for r in sorted(sim.requests(key="slow"), key=lambda r: r["time"])] == [
        0,
        200,
    ]

    # 429 twice, then success (Retry-After honoured, cool-down on the shared limiter).
    sim.configure(
        faults=[
            {
                "path_prefix": "/v1/responses",
                "key": "flaky",
                "error_429": 1.0,
                "times": 2,
                "retry_after_ms": 200,
            }
        ]
    )
    sim.clear_requests()
    contact(accounts["flaky"], first_name="Bob", state="texas")
    wait_for(settled(5), timeout=60, message="the rate-limited run to finish")
    assert [r["status"] for r in sim.requests(key="flaky")] == [429, 429, 200]
    assert Task.objects.filter(title="Code: TX").exists()


def test_a_60_rpm_key_stays_under_60_requests_in_every_minute_with_4_worker_processes(
    acme, sim, celery_worker
):
    connect(acme, SIXTY_KEY)
    workflow = make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    for i in range(140):
        contact(acme, first_name=f"P{i}", state="ohio")
    celery_worker(beat=True, concurrency=4, env=worker_env(sim))
    # Hammer for a little over a minute from the first request, then count.
    wait_for(lambda: sim.requests(key="sixty"), timeout=60, message="the first request")
    first = sim.requests(key="sixty")[0]["time"]
    wait_for(lambda: time.time() > first + 66, timeout=120, message="66 s of load")
    log = sim.requests(key="sixty")
    # When each request reached the simulator (the log's time is when it answered):
    # that is when OpenAI counts it.
    times = sorted(r["time"] - r["duration_ms"] / 1000 for r in log)
    assert [r for r in log if r["status"] == 429] == []
    assert len(times) > 60, "the limiter should let the 61st request through after a minute"
    for i in range(len(times) - 60):
        assert times[i + 60] - times[i] >= 60, f"requests {i} and {i + 60} within one minute"
    assert (
        ActionExecution.objects.filter(workflow=workflow, step_id=1, status="failed").count() == 0
    )


def test_structured_output_branches_and_the_budget_stops_calls_on_a_worker(
    acme, admin_user, sim, celery_worker
):
    from marketplace.integrations.openai.models import AssistantBudget
    from tests.integrations.openai.conftest import lead_rater

    connection = connect(acme)
    rater = lead_rater(acme)
    make_workflow(acme, rater_branch(rater, hot="Call first: {{ object.first_name }}", other=None))
    # A hard cap: a call reserves ~276 tokens (characters / 4 + 256 for the answer) and
    # spends ~50, so the first fits in 300 and the second does not.
    AssistantBudget.objects.create(
        account=acme, connection=connection, unit="tokens", monthly_limit=300
    )
    celery_worker(beat=True, env=worker_env(sim))
    contact(acme, first_name="Hot", job_title="Need pricing and a quote, budget approved")
    wait_for(settled(1), timeout=60, message="the first run")
    assert Task.objects.get().title == "Call first: Hot"
    contact(acme, first_name="Late", job_title="Need pricing and a quote")
    wait_for(settled(2), timeout=60, message="the run stopped by the budget")
    stopped = ActionExecution.objects.get(
        step_id=1, enrollment__record__properties__first_name="Late"
    )
    assert stopped.status == "failed" and "Monthly AI budget reached" in stopped.error
    assert len(sim.requests(key="demo", path_prefix="/v1/responses")) == 1  # no call made
