"""Chaos run of the workflow ledger: nothing lost, nothing done twice.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/engine_chaos_bench \
    .venv/bin/python benchmarks/chaos.py --enrollments 10000

Enrolls --enrollments contacts in a 3-action workflow (Create task → Set property value
→ Send in-app notification) and drains it with --workers Celery workers and one beat
(the sweeper), while every --kill-every seconds one worker is SIGKILLed (and started
again; only workers up for --min-uptime seconds are picked), and once, a third of the
way through, the Redis server is killed and restarted empty (every queued message
lost). Only 127.0.0.1: it starts its OWN redis-server on a
free port (REDIS_URL is ignored) and needs a PostgreSQL database whose name ends in
`_bench` (dropped and created again). Bounded by --timeout.

Prints ONE JSON summary: lost (enrollments not completed at the end; target 0),
duplicated side effects (extra tasks, property writes or notifications for one
enrollment; target 0), failed executions, time to drain.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine as bench  # benchmarks/engine.py: shared process helpers

from config.embedded_redis import free_port, start_redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enrollments", type=int, default=10_000)
    parser.add_argument(
        "--min-uptime",
        type=float,
        default=10.0,
        help="only kill a worker that has been ready this long (it must get "
        "some work done between kills on a slow machine)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    workdir = Path(tempfile.mkdtemp(prefix="crmflow-chaos-"))
    port = free_port()
    redis_server = start_redis(port, workdir / "redis")
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    bench.database_recreate(url)
    env = bench.base_env()
    env.update(
        {
            "REDIS_URL": os.environ["REDIS_URL"],
            # The default lease (30 s, kept alive by the heartbeat); a quick sweeper.
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "WORKFLOWS_RESEND_AFTER_SECONDS": "10",
            "WORKFLOWS_SWEEP_BATCH": "2000",
        }
    )
    import subprocess

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=bench.BASE_DIR, env=env, check=True
    )
    bench.django_setup()
    from django.db import connection

    from crm.models import Notification, Task, TimelineEvent
    from workflows import services
    from workflows.models import ActionExecution, Enrollment

    account = bench.account_with_contacts(args.enrollments)
    workflow = services.workflow_create(
        account=account,
        object_type="contact",
        name="Chaos",
        criteria=[[{"property": "email", "operator": "is_known"}]],
        graph={
            "start": 1,
            "steps": {
                "1": {
                    "type": "create_task",
                    "config": {"title": "Call {{ object.first_name }}", "assignee": "owner"},
                    "next": 2,
                },
                "2": {
                    "type": "set_property",
                    "config": {"property": "lead_status", "value": "connected"},
                    "next": 3,
                },
                "3": {
                    "type": "send_notification",
                    "config": {
                        "recipients": ["owner"],
                        "subject": "{{ object.email }} is connected",
                    },
                    "next": None,
                },
            },
        },
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    enrolled = services.workflow_enroll_existing_now(workflow=workflow)
    bench.say(f"enrolled {enrolled}")

    logs: list[Path] = [workdir] * args.workers

    def worker(i: int):
        logs[i] = workdir / f"worker{i}-{time.monotonic_ns()}.log"  # one per incarnation
        return bench.start(
            bench.worker_command(f"chaos{i}", args.concurrency, "prefork", level="INFO"),
            env,
            logs[i],
        )

    def ready_since(i: int) -> float | None:
        """When worker i logged that it is consuming (None: not yet)."""
        if ready[i] is None and " ready." in logs[i].read_text(errors="replace"):
            ready[i] = time.monotonic()
        return ready[i]

    workers = [worker(i) for i in range(args.workers)]
    ready: list[float | None] = [None] * args.workers
    beat = bench.start(bench.beat_command(workdir), env, workdir / "beat.log")
    rng = random.Random(1)
    loads = [os.getloadavg()[0]]
    kills = 0
    last_kill = None
    redis_restarted = False
    started = time.monotonic()
    next_kill = started + args.kill_every
    remaining = Enrollment.objects.filter(workflow=workflow, status=Enrollment.Status.ACTIVE)
    drained_at = None
    try:
        while time.monotonic() - started < args.timeout:
            time.sleep(0.5)
            loads.append(os.getloadavg()[0])
            left = remaining.count()
            if left == 0:
                drained_at = time.monotonic()
                break
            now = time.monotonic()
            grown = [
                i for i in range(len(workers)) if (ready_since(i) or now) <= now - args.min_uptime
            ]
            if now >= next_kill and grown:
                victim = rng.choice(grown)
                os.killpg(workers[victim].pid, signal.SIGKILL)
                workers[victim].wait(10)
                workers[victim] = worker(victim)
                ready[victim] = None
                kills += 1
                last_kill = time.monotonic()
                next_kill = now + args.kill_every
            if not redis_restarted and left < enrolled * 2 / 3:
                bench.say(f"restarting Redis with {left} enrollments left")
                redis_server.kill()
                redis_server.wait(10)
                redis_server = start_redis(port, workdir / "redis")
                redis_restarted = True
    finally:
        for process in [*workers, beat]:
            bench.stop(process)
        redis_server.kill()

    def extra(sql: str) -> int:
        """Rows beyond the first per group: side effects done more than once."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT coalesce(sum(n - 1), 0) FROM ({sql}) counts", [account.pk])
            return int(cursor.fetchone()[0])

    duplicates = {
        "tasks": extra(
            "SELECT count(*) n FROM crm_task_records r JOIN crm_task t "
            "ON t.id = r.task_id WHERE t.account_id = %s GROUP BY r.record_id"
        ),
        "property_writes": extra(
            "SELECT count(*) n FROM crm_timelineevent WHERE account_id = %s "
            "AND source = 'workflow' AND kind = 'property_changed' "
            "GROUP BY record_id"
        ),
        "notifications": extra(
            "SELECT count(*) n FROM crm_notification WHERE account_id = %s "
            "AND idempotency_key LIKE 'exec:%%' GROUP BY url, recipient_id"
        ),
    }
    completed = Enrollment.objects.filter(workflow=workflow, status="completed").count()
    summary = {
        "benchmark": "chaos",
        "enrollments": enrolled,
        "actions": enrolled * 3,
        "workers": args.workers,
        "worker_kills": kills,
        "redis_restarted": redis_restarted,
        "completed": completed,
        # Only meaningful once drained; a timed-out run reports what was still in progress.
        "lost": enrolled - completed if drained_at else None,
        "not_finished_at_timeout": 0 if drained_at else enrolled - completed,
        "failed_executions": ActionExecution.objects.filter(
            workflow=workflow, status="failed"
        ).count(),
        "duplicated_side_effects": sum(duplicates.values()),
        "duplicates_by_kind": duplicates,
        "tasks": Task.objects.filter(account=account).count(),
        "property_writes": TimelineEvent.objects.filter(
            account=account, source="workflow", kind="property_changed"
        ).count(),
        "notifications": Notification.objects.filter(
            account=account, idempotency_key__startswith="exec:"
        ).count(),
        "drain_seconds": round(drained_at - started, 1) if drained_at else None,
        "drain_after_last_kill_seconds": round(drained_at - last_kill, 1)
        if drained_at and last_kill
        else None,
        "actions_per_second": round(enrolled * 3 / (drained_at - started), 1)
        if drained_at
        else None,
        "timed_out": drained_at is None,
        "load_average_1m": {
            "min": round(min(loads), 1),
            "max": round(max(loads), 1),
            "mean": round(sum(loads) / len(loads), 1),
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
