"""Economy mode (marketplace/integrations/openai/economy.py): Ask steps of records
enrolled "in economy mode" go through the Batch API of the simulator (real SDK, real
HTTP), come back into the ledger as if each step had run, priced at the batch rate;
failed requests and expired batches run as ordinary steps.

In-process here (the ledger drained in this process, the beat job called directly);
`test_economy_on_workers.py` runs 2,000 records on real Celery workers."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Task
from crm.models.objects import ObjectType
from crm.services import records_bulk_create
from marketplace.integrations.openai import economy, tasks
from marketplace.integrations.openai.models import (
    AssistantBudget,
    AssistantUsage,
    EconomyBatch,
    EconomyItem,
)
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    drain,
    make_workflow,
    workspace_assistant,
)
from workflows import services
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db(transaction=True)

FAST_BATCHES = {
    "batch_validating_seconds": 0.1,
    "batch_in_progress_seconds": 0.2,
    "batch_finalizing_seconds": 0.1,
}
STATES = ["texas", "ohio", "utah", "iowa", "maine"]


def contacts(account, count: int) -> list[int]:
    rows = [{"first_name": f"C{i}", "state": STATES[i % len(STATES)]} for i in range(count)]
    return records_bulk_create(account=account, object_type=ObjectType.CONTACT, rows=rows)


def economy_workflow(account):
    assistant = workspace_assistant(account)
    workflow = make_workflow(account, ask_then_task(assistant.choice_value), on=False)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    services.workflow_enroll_existing_now(workflow=workflow, economy=True)
    return workflow


def capped_economy_workflow(account, *, records: int):
    """`records` contacts enrolled in economy mode in a workflow whose Ask step caps its
    output at 16 tokens (each request reserves ~33), under a 100-token monthly budget."""
    connection = connect(account)
    AssistantBudget.objects.create(
        account=account, connection=connection, unit="tokens", monthly_limit=100
    )
    contacts(account, records)
    assistant = workspace_assistant(account)
    workflow = make_workflow(
        account, ask_then_task(assistant.choice_value, max_output_tokens=16), on=False
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    services.workflow_enroll_existing_now(workflow=workflow, economy=True)
    return assistant, workflow


def until_batches_end(timeout: float = 20.0) -> dict[str, int]:
    """The beat job, run until no batch is open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = economy.economy_run()
        if not EconomyBatch.objects.filter(finished_at__isnull=True).exists():
            return summary
        time.sleep(0.1)
    raise AssertionError("a batch did not end")


def test_economy_steps_wait_then_complete_from_the_batch_at_half_price(acme, sim, settings):
    sim.configure(**FAST_BATCHES)
    settings.OPENAI_ECONOMY_BATCH_ROWS = 4
    connect(acme)
    contacts(acme, 10)
    workflow = economy_workflow(acme)
    assert set(Enrollment.objects.values_list("source", flat=True)) == {"economy"}
    drain()
    # Every Ask step waits for its batch; no call was made.
    assert ActionExecution.objects.filter(status="waiting").count() == 10
    assert not sim.requests(path_prefix="/v1/responses")
    until_batches_end()
    assert EconomyBatch.objects.count() == 3  # 4 + 4 + 2 rows
    assert sorted(EconomyBatch.objects.values_list("rows", flat=True)) == [2, 4, 4]
    # The beat job completed the answered steps itself; their next steps are pending.
    steps = ActionExecution.objects.filter(workflow=workflow)
    assert steps.filter(step_id=1, status="succeeded").count() == 10
    assert steps.filter(step_id=2, status="pending").count() == 10
    drain()
    assert Task.objects.count() == 10
    assert set(Task.objects.values_list("title", flat=True)) >= {"Code: TX", "Code: OH"}
    assert not sim.requests(path_prefix="/v1/responses")  # answered by the batches only
    usage = list(AssistantUsage.objects.filter(workflow=workflow))
    assert len(usage) == 10 and {row.engine for row in usage} == {"batch"}
    # gpt-4o-mini at the batch rate: half the table's price for the same tokens.
    row = usage[0]
    full = (
        Decimal(row.input_tokens) * Decimal("0.15") + Decimal(row.output_tokens) * Decimal("0.60")
    ) / Decimal(1_000_000)
    assert row.cost_usd == (full / 2).quantize(Decimal("0.000001"))


def test_a_failed_request_and_an_expired_batch_run_as_ordinary_steps(acme, sim, settings):
    sim.configure(
        **FAST_BATCHES,
        faults=[{"path_prefix": "/v1/responses", "error_500": 1.0, "times": 1}],
    )
    settings.OPENAI_ECONOMY_BATCH_ROWS = 3
    connect(acme)
    contacts(acme, 3)
    economy_workflow(acme)
    drain()
    until_batches_end()
    item_states = sorted(EconomyItem.objects.values_list("state", flat=True))
    assert item_states == ["done", "done", "returned"]
    sim.configure(faults=[])
    drain()
    assert Task.objects.count() == 3
    engines = sorted(AssistantUsage.objects.values_list("engine", flat=True))
    assert engines == ["batch", "batch", "responses"]  # the failed one ran as a call
    assert len(sim.requests(path_prefix="/v1/responses")) == 1

    # A second workflow over the same records, whose batch expires: every item runs as
    # an ordinary call.
    sim.configure(batch_window_seconds=0.15)
    second = economy_workflow(acme)
    drain()
    until_batches_end()
    assert EconomyBatch.objects.filter(status="expired").count() == 1
    drain()
    assert Task.objects.count() == 6
    assert set(AssistantUsage.objects.filter(workflow=second).values_list("engine", flat=True)) == {
        "responses"
    }


def test_answers_left_when_the_beat_job_runs_out_of_time_go_to_the_workers(acme, sim, settings):
    sim.configure(**FAST_BATCHES)
    settings.OPENAI_ECONOMY_APPLY_SECONDS = 0
    connect(acme)
    contacts(acme, 4)
    workflow = economy_workflow(acme)
    drain()
    until_batches_end()
    # Stored and resumed, not completed by the beat job: due now for the workers.
    assert set(EconomyItem.objects.values_list("state", flat=True)) == {"done"}
    steps = ActionExecution.objects.filter(workflow=workflow)
    assert steps.filter(step_id=1, status="pending").count() == 4
    drain()
    assert Task.objects.count() == 4
    assert set(AssistantUsage.objects.values_list("engine", flat=True)) == {"batch"}
    assert not sim.requests(path_prefix="/v1/responses")


def test_a_chunk_of_answers_delivered_twice_completes_each_step_once(acme, sim, settings):
    sim.configure(**FAST_BATCHES)
    settings.OPENAI_ECONOMY_APPLY_SECONDS = 0  # the beat job leaves every chunk to workers
    connect(acme)
    contacts(acme, 6)
    workflow = economy_workflow(acme)
    drain()
    until_batches_end()
    asks = ActionExecution.objects.filter(workflow=workflow, step_id=1)
    ids = list(asks.values_list("pk", flat=True))
    # The chunk's message, delivered twice (a worker died after completing it, or the
    # beat job got there first): the second delivery finds nothing left to claim.
    assert tasks.economy_answers(ids) == {"succeeded": 6}
    assert tasks.economy_answers(ids) == {"not claimed": 6}
    assert asks.filter(status="succeeded").count() == 6
    usage = AssistantUsage.objects.filter(workflow=workflow)
    assert usage.count() == 6 and set(usage.values_list("engine", flat=True)) == {"batch"}
    drain()
    assert Task.objects.count() == 6


def test_batch_requests_reserve_the_budget_and_settle_their_real_cost(
    acme, sim, settings, builder_client
):
    """Each batch request reserves its estimate at the batch price (~33 tokens with 16
    output tokens) for the batch's window: 100 tokens take 3 of 10 records; the others
    fail at once saying why. Applying the answers settles their real cost (~18 tokens
    each), which leaves room for an ordinary call."""
    sim.configure(**FAST_BATCHES)
    assistant, workflow = capped_economy_workflow(acme, records=10)
    drain()
    steps = ActionExecution.objects.filter(workflow=workflow, step_id=1)
    assert steps.filter(status="waiting").count() == 3
    assert EconomyItem.objects.count() == 3
    refused = steps.filter(status="failed")
    assert refused.count() == 7
    message = (
        "Not added to an economy batch: the batches in flight hold the rest of the "
        "monthly AI budget."
    )
    assert all(message in e.error for e in refused)
    url = reverse("history:run", args=[workflow.pk, refused.first().enrollment_id])
    run = builder_client.get(url).content.decode()
    assert message in run
    # While the batch is out, its reservations leave no room for an ordinary call: its
    # step waits (no call made).
    ordinary = make_workflow(acme, ask_then_task(assistant.choice_value, max_output_tokens=16))
    services.workflow_enroll_existing_now(workflow=ordinary)
    drain()
    assert not ActionExecution.objects.filter(workflow=ordinary, status="succeeded").exists()
    assert not sim.requests(path_prefix="/v1/responses")

    until_batches_end()
    # The waiting ordinary step asks again a second later: due now, as the sweeper finds it.
    drain(now_shift=dt.timedelta(seconds=1))
    usage = AssistantUsage.objects.all()
    assert usage.filter(workflow=workflow, engine="batch").count() == 3
    # Settled at their real cost (~18 tokens each), they leave room for ordinary calls.
    assert usage.filter(workflow=ordinary, engine="responses").exists()
    assert sum(usage.values_list("total_tokens", flat=True)) <= 100


def test_the_review_says_when_a_budget_cannot_take_every_record(acme, sim, builder_client):
    connection = connect(acme)
    contacts(acme, 10)
    assistant = workspace_assistant(acme)
    workflow = make_workflow(
        acme, ask_then_task(assistant.choice_value, max_output_tokens=16), on=False
    )
    url = f"/workflows/{workflow.pk}/review/"
    assert "has room for about" not in builder_client.get(url).content.decode()
    AssistantBudget.objects.create(
        account=acme, connection=connection, unit="tokens", monthly_limit=100
    )
    page = builder_client.get(url).content.decode()
    assert (
        "At the batch price, a monthly AI budget has room for about 2 of these 10 records "
        "(estimated). The others are not added to a batch" in page
    )
    page = builder_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "environ 2 de ces 10 fiches (estimation)" in page


def test_a_model_with_a_flex_tier_is_sent_at_once_on_it_at_the_batch_rate(acme, sim):
    """o4-mini has OpenAI's Flex processing tier: economy mode sends its steps now with
    `service_tier: "flex"` (no batch), priced like the Batch API."""
    sim.configure(log_bodies=True)
    connect(acme)
    contacts(acme, 2)
    assistant = workspace_assistant(acme, model="o4-mini")
    workflow = make_workflow(acme, ask_then_task(assistant.choice_value), on=False)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    services.workflow_enroll_existing_now(workflow=workflow, economy=True)
    drain()
    assert Task.objects.count() == 2
    assert not EconomyItem.objects.exists() and not EconomyBatch.objects.exists()
    sent = sim.requests(path_prefix="/v1/responses")
    assert [r["body"]["service_tier"] for r in sent] == ["flex", "flex"]
    usage = list(AssistantUsage.objects.filter(workflow=workflow))
    assert {row.engine for row in usage} == {"flex"}
    row = usage[0]
    full = (
        Decimal(row.input_tokens) * Decimal("1.10") + Decimal(row.output_tokens) * Decimal("4.40")
    ) / Decimal(1_000_000)
    assert abs(row.cost_usd - full / 2) <= Decimal("0.000001")  # rounded to the micro-USD
    # Enrolled normally, the same steps use the default tier.
    services.workflow_enroll_existing_now(
        workflow=make_workflow(acme, ask_then_task(assistant.choice_value))
    )
    drain()
    later = sim.requests(path_prefix="/v1/responses")[len(sent) :]
    assert len(later) == 2 and all("service_tier" not in r["body"] for r in later)


def test_only_economy_enrollments_wait_for_a_batch(acme, sim):
    connect(acme)
    contacts(acme, 2)
    assistant = workspace_assistant(acme)
    services.workflow_enroll_existing_now(
        workflow=make_workflow(acme, ask_then_task(assistant.choice_value))
    )
    drain()
    assert not EconomyItem.objects.exists()
    assert Task.objects.count() == 2
    assert len(sim.requests(path_prefix="/v1/responses")) == 2


def test_the_review_offers_economy_mode_for_a_workflow_with_an_ask_step(acme, sim, builder_client):
    from workflows.models import FanOut

    connect(acme)
    contacts(acme, 3)
    assistant = workspace_assistant(acme)
    workflow = make_workflow(acme, ask_then_task(assistant.choice_value), on=False)
    page = builder_client.get(f"/workflows/{workflow.pk}/review/").content.decode()
    assert (
        "Run the existing 3 records in economy mode "
        "(about half the price, results within 24 hours)" in page
    )
    response = builder_client.post(
        f"/workflows/{workflow.pk}/review/", {"enroll_existing": "economy"}
    )
    assert response.status_code == 302
    fan_out = FanOut.objects.get(workflow=workflow)
    assert fan_out.economy
    page = builder_client.get(f"/workflows/{workflow.pk}/review/", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Mode économique" in page.content.decode()


def test_no_economy_offer_without_a_step_that_has_a_cheaper_tier(acme, builder_client):
    contacts(acme, 3)
    workflow = make_workflow(
        acme,
        {"start": 1, "steps": {"1": {"type": "create_task", "config": {"title": "x"}}}},
        on=False,
    )
    page = builder_client.get(f"/workflows/{workflow.pk}/review/").content.decode()
    assert "3 records meet the criteria now" in page and "economy mode" not in page


def test_a_step_the_batches_keep_out_of_the_budget_waits_longer_each_time(
    acme, sim, settings, builder_client
):
    """Economy batches hold the monthly budget for hours: an ordinary step that only
    their reservations stand in the way of is postponed 1 s, then twice as long each
    time (jittered, capped), and its history says it waits for the budget."""
    sim.configure(batch_validating_seconds=3600)  # the batch stays out
    settings.WORKFLOWS_BUSY_MAX_SECONDS = 8
    assistant, _held = capped_economy_workflow(acme, records=3)
    drain()
    economy.economy_run()
    assert EconomyItem.objects.filter(state="submitted").count() == 3  # ~99 tokens held

    ordinary = make_workflow(acme, ask_then_task(assistant.choice_value, max_output_tokens=16))
    services.workflow_enroll_existing_now(workflow=ordinary)
    steps = ActionExecution.objects.filter(workflow=ordinary, step_id=1)
    assert steps.count() == 3
    step = steps.first()
    waits = []
    for _ in range(6):
        ActionExecution.objects.filter(pk=step.pk).update(due_at=timezone.now())
        drain()  # the step runs once: due again only later
        step.refresh_from_db()
        assert step.status == "pending"
        waits.append((step.due_at - timezone.now()).total_seconds())
    # 1 s doubling, jittered down by at most half, capped at 8 s (times allow slack for a
    # slow machine's drain, not a speed target).
    for n, wait in enumerate(waits):
        ceiling = min(2.0**n, 8)
        assert ceiling * 0.5 - 1.0 <= wait <= ceiling, (n, waits)
    assert waits[3] > waits[0] + 1.5
    assert not sim.requests(path_prefix="/v1/responses")
    entry = step.attempts[-1]
    assert (entry["kind"], entry["times"]) == ("busy", 6)

    logs = builder_client.get(reverse("history:logs", args=[ordinary.pk])).content.decode()
    assert "Waiting for budget" in logs
    assert "Retrying" not in logs and "Waiting for rate limit<" not in logs
    filtered = builder_client.get(
        reverse("history:logs", args=[ordinary.pk]), {"event": "rate_limited"}
    ).content.decode()
    assert "Waiting for budget" in filtered
    run = builder_client.get(
        reverse("history:run", args=[ordinary.pk, step.enrollment_id])
    ).content.decode()
    assert "Waited for the budget (held by calls in flight)" in run
