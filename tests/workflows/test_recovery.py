"""Recovery on real Celery workers (issue 27): lease heartbeats, a killed or paused
worker, the poison-step guard and a stopping worker (SIGTERM).

Leases are 2 s and renewed every ~0.7 s by a live worker, the sweeper runs every
second; every wait polls for a state with a deadline, then asserts it.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from crm.models import Task
from tests.celery_worker import wait_for
from tests.workflows.conftest import chain, contact, make_workflow
from workflows.models import ActionExecution, Enrollment, FanOut

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE = 2.0
FAST = {
    "WORKFLOWS_LEASE_SECONDS": str(LEASE),
    "WORKFLOWS_HEARTBEAT_SECONDS": "0.5",
    "WORKFLOWS_SWEEP_SECONDS": "0.5",
    "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    "WORKFLOWS_BACKOFF_SECONDS": "0.5",
}
PROBE = ["tests.workflows.probe_actions"]


@pytest.fixture(autouse=True)
def fast_settings(settings):
    for name, value in FAST.items():
        setattr(settings, name, value)


def slow_probe(log, seconds: float) -> dict:
    return {"type": "test_probe", "config": {"log": str(log), "sleep": seconds}}


def started(log, count: int = 1):
    return lambda: log.exists() and len(log.read_text().splitlines()) >= count


def test_a_live_worker_keeps_a_step_longer_than_its_lease(acme, celery_worker, probe_log):
    make_workflow(acme, chain(slow_probe(probe_log, 3 * LEASE)))
    celery_worker(beat=True, include=PROBE, env=FAST)
    contact(acme, first_name="Ann")
    wait_for(lambda: Enrollment.objects.filter(status="completed").exists(), timeout=30)
    execution = ActionExecution.objects.get()
    # Three leases long, never taken over: the heartbeat renewed its lease.
    assert execution.attempt == 1 and execution.deaths == 0
    assert probe_log.read_text().splitlines() == [f"{execution.pk}:1"]


def test_a_killed_workers_step_runs_again_within_two_leases(acme, celery_worker, probe_log):
    make_workflow(acme, chain(slow_probe(probe_log, 60)))
    victim = celery_worker(include=PROBE, env=FAST)
    contact(acme, first_name="Bob")
    wait_for(started(probe_log), timeout=30, message="the long step to start")
    celery_worker(beat=True, include=PROBE, env=FAST)  # with the sweeper
    execution = ActionExecution.objects.get()
    victim.kill()
    killed_at = time.monotonic()
    assert ActionExecution.objects.get(pk=execution.pk).status == "running"
    wait_for(started(probe_log, 2), timeout=30, message="the killed worker's step to run again")
    assert time.monotonic() - killed_at < 2 * LEASE + 1.5  # not a speed target
    execution.refresh_from_db()
    assert execution.attempt == 2 and execution.deaths == 1


@pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="a dead worker is told by its PostgreSQL backend being gone",
)
def test_a_killed_workers_step_comes_back_long_before_its_lease(acme, celery_worker, probe_log):
    """PostgreSQL sees a killed worker's heartbeat connection close: its step is taken
    back after two missed beats, not after its 30 s lease."""
    env = {**FAST, "WORKFLOWS_LEASE_SECONDS": "30", "WORKFLOWS_HEARTBEAT_SECONDS": "1"}
    make_workflow(acme, chain(slow_probe(probe_log, 60)))
    victim = celery_worker(include=PROBE, env=env)
    contact(acme, first_name="Bob")
    wait_for(started(probe_log), timeout=30, message="the long step to start")
    wait_for(
        lambda: ActionExecution.objects.filter(owner__isnull=False).exists(),
        timeout=10,
        message="the heartbeat to set the step's owner",
    )
    celery_worker(beat=True, include=PROBE, env=env)  # with the sweeper
    victim.kill()
    killed_at = time.monotonic()
    wait_for(started(probe_log, 2), timeout=30, message="the killed worker's step to run again")
    assert time.monotonic() - killed_at < 12  # well within the 30 s lease; not a speed target
    execution = ActionExecution.objects.get()
    assert execution.attempt == 2 and execution.deaths == 1


def test_a_paused_worker_cannot_commit_over_the_new_owner(acme, celery_worker, probe_log):
    make_workflow(
        acme,
        chain(
            {
                "type": "test_probe",
                "config": {"log": str(probe_log), "sleep": 3 * LEASE, "sleep_on_attempt": 1},
            },
            {"type": "create_task", "config": {"title": "After {{ object.first_name }}"}},
        ),
    )
    paused = celery_worker(include=PROBE, env=FAST)
    contact(acme, first_name="Ann")
    wait_for(started(probe_log), timeout=30, message="the step to start")
    os.killpg(paused.process.pid, signal.SIGSTOP)
    try:
        celery_worker(beat=True, include=PROBE, env=FAST)
        wait_for(
            lambda: Enrollment.objects.filter(status="completed").exists(),
            timeout=30,
            message="the new owner to finish the run",
        )
    finally:
        os.killpg(paused.process.pid, signal.SIGCONT)
    execution = ActionExecution.objects.get(step_id=1)
    # The paused worker wakes up in the middle of its sleep, finishes its execute() and
    # tries to commit: its attempt is no longer the row's, so nothing of it is kept.
    time.sleep(3 * LEASE + 1)
    execution.refresh_from_db()
    assert execution.status == "succeeded" and execution.attempt == 2
    assert Task.objects.filter(title="probe 1").count() == 1
    assert Task.objects.filter(title="After Ann").count() == 1
    assert ActionExecution.objects.filter(step_id=2).count() == 1


def test_a_step_that_kills_its_worker_every_time_fails_after_three_deaths(
    acme, celery_worker, probe_log
):
    make_workflow(
        acme,
        chain(
            {"type": "test_probe", "config": {"log": str(probe_log), "kill_worker": True}},
            {"type": "create_task", "config": {"title": "Never"}},
        ),
    )
    celery_worker(beat=True, include=PROBE, env=FAST)
    contact(acme, first_name="Ann")
    wait_for(
        lambda: Enrollment.objects.filter(status="failed").exists(),
        timeout=60,
        message="the poison step to fail",
    )
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "failed" and execution.deaths == 3
    assert "The worker stopped every time this step ran (3 times)" in execution.error
    assert len(probe_log.read_text().splitlines()) == 3
    assert not Task.objects.filter(title="Never").exists()


def test_a_worker_killed_from_outside_as_often_as_the_guard_allows_fails_no_innocent_step(
    acme, celery_worker, probe_log
):
    """Poison-step guard: a worker SIGKILLed from outside three times (the guard's
    limit), each time while it runs one of two innocent steps, first as a batch, fails
    neither. The batch's death is charged to neither; each then runs alone, and a later
    death is charged to the one step it held, so neither reaches three."""
    from workflows import services

    for name in ("Ann", "Bob"):
        contact(acme, first_name=name)
    workflow = make_workflow(
        acme,
        chain(
            {
                "type": "test_probe_batchable",
                "config": {"log": str(probe_log), "sleep": 4, "sleep_until_attempt": 3},
            },
            {"type": "create_task", "config": {"title": "After {{ object.first_name }}"}},
        ),
        on=False,
    )
    services.workflow_turn_on(workflow=workflow)  # the sweeper sends both ids in one message
    worker = celery_worker(beat=True, include=PROBE, env=FAST, concurrency=1)
    wait_for(started(probe_log), timeout=30, message="the batch to start")
    batch = ActionExecution.objects.filter(step_id=1, status="running", attempt=1)
    assert batch.count() == 2, "both steps claimed as one batch"
    for kill in range(1, 4):
        worker.kill()
        if kill == 3:
            break
        worker = celery_worker(beat=True, include=PROBE, env=FAST, concurrency=1)
        wait_for(
            started(probe_log, kill + 1),
            timeout=90,  # not a speed target: a fresh worker on a loaded machine
            message=f"a step to run after kill {kill}",
        )
    # The third kill hit a step running alone too; a worker finishes both.
    celery_worker(beat=True, include=PROBE, env=FAST)
    wait_for(
        lambda: Enrollment.objects.filter(workflow=workflow, status="completed").count() == 2,
        timeout=90,
        message="both runs to complete",
    )
    steps = list(ActionExecution.objects.filter(workflow=workflow, step_id=1))
    assert {s.status for s in steps} == {"succeeded"}
    # Two deaths alone at most between them (the batch's was charged to neither).
    assert sum(s.deaths for s in steps) == 2 and max(s.deaths for s in steps) <= 2
    assert Task.objects.filter(title__in=["After Ann", "After Bob"]).count() == 2
    assert Task.objects.filter(title="probe 1").count() == 2


def test_a_worker_stopped_with_sigterm_finishes_its_step_claims_nothing_more_and_exits(
    acme, celery_worker, probe_log
):
    """A step shorter than the lease is finished; the next steps go to other workers;
    the process exits within the lease; every side effect exists once."""
    make_workflow(
        acme,
        chain(
            {"type": "test_probe", "config": {"log": str(probe_log), "sleep": 1.0}},
            {"type": "create_task", "config": {"title": "After {{ object.first_name }}"}},
        ),
    )
    stopping = celery_worker(include=PROBE, env=FAST, concurrency=1)
    for name in ("Ann", "Bob", "Cy"):
        contact(acme, first_name=name)
    wait_for(started(probe_log), timeout=30, message="the first step to start")
    os.kill(stopping.process.pid, signal.SIGTERM)
    # Celery's warm shutdown takes seconds on a loaded machine.
    stopping.process.wait(timeout=LEASE + 25)  # not a speed target
    assert not ActionExecution.objects.filter(status="running").exists(), stopping.log()
    celery_worker(beat=True, include=PROBE, env=FAST)
    wait_for(
        lambda: Enrollment.objects.filter(status="completed").count() == 3,
        timeout=60,
        message="every run to finish on the other worker",
    )
    assert Task.objects.filter(title="probe 1").count() == 3
    assert Task.objects.filter(title__startswith="After ").count() == 3
    runs = probe_log.read_text().splitlines()
    assert len(runs) == len(set(runs)) == 3  # none ran twice
    assert ActionExecution.objects.filter(deaths__gt=0).count() == 0


def contacts_bulk(account, count: int) -> None:
    from crm import services as crm
    from crm.models import ObjectType

    crm.records_bulk_create(
        account=account,
        object_type=ObjectType.CONTACT,
        rows=[{"email": f"p{i}@example.com", "first_name": f"P{i}"} for i in range(count)],
    )


def enrolled_once(workflow, count: int) -> None:
    records = list(Enrollment.objects.filter(workflow=workflow).values_list("record_id", flat=True))
    assert len(records) == len(set(records)) == count


def test_a_fan_out_whose_message_redis_lost_is_resumed_by_the_sweeper(acme, celery_worker):
    import redis

    from workflows import services

    contacts_bulk(acme, 200)
    workflow = make_workflow(
        acme, chain({"type": "create_task", "config": {"title": "T"}}), on=False
    )
    services.workflow_turn_on(workflow=workflow)  # its message waits in Redis: no worker
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    celery_worker(beat=True, include=PROBE, env={**FAST, "WORKFLOWS_FANOUT_WINDOW": "20"})
    wait_for(
        lambda: FanOut.objects.filter(workflow=workflow, finished_at__isnull=False).exists(),
        timeout=60,
        message="the sweeper to send the fan-out again",
    )
    enrolled_once(workflow, 200)
    fan_out = FanOut.objects.get(workflow=workflow)
    assert (fan_out.total, fan_out.done, fan_out.runs) == (200, 200, 1)


def test_a_fan_out_interrupted_by_a_killed_worker_resumes_from_its_cursor(acme, celery_worker):
    from workflows import services

    contacts_bulk(acme, 3000)
    workflow = make_workflow(
        acme, chain({"type": "create_task", "config": {"title": "T"}}), on=False
    )
    env = {**FAST, "WORKFLOWS_FANOUT_WINDOW": "10"}
    victim = celery_worker(include=PROBE, env=env, concurrency=1)
    services.workflow_turn_on(workflow=workflow)
    wait_for(
        lambda: FanOut.objects.filter(workflow=workflow, done__gt=0).exists(),
        timeout=60,
        interval=0.02,
        message="the fan-out to start",
    )
    victim.kill()
    stopped = FanOut.objects.get(workflow=workflow)
    assert stopped.finished_at is None and stopped.cursor > 0
    celery_worker(beat=True, include=PROBE, env=env)
    wait_for(
        lambda: FanOut.objects.filter(workflow=workflow, finished_at__isnull=False).exists(),
        timeout=120,
        message="the fan-out to resume and finish",
    )
    enrolled_once(workflow, 3000)
    fan_out = FanOut.objects.get(workflow=workflow)
    assert fan_out.done == 3000 and fan_out.runs == 2
