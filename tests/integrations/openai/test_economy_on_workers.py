"""Economy mode end to end on real Celery workers (tests/celery_worker.py): a workflow
turned on over 2,000 records in economy mode → batches at the simulator (real SDK) →
tasks created, usage at the batch rate; then an expired batch's items run again as
ordinary steps. This process plays beat's economy job (economy.economy_run) so the
test does not wait for its 60 s schedule."""

from __future__ import annotations

import pytest

from crm.models import Task
from marketplace.integrations.openai import economy
from marketplace.integrations.openai.models import AssistantUsage, EconomyBatch, EconomyItem
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    drain,
    make_workflow,
    workspace_assistant,
)
from tests.integrations.openai.test_economy import (
    FAST_BATCHES,
    contacts,
    economy_workflow,
    until_batches_end,
)
from tests.integrations.openai.test_on_celery_workers import worker_env
from workflows import services
from workflows.models import ActionExecution, Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def beat_until(condition, *, timeout: float, message: str) -> None:
    def tick():
        economy.economy_run()
        return condition()

    wait_for(tick, timeout=timeout, message=message, interval=0.5)


def test_turning_on_over_2000_records_in_economy_mode(acme, sim, settings, celery_worker):
    sim.configure(**FAST_BATCHES)
    settings.OPENAI_ECONOMY_BATCH_ROWS = 800
    connect(acme)
    contacts(acme, 2000)
    workflow = make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value), on=False)
    celery_worker(beat=True, env={**worker_env(sim), "OPENAI_ECONOMY_BATCH_ROWS": "800"})
    services.workflow_turn_on(workflow=workflow, enroll_existing=True, economy=True)
    wait_for(
        lambda: ActionExecution.objects.filter(status="waiting").count() == 2000,
        timeout=240,
        message="every Ask step to wait for its batch",
    )
    assert Enrollment.objects.filter(source="economy").count() == 2000
    beat_until(
        lambda: Task.objects.count() == 2000,
        timeout=300,
        message="the batches' answers to become tasks",
    )
    assert sorted(EconomyBatch.objects.values_list("rows", flat=True)) == [400, 800, 800]
    assert not sim.requests(path_prefix="/v1/responses")  # no ordinary call was made
    usage = AssistantUsage.objects.filter(workflow=workflow)
    assert usage.count() == 2000 and set(usage.values_list("engine", flat=True)) == {"batch"}
    row = usage.first()
    assert row is not None and row.cost_usd is not None
    full = (row.input_tokens * 0.15 + row.output_tokens * 0.60) / 1_000_000
    assert float(row.cost_usd) == pytest.approx(full / 2, abs=1e-6)


def test_an_expired_batch_s_items_run_again_as_ordinary_steps(acme, sim, celery_worker):
    sim.configure(**FAST_BATCHES, batch_window_seconds=0.2)
    connect(acme)
    contacts(acme, 50)
    workflow = make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value), on=False)
    celery_worker(beat=True, env=worker_env(sim))
    services.workflow_turn_on(workflow=workflow, enroll_existing=True, economy=True)
    wait_for(
        lambda: ActionExecution.objects.filter(status="waiting").count() == 50,
        timeout=120,
        message="every Ask step to wait for its batch",
    )
    beat_until(lambda: Task.objects.count() == 50, timeout=180, message="the items to run again")
    assert list(EconomyBatch.objects.values_list("status", flat=True)) == ["expired"]
    assert set(EconomyItem.objects.values_list("state", flat=True)) == {"returned"}
    assert len(sim.requests(path_prefix="/v1/responses")) == 50
    assert set(
        AssistantUsage.objects.filter(workflow=workflow).values_list("engine", flat=True)
    ) == {"responses"}


def test_a_worker_completes_the_answered_steps_the_beat_job_hands_out(
    acme, sim, settings, celery_worker
):
    sim.configure(**FAST_BATCHES)
    settings.OPENAI_ECONOMY_BATCH_ROWS = 40
    settings.OPENAI_ECONOMY_APPLY_SECONDS = 0  # this process (beat's job) completes none
    connect(acme)
    contacts(acme, 100)
    workflow = economy_workflow(acme)
    drain()  # every Ask step waits for its batch
    # Only `default`, no beat (so no sweeper): the chunks' messages are the only way.
    celery_worker(queues=("default",), env=worker_env(sim))
    until_batches_end()
    wait_for(
        lambda: Task.objects.count() == 100,
        timeout=120,
        message="the worker to complete the answered steps and run their next steps",
    )
    asks = ActionExecution.objects.filter(workflow=workflow, step_id=1)
    assert asks.filter(status="succeeded").count() == 100
    usage = AssistantUsage.objects.filter(workflow=workflow)
    assert usage.count() == 100 and set(usage.values_list("engine", flat=True)) == {"batch"}
    assert not sim.requests(path_prefix="/v1/responses")
