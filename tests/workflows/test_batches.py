"""Batches: many executions claimed with one UPDATE, completed in one transaction, next
steps run inline, due work claimed by a worker, ids grouped per message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Notification, Task, TimelineEvent
from tests.workflows.conftest import chain, contact, make_workflow
from workflows import engine, ledger, registry, sweeper
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db

THREE_STEPS = chain(
    {"type": "create_task", "config": {"title": "Call {{ object.first_name }}",
                                       "assignee": "owner"}},
    {"type": "set_property", "config": {"property": "lead_status", "value": "connected"}},
    {"type": "send_notification", "config": {"recipients": ["owner"],
                                             "subject": "{{ actions.1.task_id }} done"}},
)
NAMES = ("Ann", "Bob", "Cy", "Di", "Ed")


@pytest.fixture
def published(monkeypatch):
    """Messages the engine and the sweeper publish, instead of sending them to Redis."""
    sent = []
    monkeypatch.setattr(ledger, "_publish",
                        lambda name, args, queue, producer=None: sent.append((name, args, queue))
                        or True)
    return sent


def test_a_batch_runs_a_multi_step_workflow_to_the_end_in_one_call(acme, rep_user):
    make_workflow(acme, THREE_STEPS)
    records = [contact(acme, first_name=name, owner="rep") for name in NAMES]
    first = list(ActionExecution.objects.values_list("pk", flat=True))
    results = engine.executions_run(execution_ids=first)
    assert [results[pk] for pk in first] == ["succeeded"] * 5
    assert list(results.values()).count("completed") == 5  # the third steps, run inline
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}
    assert sorted(Task.objects.values_list("title", flat=True)) == sorted(
        f"Call {name}" for name in NAMES)
    assert all(task.assignee == rep_user for task in Task.objects.all())
    for record in records:
        record.refresh_from_db()
        assert record.properties["lead_status"] == "connected"
        task = Task.objects.get(records=record)
        note = Notification.objects.get(idempotency_key__startswith="exec:",
                                        url__endswith=f"/{record.pk}/")
        assert note.title == f"{task.pk} done"  # earlier outputs, read for the batch
    # One timeline entry per finished step, and "enrolled" once per run.
    assert TimelineEvent.objects.filter(kind="workflow").count() == 5 * 3 + 5
    assert engine.executions_run(execution_ids=first) == dict.fromkeys(first, "not claimed")


def test_without_inline_the_next_steps_wait_for_their_message(acme, rep_user, published):
    make_workflow(acme, THREE_STEPS)
    for name in NAMES:
        contact(acme, first_name=name, owner="rep")
    first = list(ActionExecution.objects.values_list("pk", flat=True))
    results = engine.executions_run(execution_ids=first, inline=False)
    assert set(results.values()) == {"succeeded"}
    second = ActionExecution.objects.filter(step_id=2)
    assert second.count() == 5 and set(second.values_list("status", flat=True)) == {"pending"}


def test_a_lease_lost_inside_a_batch_costs_that_execution_only(acme, monkeypatch):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    ids = list(ActionExecution.objects.order_by("pk").values_list("pk", flat=True))
    taken = ids[2]
    action_type = registry.get("create_task")

    def execute(context):
        if context.execution_id == taken:
            # Meanwhile the sweeper took it back and another worker claimed it.
            ActionExecution.objects.filter(pk=taken).update(attempt=5)
        return {}

    monkeypatch.setattr(action_type, "execute", execute)
    results = engine.executions_run(execution_ids=ids, inline=False)
    assert results[taken] == "lease lost"
    assert [results[pk] for pk in ids if pk != taken] == ["completed"] * 4
    # The whole batch rolled back and the others completed one by one: no duplicates.
    assert Task.objects.count() == 4
    assert not Task.objects.filter(idempotency_key=f"exec:{taken}").exists()
    assert ActionExecution.objects.get(pk=taken).status == "running"  # the other's claim


def test_an_error_of_one_execution_does_not_fail_the_others(acme, admin_user, monkeypatch):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    ids = list(ActionExecution.objects.order_by("pk").values_list("pk", flat=True))
    action_type = registry.get("create_task")
    original = action_type.apply_many

    def apply_many(items):
        if len(items) > 1:
            from workflows.errors import PermanentError

            raise PermanentError("one of them is broken")
        return original(items)

    monkeypatch.setattr(action_type, "apply_many", apply_many)
    results = engine.executions_run(execution_ids=ids, inline=False)
    assert set(results.values()) == {"completed"}
    assert Task.objects.count() == 5


def test_a_worker_claims_due_batchable_work_nobody_published(acme, published):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    rows = ActionExecution.objects.order_by("pk")
    recent, *unsent = list(rows.values_list("pk", flat=True))
    rows.exclude(pk=recent).update(last_sent_at=None)  # e.g. a bulk enrollment's rows
    make_workflow(acme, chain({"type": "test_probe", "config": {}}))
    probe = contact(acme, first_name="Flo")
    ActionExecution.objects.filter(action_type="test_probe").update(last_sent_at=None)
    results = engine.executions_run(execution_ids=[], queue="default", steal=True)
    # The row published a moment ago waits for its message; the probe is not batchable.
    assert sorted(results) == sorted(unsent)
    assert ActionExecution.objects.get(pk=recent).status == "pending"
    assert ActionExecution.objects.get(enrollment__record=probe,
                                       action_type="test_probe").status == "pending"


def test_the_sweeper_sends_batchable_ids_together(acme, settings, published):
    settings.WORKFLOWS_BATCH_SIZE = 3
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    make_workflow(acme, chain({"type": "test_probe", "config": {}}))
    contact(acme, first_name="Flo")
    published.clear()
    ActionExecution.objects.update(last_sent_at=timezone.now() - dt.timedelta(hours=1))
    # Flo enrolled in both workflows: 6 Create task rows and 1 probe row.
    assert sweeper.executions_sweep()["sent"] == 7
    many = [args for name, args, _queue in published if name == ledger.RUN_MANY_TASK]
    single = [args for name, args, _queue in published if name == ledger.RUN_TASK]
    creates = set(ActionExecution.objects.filter(action_type="create_task")
                  .values_list("pk", flat=True))
    assert sorted(len(ids) for ids, _queue in many) == [3, 3]
    assert {pk for ids, _queue in many for pk in ids} == creates
    assert all(queue == "default" for _ids, queue in many)
    probe = ActionExecution.objects.get(action_type="test_probe")
    assert single == [[probe.pk]]  # not batchable: a message of its own
