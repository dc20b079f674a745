"""Hard monthly budgets: each call reserves its estimate in Redis before it leaves and
settles its real cost after (limiter/budget.py), so 8 worker processes calling at once
cannot pass a cap (a call that only reservations in flight stand in the way of waits
for them), and the Test button counts against it."""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.urls import reverse

from crm.models import Notification
from marketplace.integrations.openai.models import AssistantBudget, AssistantUsage
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    contact,
    drain,
    make_workflow,
    workspace_assistant,
)
from tests.integrations.openai.test_on_celery_workers import settled, worker_env
from workflows.models import ActionExecution

BUDGET_REACHED = "Monthly AI budget reached"


@pytest.mark.django_db
def test_the_test_button_is_metered_by_the_budget(acme, admin_user, builder_client, sim):
    connection = connect(acme)
    AssistantBudget.objects.create(
        account=acme, connection=connection, unit="tokens", monthly_limit=100
    )
    assistant = workspace_assistant(acme)
    record = contact(acme, first_name="Ann", state="texas")

    def test_once() -> str:
        return builder_client.post(
            reverse("marketplace:openai_action_test"),
            {
                "record": record.pk,
                "assistant": assistant.choice_value,
                "prompt": "{{ object.state }}",
                "max_output_tokens": "16",
            },
            HTTP_HX_REQUEST="true",
        ).content.decode()

    answers = [test_once() for _ in range(8)]

    succeeded = [a for a in answers if "TX" in a]
    refused = [a for a in answers if BUDGET_REACHED in a]
    # Each Test spends ~18 tokens and reserves ~33 (estimate with max output 16):
    # a few fit in 100 tokens, then every one is refused although no usage row exists.
    assert 2 <= len(succeeded) <= 5
    assert refused and answers.index(refused[0]) == len(succeeded)
    assert len(succeeded) + len(refused) == 8
    assert not AssistantUsage.objects.exists()
    assert len(sim.requests(key="demo")) == len(succeeded)
    assert Notification.objects.filter(recipient=admin_user, title=BUDGET_REACHED).count() == 1


@pytest.mark.django_db
def test_a_workflow_budget_and_the_connection_budget_are_both_reserved(acme, sim):
    connection = connect(acme)
    assistant = workspace_assistant(acme)
    capped = make_workflow(acme, ask_then_task(assistant.choice_value, max_output_tokens=16))
    AssistantBudget.objects.create(
        account=acme, connection=connection, workflow=capped, unit="tokens", monthly_limit=60
    )
    AssistantBudget.objects.create(
        account=acme, connection=connection, unit="usd", monthly_limit="1"
    )
    for state in ("texas", "ohio", "utah", "iowa", "maine"):
        contact(acme, first_name="Ann", state=state)
    drain()

    spent = AssistantUsage.objects.aggregate(tokens=Sum("total_tokens"))["tokens"]
    assert 0 < spent <= 60
    failed = ActionExecution.objects.filter(step_id=1, status="failed")
    assert failed.exists()
    assert all(BUDGET_REACHED in e.error and "workflow" in e.error for e in failed)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_eight_worker_processes_never_pass_a_token_budget(acme, sim, celery_worker):
    connection = connect(acme)
    limit = 1_500
    AssistantBudget.objects.create(
        account=acme, connection=connection, unit="tokens", monthly_limit=limit
    )
    assistant = workspace_assistant(acme)
    workflow = make_workflow(acme, ask_then_task(assistant.choice_value, max_output_tokens=16))
    states = ["texas", "ohio", "utah", "iowa", "maine", "idaho", "nevada", "oregon"]
    count = 160  # ~18 tokens each: ~2,900 tokens asked for, twice the budget
    for i in range(count):
        contact(acme, first_name=f"C{i}", state=states[i % len(states)])
    # A loaded machine must not turn calls into timeouts, nor take a running batch back
    # (the lease outlasts the deadline): this test is about the budget.
    env = {
        **worker_env(sim),
        "OPENAI_ASSISTANT_DEADLINE_SECONDS": "30",
        "WORKFLOWS_LEASE_SECONDS": "120",
    }
    celery_worker(beat=True, concurrency=8, env=env)
    wait_for(settled(count), timeout=240, message="every run to end")

    rows = AssistantUsage.objects.filter(workflow=workflow)
    spent = rows.aggregate(tokens=Sum("total_tokens"))["tokens"]
    # Each call's estimate (characters / 4 + its 16 output tokens) is above its real
    # cost here, so the estimate error is negative: the cap is never passed at all.
    assert spent <= limit
    # Calls are refused for good only once the spent tokens leave no room for their
    # estimate (~33): the budget is used up, not refused while others are in flight.
    refused = ActionExecution.objects.filter(step_id=1, status="failed")
    errors = sorted({e.error for e in refused})
    calls = sim.requests(path_prefix="/v1/responses")
    # What OpenAI (the simulator) charged: within the cap too.
    assert sum(r["tokens"] for r in calls) <= limit
    assert spent > limit - 100, (spent, rows.count(), len(calls), errors)
    assert refused.count() == count - rows.count() > 0
    assert all(BUDGET_REACHED in e.error for e in refused), errors
