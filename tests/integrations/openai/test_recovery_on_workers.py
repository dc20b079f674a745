"""Ask OpenAI assistant steps through worker trouble (issue 27), the simulator behind
the real SDK: a step OpenAI rate-limits 20 times in a row still succeeds (retries are
bounded by time, not a count), and a worker stopped with SIGTERM while its calls are
in flight hands them back at once instead of holding them for a lease."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db import transaction

from crm.models import Task
from marketplace.integrations.openai.models import AssistantUsage
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    contact,
    make_workflow,
    workspace_assistant,
)
from workflows.models import ActionExecution, Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {
    "WORKFLOWS_LEASE_SECONDS": "10",
    "WORKFLOWS_HEARTBEAT_SECONDS": "1",
    "WORKFLOWS_SHUTDOWN_GRACE_SECONDS": "1",
    "WORKFLOWS_SWEEP_SECONDS": "0.5",
    "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    "WORKFLOWS_BACKOFF_SECONDS": "0.3",
    "OPENAI_TIMEOUT": "40",
}


def worker_env(sim, **extra: str) -> dict[str, str]:
    return {**FAST, "OPENAI_BASE_URL": sim.base_url, **extra}


def test_twenty_429s_in_a_row_end_in_success(acme, sim, celery_worker):
    connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    sim.configure(
        faults=[
            {"path_prefix": "/v1/responses", "error_429": 1.0, "times": 20, "retry_after_ms": 100}
        ]
    )
    celery_worker(beat=True, env=worker_env(sim, OPENAI_ASSISTANT_DEADLINE_SECONDS="5"))
    contact(acme, first_name="Ann", state="ohio")
    wait_for(
        lambda: Enrollment.objects.exclude(status="active").exists(),
        timeout=120,
        message="the rate-limited run to finish",
    )
    step = ActionExecution.objects.get(step_id=1)
    assert step.status == "succeeded", step.error
    assert [r["status"] for r in sorted(sim.requests(key="demo"), key=lambda r: r["time"])] == [
        *[429] * 20,
        200,
    ]
    assert step.attempt == 21
    assert {a["kind"] for a in step.attempts} == {"rate_limit"}  # shown as rate limits
    assert Task.objects.get().title == "Code: OH"


def test_a_worker_stopped_mid_call_hands_its_steps_back_and_nothing_is_done_twice(
    acme, sim, celery_worker
):
    connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    stopping = celery_worker(
        env=worker_env(sim, OPENAI_ASSISTANT_DEADLINE_SECONDS="35"), concurrency=1
    )
    contact(acme, first_name="Warm", state="iowa")  # the process loads the SDK first
    wait_for(
        lambda: Enrollment.objects.filter(status="completed").count() == 1,
        timeout=60,
        message="the warm-up run",
    )
    sim.configure(latency="fixed:30000")  # calls far longer than the lease
    with transaction.atomic():  # due together: one batch
        for name, state in (("Ann", "ohio"), ("Bob", "texas"), ("Cy", "utah")):
            contact(acme, first_name=name, state=state)
    wait_for(
        lambda: ActionExecution.objects.filter(step_id=1, status="running").count() == 3,
        timeout=30,
        message="the three calls to start",
    )
    time.sleep(1)  # the calls are in flight (30 s each)
    asked_at = time.monotonic()
    os.kill(stopping.process.pid, signal.SIGTERM)
    stopping.process.wait(timeout=10 + 5)  # not a speed target
    # Handed back, not left to expire: pending again, the attempt not counted.
    steps = ActionExecution.objects.filter(step_id=1).exclude(
        enrollment__record__properties__first_name="Warm"
    )
    assert {(s.status, s.attempt, s.deaths) for s in steps} == {("pending", 0, 0)}, stopping.log()
    assert all(s.attempts[-1]["kind"] == "handed_back" for s in steps)
    assert time.monotonic() - asked_at < 10, stopping.log()  # the lease; not a speed target

    sim.configure(latency="fixed:0")
    celery_worker(beat=True, env=worker_env(sim, OPENAI_ASSISTANT_DEADLINE_SECONDS="5"))
    wait_for(
        lambda: Enrollment.objects.filter(status="completed").count() == 4,
        timeout=60,
        message="every run to finish on the other worker",
    )
    assert sorted(Task.objects.values_list("title", flat=True)) == [
        "Code: IA",
        "Code: OH",
        "Code: TX",
        "Code: UT",
    ]
    assert AssistantUsage.objects.count() == 4  # one usage row per success
