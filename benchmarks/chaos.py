"""Chaos run of the workflow ledger: nothing lost, nothing done twice, recovery in seconds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/engine_chaos_bench \
    .venv/bin/python benchmarks/chaos.py --enrollments 2000

Workload `ask` (default, issue 27): a qualify-style workflow, Ask OpenAI assistant (the
Lead qualifier, structured) → Create task, on --enrollments contacts enrolled in bulk,
the OpenAI simulator behind the real SDK answering --rate-429 (20 %) 429s and
--rate-500 (5 %) 500s at --latency (1 s); a prefork `default` worker and a threaded
`assistant` worker (as `crmflow worker` / `crmflow assistant-worker` run them), --workers
of each. Workload `actions`: Create task → Set property value → Send in-app
notification, --workers prefork workers.

Every --kill-every seconds, for --kill-for seconds at most (and while work is left), one
worker process group is SIGKILLed and started again (only workers up for --min-uptime
seconds are picked); once, a third of the way through, the Redis server is killed and
restarted empty (every queued message lost). Only 127.0.0.1: it starts its OWN
redis-server and simulator on free ports (REDIS_URL is ignored) and needs a PostgreSQL
database whose name ends in `_bench` (dropped and created again). Bounded by --timeout.

Prints ONE JSON summary: lost (enrollments not completed at the end; target 0),
duplicated side effects (extra tasks, property writes, notifications or OpenAI usage rows
for one enrollment; target 0), failed executions (target 0), drain time after the last
kill (target ≤ 60 s) and, for `ask`, the share of calls paid twice: responses the
simulator created (`POST /v1/responses` answered 200, each one billed by OpenAI whether
or not its worker lived to commit it) beyond one per succeeded step, over the succeeded
steps (target ≤ 1 %). `--openai-store off` (default): the calls are sent with
`store: false`, and a killed worker's calls in flight are paid again; `on`: the
account lets OpenAI keep responses (Settings › AI data), each call is a background
response whose id the step commits before awaiting it (docs/engine.md, "Paid twice");
the fault mix then also hits the polls (`GET /v1/responses/{id}`, free; reported as
`simulator_polls`). Every --snapshot-every seconds (stderr) and right after the last
kill (`ledger_at_last_kill`), where the unfinished steps are: what a tail is made of.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine as bench  # benchmarks/engine.py: shared process helpers

from config.embedded_redis import free_port, start_redis

KEY = "sk-chaos-000000000000000000000000000000000000000chaos"
TEXTS = [
    "Pricing for 200 seats and a demo this quarter: we have budget.",
    "Some information about your integrations.",
    "I'm a student, just browsing.",
]


def simulator_start(workdir: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    """The OpenAI simulator with the fault mix on /v1/responses; returns (process, its
    /v1 base URL)."""
    port = free_port()
    config = workdir / "simulator.json"
    config.write_text(
        json.dumps(
            {
                "seed": 7,
                "latency": args.latency,
                "request_log_size": 1_000_000,
                "keys": [{"key": KEY, "name": "chaos", "rpm": 10_000_000, "tpm": 10_000_000_000}],
                "faults": [
                    {
                        "path_prefix": "/v1/responses",
                        "error_429": args.rate_429,
                        "error_500": args.rate_500,
                    }
                ],
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "openai_simulator", "--port", str(port), "--config", str(config)],
        cwd=bench.BASE_DIR,
        stdout=(workdir / "simulator.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    admin = f"http://127.0.0.1:{port}/_sim"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{admin}/requests?limit=1", timeout=2).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}/v1"


def simulator_answers(base_url: str, method: str = "POST") -> dict[int, int]:
    """{HTTP status: requests} the simulator logged for the benchmark's key on
    /v1/responses with `method`: POST creates a response (each 200 billed, read or
    not), GET polls a background one (free)."""
    admin = base_url.removesuffix("/v1") + "/_sim"
    query = f"key=chaos&path_prefix=/v1/responses&method={method}&limit=1000000"
    with urllib.request.urlopen(f"{admin}/requests?{query}", timeout=120) as r:
        rows = json.loads(r.read())["data"]
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def ledger_snapshot(workflow_id: int) -> dict:
    """Where the unfinished steps are (what the tail after the last kill is made of):
    per action type and status, pending rows by how far their due time is, running rows
    whose lease expired, rows marked `alone`, and attempts so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action_type, status, count(*), "
            "count(*) FILTER (WHERE status = 'pending' AND due_at <= now()), "
            "count(*) FILTER (WHERE status = 'pending' AND due_at > now() "
            "AND due_at <= now() + interval '10 seconds'), "
            "count(*) FILTER (WHERE status = 'pending' AND due_at > now() + interval '10 seconds'), "
            "max(extract(epoch FROM due_at - now())) FILTER (WHERE status = 'pending'), "
            "count(*) FILTER (WHERE status = 'running' AND lease_expires_at < now()), "
            "count(*) FILTER (WHERE alone), max(attempt), "
            "count(*) FILTER (WHERE status = 'pending' AND last_sent_at IS NULL) "
            "FROM workflows_actionexecution WHERE workflow_id = %s "
            "AND status NOT IN ('succeeded', 'skipped', 'cancelled') GROUP BY 1, 2 ORDER BY 1, 2",
            [workflow_id],
        )
        rows = cursor.fetchall()
    return {
        f"{action.split('_')[0]}:{status}": {
            "n": n,
            **({"due_now": now_, "due_10s": soon, "later": later} if status == "pending" else {}),
            **({"furthest_s": round(float(far or 0), 1)} if status == "pending" else {}),
            **({"unsent": unsent} if status == "pending" else {}),
            **({"lease_expired": expired} if status == "running" else {}),
            "alone": alone,
            "max_attempt": attempt,
        }
        for action, status, n, now_, soon, later, far, expired, alone, attempt, unsent in rows
    }


def ask_workflow(account, *, openai_store: bool = False):
    """The qualify-style workflow: the Lead qualifier rates the contact, then a task.
    `openai_store`: the account lets OpenAI keep responses (Settings › AI data), so
    each call is a background response whose id the step records before waiting."""
    from django.db import connection
    from django.utils import timezone

    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai.demo import (
        LEAD_QUALIFIER_FIELDS,
        LEAD_QUALIFIER_INSTRUCTIONS,
        workspace_assistant_ensure,
    )
    from marketplace.models import Connection
    from workflows import services

    account.ai_openai_store = openai_store
    account.save(update_fields=["ai_openai_store"])
    Connection.objects.create(
        account=account,
        app="openai",
        encrypted_secret=secret_encrypt(KEY),
        secret_mask=secret_mask(KEY),
        secret_fingerprint=secret_fingerprint(KEY),
        status="connected",
        available_models=["gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1"],
        connected_at=timezone.now(),
    )
    qualifier = workspace_assistant_ensure(
        account, "Lead qualifier", LEAD_QUALIFIER_INSTRUCTIONS, fields=LEAD_QUALIFIER_FIELDS
    )
    with connection.cursor() as cursor:
        for index, text in enumerate(TEXTS):
            cursor.execute(
                "UPDATE crm_record SET properties = properties || jsonb_build_object("
                "'looking_for', %s::text) WHERE account_id = %s AND object_type = 'contact' "
                "AND id %% 3 = %s",
                [text, account.pk, index],
            )
    return services.workflow_create(
        account=account,
        object_type="contact",
        name="Chaos (Ask)",
        criteria=[[{"property": "email", "operator": "is_known"}]],
        graph={
            "start": 1,
            "steps": {
                "1": {
                    "type": "ask_openai_assistant",
                    "config": {
                        "assistant": qualifier.choice_value,
                        "prompt": "{{ object.first_name }}: {{ object.looking_for }}",
                    },
                    "next": 2,
                },
                "2": {
                    "type": "create_task",
                    "config": {
                        "title": "{{ actions.1.rating }} lead {{ object.email }}",
                        "assignee": "owner",
                    },
                    "next": None,
                },
            },
        },
    )


def actions_workflow(account):
    from workflows import services

    return services.workflow_create(
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


def assistant_worker_command(name: str, threads: int) -> list[str]:
    """As `crmflow assistant-worker` runs it: threads, the assistant and sweep queues."""
    command = bench.worker_command(name, threads, "threads", level="INFO")
    command[command.index("-Q") + 1] = "assistant,sweep"
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=("ask", "actions"), default="ask")
    parser.add_argument("--enrollments", type=int, default=2_000)
    parser.add_argument(
        "--min-uptime",
        type=float,
        default=10.0,
        help="only kill a worker that has been ready this long (it must get "
        "some work done between kills on a slow machine)",
    )
    parser.add_argument("--workers", type=int, default=2, help="of each kind")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork processes")
    parser.add_argument("--threads", type=int, default=8, help="assistant worker threads")
    parser.add_argument("--kill-every", type=float, default=7.5)
    parser.add_argument("--kill-for", type=float, default=250.0)
    parser.add_argument("--latency", default="fixed:1000", help="simulator latency")
    parser.add_argument("--rate-429", type=float, default=0.20)
    parser.add_argument("--rate-500", type=float, default=0.05)
    parser.add_argument(
        "--group-seconds",
        type=float,
        default=None,
        help="OPENAI_GROUP_SECONDS for the workers (how long answers wait to commit together)",
    )
    parser.add_argument(
        "--openai-store",
        choices=("off", "on"),
        default="off",
        help="ask: off, calls sent with store: false (a killed worker's calls in flight "
        "are paid again); on, the account lets OpenAI keep responses: background "
        "responses whose ids are committed before their answers are awaited",
    )
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--snapshot-every",
        type=float,
        default=15.0,
        help="print where the unfinished steps are every this many seconds (0: never)",
    )
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
    # One secret and one encryption key for this process and the workers it starts.
    os.environ.update({k: env[k] for k in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS")})
    env.update(
        {
            "REDIS_URL": os.environ["REDIS_URL"],
            # The default lease (30 s, kept alive by the heartbeat); a quick sweeper.
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "WORKFLOWS_RESEND_AFTER_SECONDS": "10",
            "WORKFLOWS_SWEEP_BATCH": "2000",
        }
    )
    simulator = None
    if args.workload == "ask":
        simulator, base_url = simulator_start(workdir, args)
        atexit.register(simulator.kill)  # also when the run fails half-way
        env.update({"OPENAI_BASE_URL": base_url, "OPENAI_ASSISTANT_DEADLINE_SECONDS": "20"})
        if args.group_seconds is not None:
            env["OPENAI_GROUP_SECONDS"] = str(args.group_seconds)
        os.environ["OPENAI_BASE_URL"] = base_url
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=bench.BASE_DIR, env=env, check=True
    )
    bench.django_setup()
    from django.db import connection

    from crm.models import Notification, Task, TimelineEvent
    from marketplace.integrations.openai.models import AssistantUsage
    from workflows import services
    from workflows.models import ActionExecution, Enrollment

    account = bench.account_with_contacts(args.enrollments)
    if args.workload == "ask":
        workflow = ask_workflow(account, openai_store=args.openai_store == "on")
    else:
        workflow = actions_workflow(account)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    enrolled = services.workflow_enroll_existing_now(workflow=workflow)
    bench.say(f"enrolled {enrolled}")

    kinds = ["default"] * args.workers
    if args.workload == "ask":
        kinds += ["assistant"] * args.workers
    logs: list[Path] = [workdir] * len(kinds)

    def worker(i: int):
        logs[i] = workdir / f"worker{i}-{time.monotonic_ns()}.log"  # one per incarnation
        command = (
            assistant_worker_command(f"chaos{i}", args.threads)
            if kinds[i] == "assistant"
            else bench.worker_command(f"chaos{i}", args.concurrency, "prefork", level="INFO")
        )
        return bench.start(command, env, logs[i])

    def ready_since(i: int) -> float | None:
        """When worker i logged that it is consuming (None: not yet)."""
        if ready[i] is None and " ready." in logs[i].read_text(errors="replace"):
            ready[i] = time.monotonic()
        return ready[i]

    workers = [worker(i) for i in range(len(kinds))]
    ready: list[float | None] = [None] * len(kinds)
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
    next_snapshot = started + args.snapshot_every
    snapshots: list[dict] = []
    at_last_kill: dict = {}
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
            if now >= next_kill and grown and now - started < args.kill_for:
                victim = rng.choice(grown)
                os.killpg(workers[victim].pid, signal.SIGKILL)
                workers[victim].wait(10)
                workers[victim] = worker(victim)
                ready[victim] = None
                kills += 1
                last_kill = time.monotonic()
                next_kill = now + args.kill_every
                bench.say(f"kill {kills} ({kinds[victim]}), {left} enrollments left")
                at_last_kill = {"left": left, **ledger_snapshot(workflow.pk)}
            if args.snapshot_every and now >= next_snapshot:
                next_snapshot = now + args.snapshot_every
                snapshot = {"t": round(now - started), "left": left, **ledger_snapshot(workflow.pk)}
                snapshots.append(snapshot)
                bench.say(json.dumps(snapshot))
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
    steps = ActionExecution.objects.filter(workflow=workflow)
    asks = steps.filter(action_type="ask_openai_assistant", status="succeeded").count()
    if args.workload == "ask":
        usage = AssistantUsage.objects.filter(workflow=workflow).count()
        duplicates["openai_usage_rows"] = max(usage - asks, 0)
    completed = Enrollment.objects.filter(workflow=workflow, status="completed").count()
    failed = steps.filter(status="failed")
    summary: dict = {
        "benchmark": "chaos",
        "workload": args.workload,
        "enrollments": enrolled,
        "workers": len(kinds),
        "group_seconds": args.group_seconds,
        "openai_store": args.openai_store if args.workload == "ask" else None,
        "worker_kills": kills,
        "redis_restarted": redis_restarted,
        "completed": completed,
        # Only meaningful once drained; a timed-out run reports what was still in progress.
        "lost": enrolled - completed if drained_at else None,
        "not_finished_at_timeout": 0 if drained_at else enrolled - completed,
        "failed_executions": failed.count(),
        "failed_errors": sorted({e[:80] for e in failed.values_list("error", flat=True)})[:5],
        "duplicated_side_effects": sum(duplicates.values()),
        "duplicates_by_kind": duplicates,
        "tasks": Task.objects.filter(account=account).count(),
        "property_writes": TimelineEvent.objects.filter(
            account=account, source="workflow", kind="property_changed"
        ).count(),
        "notifications": Notification.objects.filter(
            account=account, idempotency_key__startswith="exec:"
        ).count(),
        "worker_deaths_charged": sum(steps.values_list("deaths", flat=True)),
        "drain_seconds": round(drained_at - started, 1) if drained_at else None,
        "drain_after_last_kill_seconds": round(drained_at - last_kill, 1)
        if drained_at and last_kill
        else None,
        "timed_out": drained_at is None,
        # Where the unfinished steps were right after the last kill (the tail's make-up).
        "ledger_at_last_kill": at_last_kill,
        "load_average_1m": {
            "min": round(min(loads), 1),
            "max": round(max(loads), 1),
            "mean": round(sum(loads) / len(loads), 1),
        },
    }
    if args.workload == "ask" and simulator is not None:
        answers = simulator_answers(env["OPENAI_BASE_URL"])
        polls = simulator_answers(env["OPENAI_BASE_URL"], "GET")
        simulator.kill()
        paid = answers.get(200, 0)
        summary.update(
            {
                "simulator_answers": {str(k): v for k, v in sorted(answers.items())},
                "simulator_polls": {str(k): v for k, v in sorted(polls.items())},
                "ask_steps_succeeded": asks,
                "calls_paid_twice": max(paid - asks, 0),
                "paid_twice_share": round(max(paid - asks, 0) / asks, 4) if asks else None,
            }
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
