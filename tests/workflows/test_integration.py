"""The ledger on real Celery worker processes and a real Redis (no eager mode).

Timings are shortened through the workers' environment (lease 3 s, sweep every 1 s,
re-send after 2 s); every wait polls for a state with a deadline, then asserts it.
"""

from __future__ import annotations

import os

import pytest
import redis
from django.db import connection

from crm.models import Task
from tests.celery_worker import wait_for
from tests.workflows.conftest import chain, contact, make_workflow
from workflows.engine.publish import RUN_TASK
from workflows.models import ActionExecution, Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {
    "WORKFLOWS_LEASE_SECONDS": "3",
    "WORKFLOWS_SWEEP_SECONDS": "1",
    "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    "WORKFLOWS_BACKOFF_SECONDS": "0.5",
}
PROBE = ["tests.workflows.probe_actions"]


@pytest.fixture(autouse=True)
def fast_settings(settings):
    for name, value in FAST.items():
        setattr(settings, name, value)


def all_done(count: int):
    return lambda: Enrollment.objects.filter(status="completed").count() == count


def test_a_multi_step_workflow_with_a_branch_runs_to_the_end_on_a_worker(
    acme, rep_user, celery_worker
):
    celery_worker(beat=True, include=PROBE, env=FAST)
    make_workflow(
        acme,
        {
            "start": 1,
            "steps": {
                "1": {"type": "test_probe", "config": {"response": "HOT lead"}, "next": 2},
                "2": {
                    "type": "branch",
                    "config": {
                        "paths": [
                            {
                                "name": "Hot",
                                "next": 3,
                                "groups": [
                                    [
                                        {
                                            "output": "1.response",
                                            "operator": "contains",
                                            "value": "hot",
                                        }
                                    ]
                                ],
                            }
                        ],
                        "none_next": None,
                    },
                },
                "3": {"type": "delay", "config": {"amount": 0, "unit": "minutes"}, "next": 4},
                "4": {
                    "type": "create_task",
                    "config": {"title": "Call {{ object.first_name }}", "assignee": "owner"},
                    "next": 5,
                },
                "5": {
                    "type": "set_property",
                    "config": {"property": "lead_status", "value": "connected"},
                },
            },
        },
    )
    record = contact(acme, first_name="Ann", owner="rep")
    wait_for(all_done(1), timeout=60, message="the enrollment to complete")
    statuses = list(ActionExecution.objects.order_by("step_id").values_list("step_id", "status"))
    assert statuses == [
        (1, "succeeded"),
        (2, "succeeded"),
        (3, "succeeded"),
        (4, "succeeded"),
        (5, "succeeded"),
    ]
    assert Task.objects.get(title="Call Ann").assignee == rep_user
    record.refresh_from_db()
    assert record.properties["lead_status"] == "connected"


def test_a_message_delivered_twice_runs_the_action_once(acme, celery_worker, probe_log):
    make_workflow(acme, chain({"type": "test_probe", "config": {"log": str(probe_log)}}))
    contact(acme, first_name="Ann")  # publishes one wake-up on commit
    execution = ActionExecution.objects.get()
    from config.celery import app

    for _ in range(2):  # and two more, as a redelivery would
        app.send_task(RUN_TASK, args=[execution.pk], queue="default")
    worker = celery_worker(include=PROBE, env=FAST)
    wait_for(all_done(1), timeout=30, message="the enrollment to complete")
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    wait_for(lambda: broker.llen("default") == 0, timeout=15, message="the queue to drain")
    wait_for(
        lambda: worker.log().count("'not claimed'") == 2,
        timeout=15,
        message="the duplicates to be seen",
    )
    assert probe_log.read_text().splitlines() == [f"{execution.pk}:1"]
    assert Task.objects.filter(idempotency_key=f"exec:{execution.pk}").count() == 1


def test_a_worker_killed_mid_action_leaves_work_the_sweeper_finishes(
    acme, celery_worker, probe_log
):
    first = celery_worker(include=PROBE, env=FAST)
    make_workflow(
        acme,
        chain(
            {
                "type": "test_probe",
                "config": {"log": str(probe_log), "sleep": 120, "sleep_on_attempt": 1},
            },
            {"type": "create_task", "config": {"title": "After the crash"}},
        ),
    )
    contact(acme, first_name="Ann")
    execution = ActionExecution.objects.get(step_id=1)
    wait_for(
        lambda: probe_log.exists() and probe_log.read_text(),
        timeout=30,
        message="the action to start",
    )
    first.kill()
    assert ActionExecution.objects.get(pk=execution.pk).status == "running"
    celery_worker(beat=True, include=PROBE, env=FAST)  # with beat: the sweeper
    wait_for(all_done(1), timeout=60, message="the sweeper to recover the run")
    execution.refresh_from_db()
    assert execution.status == "succeeded" and execution.attempt == 2
    assert probe_log.read_text().splitlines() == [f"{execution.pk}:1", f"{execution.pk}:2"]
    assert Task.objects.filter(idempotency_key=f"exec:{execution.pk}").count() == 1
    assert Task.objects.filter(title="After the crash").count() == 1


def test_flushing_redis_mid_run_loses_nothing(acme, celery_worker, probe_log):
    celery_worker(beat=True, include=PROBE, env=FAST, concurrency=1)
    make_workflow(
        acme,
        chain(
            {
                "type": "test_probe",
                "config": {"log": str(probe_log), "sleep": 0.5, "sleep_on_attempt": 1},
            },
            {"type": "create_task", "config": {"title": "Step 2"}},
        ),
    )
    for name in ("Ann", "Bob", "Cy", "Di", "Ed", "Flo"):
        contact(acme, first_name=name)
    wait_for(
        lambda: probe_log.exists() and probe_log.read_text(),
        timeout=30,
        message="the first action to start",
    )
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # queued wake-ups are gone
    wait_for(all_done(6), timeout=90, message="every enrollment to complete")
    assert Task.objects.filter(title="Step 2").count() == 6
    assert Task.objects.filter(title="probe 1").count() == 6
    runs = probe_log.read_text().splitlines()
    assert len(runs) == len(set(runs)) == 6  # each ran once


def test_a_bulk_enrollment_drains_in_batches_and_a_killed_batch_is_finished_once(
    acme, celery_worker, probe_log
):
    """Turning a workflow on enrolls 60 contacts in bulk; the sweeper publishes their ids
    in batches and the workers claim further due rows themselves. A worker is SIGKILLed
    in the middle of a batch: its claimed rows come back after the lease, and every
    execution's side effect exists once."""
    from workflows import services

    for number in range(60):
        contact(acme, first_name=f"C{number}")
    workflow = make_workflow(
        acme,
        chain(
            {
                "type": "test_probe_batchable",
                "config": {"log": str(probe_log), "sleep": 0.3, "sleep_on_attempt": 1},
            },
            {"type": "create_task", "config": {"title": "After {{ object.first_name }}"}},
        ),
        on=False,
    )
    env = {**FAST, "WORKFLOWS_BATCH_SIZE": "20"}
    first = celery_worker(include=PROBE, env=env, concurrency=1)
    services.workflow_turn_on(workflow=workflow)  # the bulk enrollment runs on the worker
    wait_for(
        lambda: probe_log.exists() and len(probe_log.read_text().splitlines()) >= 3,
        timeout=60,
        message="a batch to start",
    )
    first.kill()
    assert ActionExecution.objects.filter(status="running").exists()
    second = celery_worker(beat=True, include=PROBE, env=env)
    wait_for(all_done(60), timeout=120, message="every enrollment to complete")
    assert Task.objects.filter(title__startswith="After ").count() == 60
    assert Task.objects.filter(title="probe 1").count() == 60
    assert not ActionExecution.objects.exclude(status="succeeded").exists()
    assert "workflows.run_executions" in first.log() + second.log()
    # Each execution's side effects once, whatever ran twice.
    keys = list(Task.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys)) == 120


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL backends")
def test_a_worker_keeps_its_database_connection_from_task_to_task(acme, celery_worker, tmp_path):
    """As the web between requests (CONN_MAX_AGE): Celery's Django fix-up would open a
    new PostgreSQL backend for every task (ops/db.py)."""
    backends = tmp_path / "backends.log"
    make_workflow(acme, chain({"type": "test_probe", "config": {"log_backend": str(backends)}}))
    for name in ("Ann", "Bob", "Cy", "Di"):
        contact(acme, first_name=name)  # one wake-up message each (not batchable)
    celery_worker(include=PROBE, env=FAST, concurrency=1)
    wait_for(all_done(4), timeout=60, message="every enrollment to complete")
    pids = backends.read_text().split()
    assert len(pids) == 4
    assert len(set(pids)) == 1
