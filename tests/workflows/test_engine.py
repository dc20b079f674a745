"""The engine run in-process: ledger states, side effects, retries, replay."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Notification, Task, TimelineEvent
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows import services
from workflows.engine import heartbeat, ledger, runner, sweeper
from workflows.models import ActionExecution, Enrollment
from workflows.outcomes import Retry

pytestmark = pytest.mark.django_db


def branch_graph(rep_user):
    return {
        "start": 1,
        "steps": {
            "1": {
                "type": "test_probe",
                "config": {"response": "Lead is HOT, call today"},
                "next": 2,
            },
            "2": {
                "type": "branch",
                "config": {
                    "paths": [
                        {
                            "name": "Hot",
                            "next": 3,
                            "groups": [
                                [{"output": "1.response", "operator": "contains", "value": "hot"}]
                            ],
                        }
                    ],
                    "none_next": 4,
                },
            },
            "3": {
                "type": "create_task",
                "config": {
                    "title": "Call {{ object.first_name }} ({{ actions.1.response }})",
                    "priority": "high",
                    "due_in": 2,
                    "due_unit": "days",
                    "assignee": "owner",
                },
                "next": 5,
            },
            "4": {
                "type": "set_property",
                "config": {"property": "lead_status", "value": "unqualified"},
            },
            "5": {"type": "delay", "config": {"amount": 1, "unit": "hours"}, "next": 6},
            "6": {
                "type": "set_property",
                "config": {
                    "property": "job_title",
                    "value": '{{ object.city | default:"somewhere" }}',
                },
            },
        },
    }


def test_a_multi_step_workflow_with_a_branch_runs_to_the_end(acme, rep_user):
    workflow = make_workflow(
        acme,
        branch_graph(rep_user),
        criteria=[[{"property": "first_name", "operator": "is_known"}]],
    )
    record = contact(acme, first_name="Ann", owner="rep")
    drain()
    # The delay made step 6 due an hour from now: nothing ran it yet.
    waiting = ActionExecution.objects.get(step_id=6)
    assert waiting.status == "pending" and waiting.due_at > timezone.now() + dt.timedelta(
        minutes=59
    )
    drain(now_shift=dt.timedelta(hours=1))
    enrollment = Enrollment.objects.get(workflow=workflow, record=record)
    assert enrollment.status == "completed"
    steps = dict(
        ActionExecution.objects.filter(enrollment=enrollment).values_list("step_id", "status")
    )
    assert steps == {1: "succeeded", 2: "succeeded", 3: "succeeded", 5: "succeeded", 6: "succeeded"}
    task = Task.objects.get(idempotency_key__startswith="exec:", title__startswith="Call")
    assert task.title == "Call Ann (Lead is HOT, call today)"
    assert task.assignee == rep_user and task.priority == "high"
    assert list(task.records.all()) == [record]
    record.refresh_from_db()
    assert record.properties["job_title"] == "somewhere"
    assert ActionExecution.objects.get(step_id=2).outputs == {"path": "Hot"}


def test_the_none_met_path_is_taken_when_no_branch_matches(acme, rep_user):
    graph = branch_graph(rep_user)
    graph["steps"]["1"]["config"]["response"] = "cold"
    make_workflow(acme, graph)
    record = contact(acme, first_name="Bo")
    drain()
    record.refresh_from_db()
    assert record.properties["lead_status"] == "unqualified"
    assert ActionExecution.objects.get(step_id=2).outputs == {"path": "none"}
    assert not ActionExecution.objects.filter(step_id=3).exists()


def test_a_redelivered_message_runs_the_action_once(acme, probe_log):
    make_workflow(acme, chain({"type": "test_probe", "config": {"log": str(probe_log)}}))
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    assert runner.execution_run(execution_id=execution.pk) == "completed"
    assert runner.execution_run(execution_id=execution.pk) == "not claimed"
    assert probe_log.read_text().count("\n") == 1
    assert Task.objects.filter(idempotency_key=f"exec:{execution.pk}").count() == 1


def test_a_transient_error_goes_back_to_pending_with_a_due_time(acme, probe_log):
    make_workflow(
        acme,
        chain(
            {
                "type": "test_probe",
                "config": {"fail": "transient", "fail_times": 1, "retry_after": 30},
            }
        ),
    )
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    assert runner.execution_run(execution_id=execution.pk) == "retry"
    execution.refresh_from_db()
    assert execution.status == "pending" and execution.attempt == 1
    assert execution.error == "The service is busy (503)."
    assert execution.due_at > timezone.now() + dt.timedelta(seconds=25)
    assert drain() == []  # not due yet
    assert drain(now_shift=dt.timedelta(seconds=30)) == ["completed"]


def test_after_the_last_attempt_it_fails_and_admins_are_told_once(acme, admin_user, settings):
    settings.WORKFLOWS_MAX_ATTEMPTS = 3
    make_workflow(acme, chain({"type": "test_probe", "config": {"fail": "crash", "fail_times": 9}}))
    contact(acme, first_name="Ann")
    contact(acme, first_name="Bob")
    results = drain(now_shift=dt.timedelta(hours=2))
    assert results.count("failed") == 2
    failed = ActionExecution.objects.filter(status="failed")
    assert failed.count() == 2
    assert all("Gave up after 3 attempts" in e.error and "boom" in e.error for e in failed)
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"failed"}
    assert Notification.objects.filter(recipient=admin_user).count() == 1


def test_a_permanent_error_fails_at_once_and_replay_never_duplicates_earlier_steps(
    acme, admin_user, probe_log, tmp_path
):
    fixed = tmp_path / "key-fixed"
    workflow = make_workflow(
        acme,
        chain(
            {"type": "create_task", "config": {"title": "First"}},
            {
                "type": "test_probe",
                "config": {"fail_while_missing": str(fixed), "log": str(probe_log)},
            },
            {"type": "create_task", "config": {"title": "Last"}},
        ),
    )
    contact(acme, first_name="Ann")
    drain()
    failed = ActionExecution.objects.get(status="failed")
    assert failed.step_id == 2 and failed.error == "The API key was revoked."
    assert Enrollment.objects.get().status == "failed"
    assert Notification.objects.filter(recipient=admin_user).exists()
    fixed.touch()  # someone fixed the key
    assert services.executions_replay(workflow=workflow) == 1
    drain()
    assert Enrollment.objects.get().status == "completed"
    assert sorted(Task.objects.values_list("title", flat=True)) == ["First", "Last", "probe 2"]
    assert ActionExecution.objects.get(step_id=2).replays == 1


def test_no_permit_postpones_without_counting_an_attempt(acme):
    make_workflow(
        acme,
        chain(
            {"type": "test_probe", "config": {"fail": "later", "fail_times": 1, "retry_after": 60}}
        ),
    )
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    assert runner.execution_run(execution_id=execution.pk) == "postponed"
    execution.refresh_from_db()
    assert execution.status == "pending" and execution.attempt == 0
    assert execution.due_at > timezone.now() + dt.timedelta(seconds=50)


def test_an_expired_lease_goes_back_to_pending_and_runs_again(acme, settings):
    settings.WORKFLOWS_MAX_ATTEMPTS = 2
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    # A worker claimed it and died.
    assert ledger.executions_claim_many(execution_ids=[execution.pk]) == [execution.pk]
    ActionExecution.objects.filter(pk=execution.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert sweeper.executions_sweep()["requeued"] == 1
    assert sweeper.executions_sweep()["requeued"] == 0  # a second sweeper changes nothing
    assert drain() == ["completed"]
    execution.refresh_from_db()
    assert execution.attempt == 2 and Task.objects.count() == 1


def test_a_death_in_a_batch_is_charged_to_no_step_and_its_rows_run_alone_next(acme, settings):
    """Poison-step guard: a worker that died holding a batch charges none of its rows;
    each is claimed alone next time (a batch claim skips them), and only a death while
    alone counts."""
    settings.WORKFLOWS_MAX_WORKER_DEATHS = 2
    heartbeat.release(heartbeat.held())  # this test process stands for a fresh worker
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    for name in ("Ann", "Bob", "Cy"):
        contact(acme, first_name=name)
    ids = sorted(ActionExecution.objects.values_list("pk", flat=True))

    def worker_dies():
        heartbeat.release(heartbeat.held())  # the process is gone, and what it held
        ActionExecution.objects.filter(status="running").update(
            lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        return ledger.leases_recover(timezone.now())

    for _death in range(3):  # more batch deaths than the guard allows
        assert sorted(ledger.executions_claim_many(execution_ids=ids, alone=False)) == ids
        assert worker_dies() == (3, 0)
        rows = ActionExecution.objects.filter(pk__in=ids)
        assert {(r.status, r.deaths, r.alone) for r in rows} == {("pending", 0, True)}
        # Marked alone: no batch claim takes them now, a claim of one does.
        assert ledger.executions_claim_many(execution_ids=ids, alone=False) == []
        assert ledger.executions_isolated(ids) == ids
        ActionExecution.objects.filter(pk__in=ids).update(alone=False)  # the next batch
    # A process holding two claims at once (a threads pool) holds neither alone.
    assert ledger.executions_claim_many(execution_ids=[ids[1]]) == [ids[1]]
    assert ledger.executions_claim_many(execution_ids=[ids[2]]) == [ids[2]]
    assert not ActionExecution.objects.filter(pk__in=ids, alone=True).exists()
    worker_dies()
    rows = ActionExecution.objects.filter(pk__in=ids[1:])
    assert {(r.status, r.deaths, r.alone) for r in rows} == {("pending", 0, True)}
    # Alone, a death is the step's own: counted, and at the limit the step fails.
    ActionExecution.objects.filter(pk__in=ids).update(alone=True)
    first = ids[0]
    for deaths, status in ((1, "pending"), (2, "failed")):
        assert ledger.executions_claim_many(execution_ids=[first]) == [first]
        worker_dies()
        row = ActionExecution.objects.get(pk=first)
        assert (row.status, row.deaths) == (status, deaths)
    assert "The worker stopped every time this step ran (2 times)" in row.error
    # The others run alone and complete; nothing was done twice.
    assert sorted(drain()) == ["completed", "completed"]
    assert Task.objects.count() == 2
    assert ActionExecution.objects.filter(pk__in=ids[1:], deaths=0, status="succeeded").count() == 2


def test_rate_limit_waits_and_worker_deaths_do_not_lengthen_the_backoff(acme, settings):
    """The backoff doubles with each backed-off retry of the step, not with its attempt
    number: a step rate-limited six times, then answered with a 500, waits the base."""
    settings.WORKFLOWS_BACKOFF_SECONDS = 10
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    for _limited in range(6):
        [pk] = ledger.executions_claim_many(execution_ids=[execution.pk])
        execution = ActionExecution.objects.get(pk=pk)
        ledger.execution_retry(
            execution=execution, message="429", retry_after=0, kind=Retry.RATE_LIMIT
        )
    ActionExecution.objects.filter(pk=execution.pk).update(deaths=2)

    def backoff_after_500() -> float:
        [pk] = ledger.executions_claim_many(execution_ids=[execution.pk])
        claimed = ActionExecution.objects.get(pk=pk)
        before = timezone.now()
        assert ledger.execution_retry(execution=claimed, message="500") == "retry"
        return (ActionExecution.objects.get(pk=pk).due_at - before).total_seconds()

    assert 4 <= backoff_after_500() <= 10.5  # the base, jittered (attempt 7)
    ActionExecution.objects.filter(pk=execution.pk).update(due_at=timezone.now())
    assert 9 <= backoff_after_500() <= 20.5  # doubled: the second backed-off retry


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owner(acme):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    assert ledger.executions_claim_many(execution_ids=[execution.pk]) == [execution.pk]
    stale = ActionExecution.objects.select_related("enrollment__version", "workflow").get(
        pk=execution.pk
    )
    ActionExecution.objects.filter(pk=execution.pk).update(
        status="pending", lease_expires_at=None
    )  # the sweeper took it back
    assert drain() == ["completed"]
    step = stale.enrollment.version.step(1)
    from workflows import registry

    action_type = registry.get("create_task")
    context = runner.context_build(stale, stale.enrollment.record, step, action_type)
    item = runner.Item(stale, step, action_type, context)
    assert runner.execution_complete(item) == ("lease lost", [])
    assert Task.objects.count() == 1


def test_unenrolling_cancels_pending_steps(acme):
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    contact(acme, first_name="Ann")
    services.enrollment_unenroll(enrollment=Enrollment.objects.get())
    assert drain() == []
    assert ActionExecution.objects.get().status == "cancelled"
    assert not Task.objects.exists()


def test_set_property_writes_through_crm_services_with_the_execution_key(acme):
    make_workflow(
        acme,
        chain(
            {
                "type": "set_property",
                "config": {"property": "job_title", "copy_from": "lifecycle_stage"},
            }
        ),
    )
    record = contact(acme, first_name="Ann", lifecycle_stage="lead")
    drain()
    record.refresh_from_db()
    assert record.properties["job_title"] == "Lead"
    execution = ActionExecution.objects.get()
    event = TimelineEvent.objects.get(kind="property_changed", source="workflow")
    assert event.idempotency_key == f"exec:{execution.pk}:job_title"


def test_set_property_refuses_incompatible_copies_when_saved(acme):
    with pytest.raises(ValidationError, match="cannot be copied"):
        make_workflow(
            acme,
            chain(
                {"type": "set_property", "config": {"property": "owner", "copy_from": "first_name"}}
            ),
        )


def test_a_graph_that_loops_is_refused(acme):
    graph = chain(
        {"type": "create_task", "config": {"title": "a"}},
        {"type": "create_task", "config": {"title": "b"}},
    )
    graph["steps"]["2"]["next"] = 1
    with pytest.raises(ValidationError, match="loop"):
        make_workflow(acme, graph)


def test_notifications_reach_each_recipient_once(acme, rep_user, admin_user):
    make_workflow(
        acme,
        chain(
            {
                "type": "send_notification",
                "config": {
                    "recipients": ["owner", admin_user.pk],
                    "subject": "New lead {{ object.first_name }}",
                    "body": "Say hi",
                },
            }
        ),
    )
    contact(acme, first_name="Ann", owner="rep")
    drain()
    notes = Notification.objects.filter(idempotency_key__startswith="exec:")
    assert sorted(n.recipient.username for n in notes) == ["admin", "rep"]
    assert {n.title for n in notes} == {"New lead Ann"}


def test_an_email_is_sent_once_even_if_the_step_runs_again(acme, rep_user, mailoutbox=None):
    from django.core import mail

    make_workflow(
        acme,
        chain(
            {
                "type": "send_email",
                "config": {
                    "recipients": [rep_user.pk],
                    "subject": "Hello",
                    "body": "{{ object.email }}",
                },
            }
        ),
    )
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    with _locmem_email():
        ledger.executions_claim_many(execution_ids=[execution.pk])
        from workflows import registry
        from workflows.models import EmailDelivery

        execution.refresh_from_db()
        action_type = registry.get("send_email")
        step = execution.enrollment.version.step(1)
        context = runner.context_build(execution, execution.enrollment.record, step, action_type)
        action_type.execute(context)  # a first delivery that died before completing
        ActionExecution.objects.filter(pk=execution.pk).update(status="pending")
        assert drain() == ["completed"]
        assert len(mail.outbox) == 1 and mail.outbox[0].body == "ann@example.com"
        assert EmailDelivery.objects.get().sent_at is not None


def _locmem_email():
    from django.test import override_settings

    return override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")


def test_one_action_runs_in_test_mode_without_touching_the_crm(acme):
    record = contact(acme, first_name="Ann")
    outputs = services.action_test_run(
        action_key="test_probe", config={"response": "Hi {{ object.first_name }}"}, record=record
    )
    assert outputs == {"response": "Hi Ann"}
    assert not Task.objects.exists()
    assert not ActionExecution.objects.exists()


def test_the_sweeper_resends_lost_wake_ups_once_and_leaves_future_steps_alone(acme, settings):
    settings.WORKFLOWS_RESEND_AFTER_SECONDS = 60
    make_workflow(
        acme,
        chain(
            {"type": "delay", "config": {"amount": 2, "unit": "hours"}},
            {"type": "create_task", "config": {"title": "T"}},
        ),
    )
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get()
    assert sweeper.executions_sweep()["sent"] == 0  # published on commit just now
    ActionExecution.objects.filter(pk=execution.pk).update(
        last_sent_at=timezone.now() - dt.timedelta(minutes=5)
    )  # that message was lost
    assert sweeper.executions_sweep()["sent"] == 1
    assert sweeper.executions_sweep()["sent"] == 0
    drain()
    delayed = ActionExecution.objects.get(step_id=2)
    assert delayed.last_sent_at is None and delayed.due_at > timezone.now()
    assert sweeper.executions_sweep()["sent"] == 0  # not due yet
    ActionExecution.objects.filter(pk=delayed.pk).update(due_at=timezone.now())
    assert sweeper.executions_sweep()["sent"] == 1


def test_an_action_can_release_its_database_connection_while_it_waits(acme, probe_log):
    from workflows.context import ExecutionContext

    record = contact(acme, first_name="Ann")
    context = ExecutionContext(account=acme, workflow=None, record=record, config={}, raw_config={})
    context.release_db_connection()  # inside the test's transaction: must not break it
    assert record.__class__.objects.filter(pk=record.pk).exists()
