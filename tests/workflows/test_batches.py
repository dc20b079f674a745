"""Batches: many executions claimed with one UPDATE, completed in one transaction, next
steps run inline, due work claimed by a worker, ids grouped per message."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os

import pytest
import redis
from django.db import connection
from django.utils import timezone

from crm.models import Notification, Task, TimelineEvent
from tests.celery_worker import queues_purge
from tests.workflows.conftest import chain, contact, make_workflow
from workflows.engine import ledger, publish, runner, sweeper
from workflows.history.events import run_urls
from workflows.models import ActionExecution, Enrollment
from workflows.timeline import timeline_events

pytestmark = pytest.mark.django_db

THREE_STEPS = chain(
    {
        "type": "create_task",
        "config": {"title": "Call {{ object.first_name }}", "assignee": "owner"},
    },
    {"type": "set_property", "config": {"property": "lead_status", "value": "connected"}},
    {
        "type": "send_notification",
        "config": {"recipients": ["owner"], "subject": "{{ actions.1.task_id }} done"},
    },
)
NAMES = ("Ann", "Bob", "Cy", "Di", "Ed")


def queued() -> list[tuple[str, list, str]]:
    """(task name, args, queue) of the wake-ups waiting in Redis."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    found = []
    with client:
        for queue in ("default", "assistant"):
            for raw in client.lrange(queue, 0, -1):
                message = json.loads(raw)
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                found.append((message["headers"]["task"], args, queue))
    return found


def test_a_batch_runs_a_multi_step_workflow_to_the_end_in_one_call(acme, rep_user):
    make_workflow(acme, THREE_STEPS)
    records = [contact(acme, first_name=name, owner="rep") for name in NAMES]
    first = list(ActionExecution.objects.values_list("pk", flat=True))
    results = runner.executions_run(execution_ids=first)
    assert [results[pk] for pk in first] == ["succeeded"] * 5
    assert list(results.values()).count("completed") == 5  # the third steps, run inline
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}
    assert sorted(Task.objects.values_list("title", flat=True)) == sorted(
        f"Call {name}" for name in NAMES
    )
    assert all(task.assignee == rep_user for task in Task.objects.all())
    for record in records:
        record.refresh_from_db()
        assert record.properties["lead_status"] == "connected"
        task = Task.objects.get(records=record)
        note = Notification.objects.get(
            idempotency_key__startswith="exec:", url__endswith=f"/{record.pk}/"
        )
        assert note.title == f"{task.pk} done"  # earlier outputs, read for the batch
    # One timeline entry per finished step, and "enrolled" once per run.
    assert TimelineEvent.objects.filter(kind="workflow").count() == 5 * 3 + 5
    assert runner.executions_run(execution_ids=first) == dict.fromkeys(first, "not claimed")


def test_without_inline_the_next_steps_wait_for_their_message(acme, rep_user):
    make_workflow(acme, THREE_STEPS)
    for name in NAMES:
        contact(acme, first_name=name, owner="rep")
    first = list(ActionExecution.objects.values_list("pk", flat=True))
    results = runner.executions_run(execution_ids=first, inline=False)
    assert set(results.values()) == {"succeeded"}
    second = ActionExecution.objects.filter(step_id=2)
    assert second.count() == 5 and set(second.values_list("status", flat=True)) == {"pending"}


def test_a_lease_lost_inside_a_batch_costs_that_execution_only(acme):
    make_workflow(acme, chain({"type": "test_probe_batchable", "config": {"take_over_if": "Cy"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    ids = list(ActionExecution.objects.order_by("pk").values_list("pk", flat=True))
    taken = ActionExecution.objects.get(enrollment__record__properties__first_name="Cy").pk
    results = runner.executions_run(execution_ids=ids, inline=False)
    assert results[taken] == "lease lost"
    assert [results[pk] for pk in ids if pk != taken] == ["completed"] * 4
    # The whole batch rolled back and the others completed one by one: no duplicates,
    # and nothing for the one whose claim another worker holds now.
    assert sorted(Task.objects.values_list("idempotency_key", flat=True)) == sorted(
        f"exec:{pk}" for pk in ids if pk != taken
    )
    assert ActionExecution.objects.get(pk=taken).status == "running"


def test_a_broken_execution_fails_alone_and_the_rest_of_its_batch_completes(acme, admin_user):
    make_workflow(
        acme,
        chain(
            {"type": "test_probe_batchable", "config": {"apply_fail_if": "Di"}},
            {"type": "create_task", "config": {"title": "Next"}},
        ),
    )
    for name in NAMES:
        contact(acme, first_name=name)
    ids = list(ActionExecution.objects.values_list("pk", flat=True))
    results = runner.executions_run(execution_ids=ids)
    broken = ActionExecution.objects.get(step_id=1, enrollment__record__properties__first_name="Di")
    assert results[broken.pk] == "failed"
    broken.refresh_from_db()
    assert broken.error == "Broken for Di."
    assert Task.objects.filter(title="Next").count() == 4
    assert Task.objects.filter(title="probe 1").count() == 4
    assert Enrollment.objects.filter(status="failed").count() == 1
    assert Notification.objects.filter(recipient=admin_user).count() == 1


def test_a_worker_claims_due_batchable_work_nobody_published(acme, settings):
    # "A moment ago" must stay a moment on a loaded machine.
    settings.WORKFLOWS_STEAL_AFTER_SECONDS = 30
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    rows = ActionExecution.objects.order_by("pk")
    recent, *unsent = list(rows.values_list("pk", flat=True))
    rows.exclude(pk=recent).update(last_sent_at=None)  # e.g. a bulk enrollment's rows
    make_workflow(acme, chain({"type": "test_probe", "config": {}}))
    contact(acme, first_name="Flo")  # enrolls in both (its create_task is published now)
    ActionExecution.objects.filter(action_type="test_probe").update(last_sent_at=None)
    results = runner.executions_run(execution_ids=[], queue="default", steal=True)
    # Rows published a moment ago wait for their message; the probe is not batchable.
    assert sorted(results) == sorted(unsent)
    assert set(results.values()) == {"completed"}
    assert ActionExecution.objects.get(pk=recent).status == "pending"
    assert ActionExecution.objects.filter(status="pending").count() == 3


def test_the_sweeper_sends_batchable_ids_together(acme, settings):
    settings.WORKFLOWS_BATCH_SIZE = 3
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in NAMES:
        contact(acme, first_name=name)
    make_workflow(acme, chain({"type": "test_probe", "config": {}}))
    contact(acme, first_name="Flo")  # enrolls in both
    queues_purge()
    ActionExecution.objects.update(last_sent_at=timezone.now() - dt.timedelta(hours=1))
    assert sweeper.executions_sweep()["sent"] == 7
    messages = queued()
    many = [args for name, args, _queue in messages if name == publish.RUN_MANY_TASK]
    single = [args for name, args, _queue in messages if name == publish.RUN_TASK]
    creates = set(
        ActionExecution.objects.filter(action_type="create_task").values_list("pk", flat=True)
    )
    assert sorted(len(ids) for ids, _queue in many) == [3, 3]
    assert {pk for ids, _queue in many for pk in ids} == creates
    assert all(queue == "default" for _ids, queue in many)
    probe = ActionExecution.objects.get(action_type="test_probe")
    assert single == [[probe.pk]]  # not batchable: a message of its own
    queues_purge()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the timeline's SQL writer is PostgreSQL's"
)
def test_the_timeline_entries_a_batch_writes_in_sql_read_as_described(acme):
    """PostgreSQL writes a batch's timeline entries with one INSERT … SELECT from the
    ledger; they must be the entries `timeline_events` describes, failures included."""
    make_workflow(
        acme,
        chain(
            {"type": "create_task", "config": {"title": "Call {{ object.first_name }}"}},
            {"type": "test_probe_batchable", "config": {"apply_fail_if": "Cy"}},
        ),
    )
    for name in NAMES:
        contact(acme, first_name=name)
    runner.executions_run(execution_ids=list(ActionExecution.objects.values_list("pk", flat=True)))
    finished = ActionExecution.objects.exclude(status__in=["pending", "running"])
    assert set(finished.values_list("status", flat=True)) == {"succeeded", "failed"}
    written = TimelineEvent.objects.filter(kind="workflow").order_by("pk")
    described = {}
    for execution in finished.select_related("workflow", "enrollment"):
        url = run_urls(execution.workflow_id)(execution.enrollment_id)
        for event in timeline_events(execution, url=url):
            described[event.idempotency_key] = (event.record_id, event.account_id, event.data)
    assert {
        event.idempotency_key: (event.record_id, event.account_id, event.data) for event in written
    } == described
    for record_id in {event.record_id for event in written}:
        # The record page lists the newest first: the run's "enrolled" entry comes last.
        newest_first = TimelineEvent.objects.filter(record_id=record_id, kind="workflow")
        assert [e.data["event"] for e in newest_first][-1] == "enrolled"


def test_a_due_work_claim_looks_only_at_the_front_of_a_busy_queue(acme, settings):
    """Rows published a moment ago fill the front of a busy queue; a claim of due work
    reads STEAL_SCAN rows per row it may take, not the whole backlog, and takes them
    once their message is late."""
    settings.WORKFLOWS_STEAL_AFTER_SECONDS = 30
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in (*NAMES, "Flo"):
        contact(acme, first_name=name)
    rows = ActionExecution.objects.order_by("due_at", "pk")
    now = timezone.now()
    *front, last = list(rows.values_list("pk", flat=True))
    for offset, pk in enumerate(front):  # published just now, in due order
        rows.filter(pk=pk).update(due_at=now - dt.timedelta(seconds=10 - offset), last_sent_at=now)
    rows.filter(pk=last).update(due_at=now, last_sent_at=None)  # never sent, behind them
    assert len(front) > ledger.STEAL_SCAN
    assert ledger.executions_claim_due(queue="default", limit=1) == []
    rows.filter(pk__in=front).update(last_sent_at=now - dt.timedelta(minutes=5))
    assert ledger.executions_claim_due(queue="default", limit=1) == [front[0]]
