"""What waiting for approval costs, and how fast a bulk approval sends.

    .venv/bin/python benchmarks/approvals.py
    .venv/bin/python benchmarks/approvals.py --waiting 10000 --approve 1000 --workers 2
    .venv/bin/python benchmarks/approvals.py --workers 0 --profile /tmp/approvals.prof
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/approvals_bench \
      .venv/bin/python benchmarks/approvals.py

SQLite in a temporary directory, or the PostgreSQL database DATABASE_URL names (its
name must end in `_bench`: it is dropped and created again); an embedded Redis, a local
SMTP server (aiosmtpd on 127.0.0.1 in this process). A workflow "Wait for approval (the owner) → Send email to
the contact" enrolls --waiting contacts; each wait step runs once (creates its request,
then `waiting`). Then, while they wait: due pending rows, running rows, and the
sweeper's time and messages (what a waiting enrollment costs: no worker, no lease, no
polling). Then a super admin approves --approve of them in one bulk action, and
--workers processes run the resumed steps, each a Celery-less loop doing what a worker
does with the wake-up messages: due rows of batchable types (Wait for approval, Send
email) in batches of up to WORKFLOWS_BATCH_SIZE ids with their next steps inline
(`runner.executions_run`), any other one by one; the figure is emails received by the SMTP server per second,
from the bulk approval to the last email (target ≥ 200/s). Prints ONE JSON summary,
with the machine's load (it is shared: report it beside the figure).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
_TMP = tempfile.mkdtemp(prefix="crmflow-approvals-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["CRMFLOW_ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bm90LWEtcmVhbC1rZXktYmVuY2htYXJrLW9ubHkhISE=")
os.environ["DEBUG"] = "false"
os.environ["HTTPS"] = "false"
if os.environ.get("DATABASE_URL", "").startswith("postgres"):
    from benchmarks.engine import database_recreate

    database_recreate(os.environ["DATABASE_URL"])
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{_TMP}/bench.sqlite3"
os.environ["CACHE_URL"] = "locmem://"
os.environ["LOG_LEVEL"] = "ERROR"


def drain_worker(task: tuple[int, int, float]) -> tuple[int, float]:
    """Worker `index` of `count`: run the due rows whose id falls to it, as wake-up
    messages make a worker run them, until none is left for a second. Returns (steps
    run, this process's CPU seconds meanwhile)."""
    index, count, deadline = task
    import django

    django.setup()
    from django.db.models.functions import Mod

    from workflows import registry
    from workflows.conf import setting
    from workflows.engine import runner
    from workflows.models import ActionExecution

    batchable = set(registry.batchable_keys())
    size = int(setting("WORKFLOWS_BATCH_SIZE"))
    ran = 0
    cpu = time.process_time()
    idle_since = time.monotonic()
    while time.monotonic() < deadline:
        rows = list(
            ActionExecution.objects.due()
            .annotate(part=Mod("id", count))
            .filter(part=index)
            .order_by("pk")
            .values_list("pk", "action_type")[:size]
        )
        if not rows:
            if time.monotonic() - idle_since > 1.0:
                break
            time.sleep(0.05)
            continue
        idle_since = time.monotonic()
        batch = [pk for pk, action_type in rows if action_type in batchable]
        results = runner.executions_run(execution_ids=batch, queue="default") if batch else {}
        for pk, action_type in rows:
            if action_type not in batchable:
                results[pk] = runner.execution_run(execution_id=pk, inline=True)
        ran += sum(1 for outcome in results.values() if outcome != "not claimed")
    return ran, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--approve", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2, help="0: run them in this process")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="with --workers 0: write the worker's cProfile stats there (pstats format)",
    )
    args = parser.parse_args()

    from config.embedded_redis import free_port, start_redis

    redis_port = free_port()
    redis = start_redis(redis_port, Path(_TMP))
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    from tests.smtp_server import SmtpServer

    smtp = SmtpServer()
    smtp.controller.start()
    os.environ["EMAIL_URL"] = smtp.url

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from django.test.utils import CaptureQueriesContext

    from crm import services as crm
    from crm.models import Account, ObjectType, Role, User
    from marketplace.integrations.approvals.models import ApprovalRequest
    from marketplace.integrations.approvals.services import approvals_bulk_approve
    from workflows import services
    from workflows.engine import runner, sweeper
    from workflows.models import ActionExecution

    account = Account.objects.create(name="Bench")
    owner = User.objects.create_user(
        username="owner", password="x", account=account, role=Role.SALES_REP, email=""
    )
    admin = User.objects.create_user(
        username="admin", password="x", account=account, role=Role.SUPER_ADMIN
    )
    graph = {
        "start": 1,
        "steps": {
            "1": {
                "type": "approval_wait",
                "config": {
                    "approver": "owner",
                    "draft": "Hello {{ object.first_name }}",
                    "timeout_days": 3,
                },
                "next": 2,
            },
            "2": {
                "type": "email_contact",
                "config": {
                    "to": "record",
                    "sender": "shared",
                    "subject": "Hello",
                    "body": "{{ actions.1.text }}",
                },
                "next": None,
            },
        },
    }
    workflow = services.workflow_create(
        account=account, object_type=ObjectType.CONTACT, name="Bench", graph=graph
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    started = time.monotonic()
    crm.records_bulk_create(
        account=account,
        object_type=ObjectType.CONTACT,
        rows=[
            {"first_name": f"C{i}", "email": f"c{i}@example.com", "owner": owner.pk}
            for i in range(args.waiting)
        ],
    )
    services.workflow_enroll_existing_now(workflow=workflow)
    print(f"{args.waiting} enrolled in {time.monotonic() - started:.1f}s", file=sys.stderr)
    started = time.monotonic()
    ids = list(ActionExecution.objects.due().values_list("pk", flat=True))
    for start in range(0, len(ids), 200):
        runner.executions_run(execution_ids=ids[start : start + 200], inline=False)
    asked_s = time.monotonic() - started
    print(f"{len(ids)} wait steps asked in {asked_s:.1f}s", file=sys.stderr)

    waiting = ActionExecution.objects.filter(status="waiting").count()
    with CaptureQueriesContext(connection) as queries:
        sweep_started = time.perf_counter()
        swept = sweeper.executions_sweep()
        sweep_ms = (time.perf_counter() - sweep_started) * 1000
    while_waiting = {
        "waiting": waiting,
        "due_pending": ActionExecution.objects.due().count(),
        "running_with_lease": ActionExecution.objects.filter(status="running").count(),
        "sweep_ms": round(sweep_ms, 1),
        "sweep_queries": len(queries),
        "sweep_messages_sent": swept["sent"],
        "wait_steps_asked_per_s": round(len(ids) / asked_s, 1),
    }

    chosen = list(
        ApprovalRequest.objects.order_by("pk").values_list("pk", flat=True)[: args.approve]
    )
    load_before = os.getloadavg()
    started = time.monotonic()
    approved = approvals_bulk_approve(user=admin, request_ids=chosen)
    bulk_s = time.monotonic() - started
    connection.close()
    deadline = time.monotonic() + 600
    if args.workers == 0:  # in this process (to profile it)
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            runs = [profiler.runcall(drain_worker, (0, 1, deadline))]
            profiler.dump_stats(args.profile)
        else:
            runs = [drain_worker((0, 1, deadline))]
    else:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            tasks = [(i, args.workers, deadline) for i in range(args.workers)]
            runs = pool.map(drain_worker, tasks)
    ran = sum(steps for steps, _cpu in runs)
    worker_cpu_s = sum(cpu for _steps, cpu in runs)
    smtp.wait(approved, timeout=30)
    elapsed = time.monotonic() - started
    load_after = os.getloadavg()
    received = len(smtp.messages)
    recipients = {m["To"] for m in smtp.messages}
    summary = {
        "benchmark": "approvals",
        "while_waiting": while_waiting,
        "approved": approved,
        "bulk_approve_ms": round(bulk_s * 1000, 1),
        "steps_run": ran,
        "emails_received": received,
        "distinct_recipients": len(recipients),
        "emails_per_s": round(received / elapsed, 1),
        # What a loaded, shared machine distorts least: the workers' own CPU per email
        # (both steps of each enrollment: the approval read back and the send).
        "worker_cpu_ms_per_email": round(worker_cpu_s * 1000 / max(received, 1), 2),
        "target_emails_per_s": 200,
        "workers": args.workers,
        "database": connection.vendor,
        "load_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpus": os.cpu_count(),
    }
    smtp.controller.stop()
    redis.terminate()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
