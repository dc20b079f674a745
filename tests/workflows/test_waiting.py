"""The ledger's waiting state (docs/engine.md, "Waiting"): a waiting step holds no
worker and is not due; a resume makes it due once; a resume that lands while the step
is still running is not lost; the sweeper ends waits at their time-out; unenrolling
cancels them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.workflows.conftest import chain, contact, make_workflow
from workflows import services
from workflows.engine import ledger, sweeper
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(acme):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "t"}}))
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    [pk] = ledger.executions_claim_many(execution_ids=[execution.pk])
    return ActionExecution.objects.get(pk=pk)


def test_a_wait_holds_no_worker_and_a_resume_makes_it_due_once(claimed):
    until = timezone.now() + dt.timedelta(days=3)
    ledger.execution_wait(execution=claimed, until=until)
    row = ActionExecution.objects.get()
    assert (row.status, row.due_at, row.lease_expires_at, row.attempt) == (
        "waiting",
        until,
        None,
        0,
    )
    assert not ActionExecution.objects.due().exists()
    assert sweeper.executions_sweep() == {
        "requeued": 0,
        "given_up": 0,
        "sent": 0,
        "waits_expired": 0,
        "fan_outs_resumed": 0,
    }

    assert services.executions_resume(execution_ids=[row.pk]) == [row.pk]
    assert services.executions_resume(execution_ids=[row.pk]) == []  # once
    assert ActionExecution.objects.due().filter(pk=row.pk).exists()


def test_a_resume_while_the_step_is_still_running_is_not_lost(claimed):
    assert services.executions_resume(execution_ids=[claimed.pk]) == []  # running: nudged
    ledger.execution_wait(execution=claimed, until=timezone.now() + dt.timedelta(days=3))
    row = ActionExecution.objects.get()
    assert row.status == "pending" and row.due_at <= timezone.now()


def test_the_sweeper_ends_a_wait_at_its_time_out(claimed):
    ledger.execution_wait(execution=claimed, until=timezone.now() - dt.timedelta(seconds=1))
    assert sweeper.executions_sweep()["waits_expired"] == 1
    assert ActionExecution.objects.get().status == "pending"


def test_unenrolling_cancels_a_waiting_step(claimed):
    ledger.execution_wait(execution=claimed, until=timezone.now() + dt.timedelta(days=3))
    services.enrollment_unenroll(enrollment=Enrollment.objects.get())
    assert ActionExecution.objects.get().status == "cancelled"
