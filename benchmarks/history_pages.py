"""History pages benchmark: latency of the Action logs, a filtered page and a run detail
with a million executions in one workflow.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/history \
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python benchmarks/history_pages.py \
        [--executions 1000000 --repeat 40] [--pages action_logs_first_page,run_detail_failed]

PostgreSQL. The database is migrated, then filled once with bulk SQL (`INSERT … SELECT
generate_series`): one account, one 4-step workflow, executions/4 contacts each enrolled
once with 4 executions spread over 90 days (2 % of runs failed at step 4, 5 % retried at
step 2, step 3 is an Ask OpenAI assistant step whose usage rows carry tokens and cost). A later run reuses the data when the
workflow already has that many executions (--regenerate to start again).

Each page is requested --repeat times (after 3 warm-ups) through Django's test client,
as a logged-in workflow builder: the whole request — middleware, queries, template,
health banner (cached) — is timed. Prints ONE JSON summary on stdout (with the load
average: figures on a shared machine mean little without it); progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import say  # noqa: E402  (benchmarks/_common.py)

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

WORKFLOW_NAME = "History benchmark"
STEPS = {
    "1": {"type": "create_task", "config": {"title": "Call {{ object.first_name }}"}, "next": 2},
    "2": {
        "type": "set_property",
        "config": {"property": "lead_status", "value": "connected"},
        "next": 3,
    },
    "3": {
        "type": "ask_openai_assistant",
        "config": {"prompt": "Is this a hot lead? {{ object.first_name }}"},
        "next": 4,
    },
    "4": {"type": "create_task", "config": {"title": "Follow up"}, "next": None},
}


def django_setup() -> None:
    from cryptography.fernet import Fernet

    os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-not-for-production-0123456789")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CRMFLOW_ENV_FILE": "",
            "DEBUG": "false",
            "HTTPS": "false",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    import django

    django.setup()


def data_ensure(executions: int, regenerate: bool):
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Account, Role, User
    from workflows.models import ActionExecution, Workflow, WorkflowVersion

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL (DATABASE_URL=postgres://…)")
    call_command("migrate", verbosity=0)
    workflow = Workflow.objects.filter(name=WORKFLOW_NAME).first()
    if workflow and not regenerate:
        have = ActionExecution.objects.filter(workflow=workflow).count()
        if have >= executions:
            say(f"reusing {have} executions")
            builder = User.objects.get(username="history-bench-builder")
            return workflow, builder, 0.0
    if workflow:
        account = workflow.account
        say("deleting the previous data…")
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM marketplace_openai_assistantusage WHERE workflow_id = %s",
                [workflow.pk],
            )
            cursor.execute(
                "DELETE FROM workflows_actionexecution WHERE workflow_id = %s", [workflow.pk]
            )
            cursor.execute("DELETE FROM workflows_enrollment WHERE workflow_id = %s", [workflow.pk])
            cursor.execute("DELETE FROM crm_record WHERE account_id = %s", [account.pk])
        Workflow.objects.filter(pk=workflow.pk).update(live_version=None)
        WorkflowVersion.objects.filter(workflow=workflow).delete()
        workflow.delete()
    else:
        account = Account.objects.create(name="History benchmark")
    builder, _ = User.objects.get_or_create(
        username="history-bench-builder",
        defaults={"account": account, "role": Role.WORKFLOW_BUILDER},
    )
    User.objects.filter(pk=builder.pk).update(account=account, role=Role.WORKFLOW_BUILDER)
    builder.refresh_from_db()
    graph = {"start": 1, "steps": STEPS}
    workflow = Workflow.objects.create(
        account=account,
        object_type="contact",
        name=WORKFLOW_NAME,
        graph=graph,
        is_enabled=True,
        version=1,
    )
    version = WorkflowVersion.objects.create(workflow=workflow, number=1, graph=graph)
    Workflow.objects.filter(pk=workflow.pk).update(live_version=version)
    runs = executions // 4
    started = time.perf_counter()
    with connection.cursor() as cursor:
        say(f"inserting {runs} contacts…")
        cursor.execute(
            """
            INSERT INTO crm_record (account_id, object_type, properties, name, email, owner_id,
                                    created_at, updated_at)
            SELECT %s, 'contact',
                   jsonb_build_object('first_name', 'Contact', 'last_name', g::text,
                                      'email', 'contact' || g || '@example.com'),
                   'Contact ' || g, 'contact' || g || '@example.com', %s,
                   now() - interval '120 days', now() - interval '120 days'
            FROM generate_series(1, %s) AS g
        """,
            [account.pk, builder.pk, runs],
        )
        say("inserting enrollments…")
        cursor.execute(
            """
            INSERT INTO workflows_enrollment (workflow_id, version_id, record_id, status, source,
                                              enrolled_at, finished_at)
            SELECT %s, %s, r.id,
                   CASE WHEN r.id %% 50 = 0 THEN 'failed' ELSE 'completed' END, 'trigger',
                   now() - (r.id %% 129600) * interval '1 minute',
                   now() - (r.id %% 129600) * interval '1 minute' + interval '3 seconds'
            FROM crm_record r WHERE r.account_id = %s
        """,
            [workflow.pk, version.pk, account.pk],
        )
        say(f"inserting {runs * 4} executions…")
        cursor.execute(
            """
            INSERT INTO workflows_actionexecution (
                enrollment_id, workflow_id, step_id, action_type, queue, status, attempt,
                due_at, lease_expires_at, last_sent_at, inputs, outputs, error, replays,
                created_at, started_at, finished_at)
            SELECT e.id, e.workflow_id, s,
                   CASE s WHEN 1 THEN 'create_task' WHEN 2 THEN 'set_property'
                          WHEN 3 THEN 'ask_openai_assistant' ELSE 'create_task' END,
                   'default',
                   CASE WHEN s = 4 AND e.status = 'failed' THEN 'failed' ELSE 'succeeded' END,
                   CASE WHEN s = 2 AND e.id %% 20 = 0 THEN 2 ELSE 1 END,
                   e.enrolled_at + s * interval '500 milliseconds', NULL,
                   e.enrolled_at + s * interval '500 milliseconds',
                   CASE s WHEN 3 THEN jsonb_build_object(
                            'prompt',
                            'Is this a hot lead? Contact ' || e.record_id || ' ' || repeat('details ', 40))
                          ELSE jsonb_build_object('title', 'Call Contact ' || e.record_id) END,
                   CASE WHEN s = 4 AND e.status = 'failed' THEN '{}'::jsonb
                        ELSE jsonb_build_object('task_id', e.id * 4 + s) END,
                   CASE WHEN s = 4 AND e.status = 'failed'
                        THEN 'The OpenAI quota of this account is exhausted (insufficient_quota).'
                        ELSE '' END,
                   0,
                   e.enrolled_at + s * interval '500 milliseconds',
                   e.enrolled_at + s * interval '500 milliseconds' + interval '10 milliseconds',
                   e.enrolled_at + s * interval '500 milliseconds' + interval '200 milliseconds'
            FROM workflows_enrollment e CROSS JOIN generate_series(1, 4) AS s
            WHERE e.workflow_id = %s
        """,
            [workflow.pk],
        )
        say("inserting the Ask steps' usage rows…")
        cursor.execute(
            """
            INSERT INTO marketplace_openai_assistantusage (
                account_id, connection_id, workflow_id, execution_id, engine, model,
                input_tokens, output_tokens, reasoning_tokens, cached_tokens, total_tokens,
                cost_usd, created_at)
            SELECT %s, NULL, x.workflow_id, x.id, 'responses', 'gpt-4.1-mini',
                   420 + x.enrollment_id %% 100, 180, 0, 0, 600 + x.enrollment_id %% 100,
                   0.000456, x.finished_at
            FROM workflows_actionexecution x
            WHERE x.workflow_id = %s AND x.step_id = 3 AND x.status = 'succeeded'
        """,
            [account.pk, workflow.pk],
        )
        say("analyzing…")
        cursor.execute("ANALYZE crm_record")
        cursor.execute("ANALYZE workflows_enrollment")
        cursor.execute("ANALYZE workflows_actionexecution")
    return workflow, builder, time.perf_counter() - started


def measure(client, url: str, repeat: int) -> dict:
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(round(0.95 * len(timings))) - 1)]
    return {
        "url": url,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(timings[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--pages", default="", help="comma-separated page names (default: all)")
    args = parser.parse_args()
    django_setup()
    from django.test import Client
    from django.urls import reverse

    from workflows.models import ActionExecution, Enrollment

    workflow, builder, generated_in = data_ensure(args.executions, args.regenerate)
    total = ActionExecution.objects.filter(workflow=workflow).count()
    failed = (
        Enrollment.objects.filter(workflow=workflow, status="failed")
        .order_by("id")
        .values_list("id", flat=True)
    )
    middle_failed = failed[failed.count() // 2]
    record_id = Enrollment.objects.get(pk=middle_failed).record_id
    client = Client()
    client.force_login(builder)
    logs = reverse("history:logs", args=[workflow.pk])
    second = client.get(logs)
    cursor = second.content.decode().split("after=")[1].split('"')[0]
    pages = {
        "action_logs_first_page": logs,
        "action_logs_filtered_failed": f"{logs}?event=failed",
        "action_logs_filtered_action_and_dates": f"{logs}?action=send_notification"
        f"&since=2000-01-01",
        "action_logs_second_page": f"{logs}?after={cursor}",
        "enrollment_history_first_page": reverse("history:enrollments", args=[workflow.pk]),
        "run_detail_failed": reverse("history:run", args=[workflow.pk, middle_failed]),
        # Record search: the start of an email or a name (index ranges), a record id,
        # and text found only inside names (the fallback scan of the account's records).
        "record_search": f"{logs}?q=contact12345",
        "record_search_name_start": f"{logs}?q=contact+1234",
        "record_search_id": f"{logs}?q=%23{record_id}",
        "record_search_anywhere": f"{logs}?q=ntact+12345",
    }
    if args.pages:
        pages = {name: url for name, url in pages.items() if name in args.pages.split(",")}
    results = {}
    for name, url in pages.items():
        say(f"measuring {name}…")
        results[name] = measure(client, url, args.repeat)
    from django.core.cache import cache

    from workflows.history.live import grouped_counts

    # Waiting/running/failed expire every 2 s, succeeded every 30 s: time both misses.
    for name, statuses in (
        ("live_counts_active_uncached", ("pending", "running", "failed")),
        ("live_counts_succeeded_uncached", ("succeeded",)),
    ):
        live = []
        for _ in range(5):
            cache.clear()
            started = time.perf_counter()
            grouped_counts(workflow, statuses, 0)
            live.append((time.perf_counter() - started) * 1000)
        results[name] = {"p50_ms": round(statistics.median(live), 1), "max_ms": round(max(live), 1)}
    required = [
        name
        for name in ("action_logs_first_page", "action_logs_filtered_failed", "run_detail_failed")
        if name in results
    ]
    summary = {
        "benchmark": "history_pages",
        "executions": total,
        "generated_in_s": round(generated_in, 1),
        "repeat": args.repeat,
        "cpu_count": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "pages": results,
        "p95_target_ms": 150,
        "target_met": all(results[name]["p95_ms"] < 150 for name in required),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
