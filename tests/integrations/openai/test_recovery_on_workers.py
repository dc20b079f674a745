"""Ask OpenAI assistant steps through worker trouble (issue 27), the simulator behind
the real SDK: a step OpenAI rate-limits 20 times in a row still succeeds (retries are
bounded by time, not a count), a worker stopped with SIGTERM while its calls are
in flight hands them back at once instead of holding them for a lease, and a worker
SIGKILLed once OpenAI took its call on (a background response, recorded on the step)
costs no second call: the step's next attempt reads that response."""

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


def _responses_created(sim, state: str) -> list[dict]:
    """Responses created for `state` (an earlier test's slow calls may still finish)."""
    return [
        r
        for r in sim.requests(key="demo", path_prefix="/v1/responses", method="POST")
        if r["status"] == 200 and r["body"]["input"] == state
    ]


def test_a_worker_killed_after_openai_took_the_call_on_is_paid_once(acme, sim, celery_worker):
    connect(acme)
    acme.ai_openai_store = True  # Settings › AI data: OpenAI may keep responses
    acme.save(update_fields=["ai_openai_store"])
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    sim.configure(latency="fixed:8000", log_bodies=True)  # the answer is 8 s away
    doomed = celery_worker(env=worker_env(sim, OPENAI_ASSISTANT_DEADLINE_SECONDS="30"))
    contact(acme, first_name="Ann", state="vermont")
    wait_for(
        lambda: ActionExecution.objects.filter(step_id=1).exclude(call_ref="").exists(),
        timeout=60,
        message="the response's id recorded on the step",
    )
    step = ActionExecution.objects.get(step_id=1)
    created = _responses_created(sim, "vermont")
    assert len(created) == 1
    assert created[0]["body"]["background"] is True and created[0]["body"]["store"] is True
    assert step.status == "running" and step.call_ref.startswith("resp_")
    doomed.kill()  # before the answer is ready: nothing read, nothing committed

    celery_worker(beat=True, env=worker_env(sim, OPENAI_ASSISTANT_DEADLINE_SECONDS="30"))
    wait_for(
        lambda: Enrollment.objects.filter(status="completed").exists(),
        timeout=90,
        message="the step taken over and finished",
    )
    step.refresh_from_db()
    assert step.status == "succeeded", step.error
    assert step.attempt == 2  # the killed attempt, then the one that read the answer
    assert len(_responses_created(sim, "vermont")) == 1  # exactly one response created: paid once
    polled = sim.requests(key="demo", path_prefix=f"/v1/responses/{step.call_ref}", method="GET")
    assert polled and polled[-1]["status"] == 200
    assert Task.objects.get().title == "Code: VT"
    assert AssistantUsage.objects.count() == 1


def test_without_the_accounts_consent_nothing_is_stored_at_openai(acme, sim, celery_worker):
    connect(acme)  # Settings › AI data: "let OpenAI keep workflow responses" is off
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    sim.configure(log_bodies=True)
    celery_worker(beat=True, env=worker_env(sim))
    contact(acme, first_name="Ann", state="vermont")
    wait_for(
        lambda: Enrollment.objects.filter(status="completed").exists(),
        timeout=60,
        message="the run to finish",
    )
    (sent,) = [
        r
        for r in sim.requests(key="demo", path_prefix="/v1/responses")
        if r["body"]["input"] == "vermont"
    ]
    assert sent["body"]["store"] is False and "background" not in sent["body"]
    assert ActionExecution.objects.get(step_id=1).call_ref == ""
