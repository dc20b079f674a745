""""Webhook received" → Ask OpenAI assistant → Create task, one HTTP POST per enrollment:
the same ground as n8n's webhook → OpenAI → insert (docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/webhook_bench \
    REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python benchmarks/webhook_assistant.py

PostgreSQL + Redis (the database is migrated and used as is; each run makes its own
account). Processes, as in production: gunicorn (--web-workers sync workers) serving the
app, --assistant-workers Celery workers on `assistant` (threads), one prefork worker on
`default`, one beat, and the OpenAI simulator (fixed 1 s latency). The load client (this
process, asyncio, one connection per POST as a webhook sender makes) keeps at most
--in-flight POSTs open and sends --posts in all, each with a new email address.

Reports: POSTs answered per second and their status codes, enrollments completed per
second (first 202 → last task), lost (answered 2xx but no task) and duplicated (more
than one task per record), the web process's CPU per POST, and the whole machine's busy
CPU over the same window. Prints ONE JSON summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402  (benchmarks/_common.py: processes, CPU and memory)
    BASE_DIR,
    CpuMeter,
    base_env,
    database_vacuum,
    free_port,
    rss_mb,
    say,
    start,
    stop,
)
from assistant import FAST_KEY, Simulator  # noqa: E402  (its simulator set-up)


def celery(queue: str, name: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        *("-m", "celery", "-A", "config", "worker", "-Q", queue, "-n", f"{name}@%h"),
        *("-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"),
        *extra,
    ]


def setup(contacts_key: str):
    """An account with OpenAI connected, Webhooks installed, and a live workflow:
    Webhook received (email, first_name) → Ask (State formatter) → Create task."""
    from django.utils import timezone

    from crm.models import Account, ObjectType, Role, User
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai.models import WorkspaceAssistant
    from marketplace.integrations.webhooks.services import (
        connection_install,
        endpoint_get_or_create,
        endpoint_mapping_save,
    )
    from marketplace.models import Connection
    from workflows import services

    account = Account.objects.create(name=f"Webhook benchmark {time.time():.0f}")
    admin = User.objects.create_user(
        username=f"bench-{account.pk}",
        account=account,
        role=Role.SUPER_ADMIN,
        email=f"bench-{account.pk}@example.com",
    )
    Connection.objects.create(
        account=account,
        app="openai",
        encrypted_secret=secret_encrypt(contacts_key),
        secret_mask=secret_mask(contacts_key),
        secret_fingerprint=secret_fingerprint(contacts_key),
        available_models=["gpt-4o-mini"],
        connected_at=timezone.now(),
    )
    connection_install(account=account, user=admin)
    assistant = WorkspaceAssistant.objects.create(
        account=account,
        name="Greeter",
        model="gpt-4o-mini",
        instructions="Write a one-line greeting for this person.",
    )
    workflow = services.workflow_create(
        account=account,
        object_type=ObjectType.CONTACT,
        name="Webhook benchmark",
        graph={
            "start": 1,
            "steps": {
                "1": {
                    "type": "ask_openai_assistant",
                    "next": 2,
                    "config": {
                        "assistant": assistant.choice_value,
                        "prompt": "{{ object.first_name }}",
                    },
                },
                "2": {
                    "type": "create_task",
                    "next": None,
                    "config": {"title": "Greet {{ actions.1.response }}"},
                },
            },
        },
    )
    workflow.trigger = "webhook_received"
    workflow.save(update_fields=["trigger"])
    endpoint = endpoint_get_or_create(workflow=workflow)
    endpoint_mapping_save(
        endpoint=endpoint,
        mapping=[
            {"field": "email", "property": "email"},
            {"field": "first_name", "property": "first_name"},
        ],
        match_property="email",
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    return account, workflow, endpoint.path()


async def post_all(port: int, path: str, posts: int, in_flight: int, run: str) -> dict:
    """Send `posts` POSTs, at most `in_flight` open at once; each its own connection."""
    statuses: Counter[int | str] = Counter()
    latencies: list[float] = []
    answered_at: list[float] = []
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        body = json.dumps({"email": f"w{run}-{i}@example.com", "first_name": f"Ann {i}"})
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}"
        ).encode()
        async with gate:
            began = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
                await reader.read()
                writer.close()
                statuses[int(status_line.split()[1])] += 1
            except (OSError, IndexError, ValueError) as error:
                statuses[type(error).__name__] += 1
                return
            finally:
                latencies.append(time.perf_counter() - began)
            answered_at.append(time.perf_counter())

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(posts)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": round(elapsed, 2),
        "posts_per_second": round(posts / elapsed, 1),
        "statuses": {str(k): v for k, v in statuses.items()},
        "post_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "post_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=6000)
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--assistant-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--drain-seconds", type=float, default=120)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")

    env = base_env()
    workdir = Path(tempfile.mkdtemp(prefix="crmflow-webhook-bench-"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    simulator = Simulator(workdir, env)
    web_port = free_port()
    env.update(
        {
            "OPENAI_BASE_URL": simulator.base_url,
            "OPENAI_TIMEOUT": "30",
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    os.environ.update(env)
    import django

    django.setup()
    import redis

    from workflows.models import ActionExecution, Enrollment

    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    broker.delete("default", "assistant")
    ActionExecution.objects.filter(status__in=["pending", "running"]).update(status="cancelled")
    database_vacuum()  # kept between runs: what earlier runs left
    account, workflow, path = setup(FAST_KEY)

    web = start(
        [
            sys.executable,
            *("-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{web_port}"),
            *("--workers", str(args.web_workers), "--backlog", "2048"),
            *("--log-level", "warning"),
        ],
        env,
        workdir / "web.log",
    )
    workers = [
        start(
            celery("assistant,sweep", f"assistant{i}", "-P", "threads", "-c", str(args.threads)),
            env,
            workdir / f"assistant{i}.log",
        )
        for i in range(args.assistant_workers)
    ]
    default = start(celery("default,sweep", "default", "-c", "2"), env, workdir / "default.log")
    beat = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "WARNING",
            "-s",
            str(workdir / "beat-schedule"),
        ],
        env,
        workdir / "beat.log",
    )
    processes = [web, *workers, default, beat]
    groups = {
        "web": [web.pid],
        "assistant_workers": [w.pid for w in workers],
        "default_worker": [default.pid],
        "beat": [beat.pid],
        "simulator": [simulator.process.pid],
    }
    summary: dict = {
        "benchmark": "webhook_assistant",
        "cores": os.cpu_count(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
        "posts": args.posts,
        "in_flight_max": args.in_flight,
        "processes": f"gunicorn --workers {args.web_workers} (sync) + {args.assistant_workers} x "
        f"celery -Q assistant -P threads -c {args.threads} + 1 x -Q default -c 2 + beat",
        "simulator_latency_ms": 1000,
        "workflow": "Webhook received -> Ask OpenAI assistant -> Create task",
    }
    try:
        _wait_for_web(web_port)
        time.sleep(3)  # workers connected
        tasks = Enrollment.objects.filter(workflow=workflow, status="completed")
        meter = CpuMeter(groups)
        from django.utils import timezone

        first_post_at = timezone.now()
        client_cpu0 = time.process_time()
        t0 = time.perf_counter()
        summary["http"] = asyncio.run(
            post_all(web_port, path, args.posts, args.in_flight, str(account.pk))
        )
        client_cpu = time.process_time() - client_cpu0
        say(f"posted {args.posts}: {summary['http']}")
        deadline = time.monotonic() + args.drain_seconds
        max_rss = 0.0
        while tasks.count() < args.posts and time.monotonic() < deadline:
            time.sleep(0.5)
            max_rss = max(max_rss, rss_mb([p for ids in groups.values() for p in ids]))
        cpu = meter.report()
        finished = list(
            Enrollment.objects.filter(workflow=workflow, status="completed").values_list(
                "finished_at", flat=True
            )
        )
        completed = len(finished)
        last = max(finished) if finished else None
        first_enrolled = (
            Enrollment.objects.filter(workflow=workflow).order_by("enrolled_at").first()
        )
        span = (last - first_enrolled.enrolled_at).total_seconds() if last else None
        from crm.models import Task

        per_record = Counter(
            Task.records.through.objects.filter(task__account=account).values_list(
                "record_id", flat=True
            )
        )
        answered_2xx = sum(v for k, v in summary["http"]["statuses"].items() if k.startswith("2"))
        summary.update(
            {
                "enrollments_completed": completed,
                "enrollments_failed": Enrollment.objects.filter(
                    workflow=workflow, status="failed"
                ).count(),
                "wall_seconds_first_post_to_last_task": round(time.perf_counter() - t0, 1),
                "enrollments_per_second": round(completed / span, 1) if span else None,
                "enrollments_per_second_from_first_post": round(
                    completed / (last - first_post_at).total_seconds(), 1
                )
                if last
                else None,
                "rate_note": "completed enrollments ÷ seconds from the first enrollment (or the "
                "first POST) to the last task's commit",
                "lost": max(0, answered_2xx - len(per_record)),
                "duplicated": sum(n - 1 for n in per_record.values() if n > 1),
                "cpu": cpu,
                "web_cpu_ms_per_post": round(cpu["cpu_seconds"]["web"] / args.posts * 1000, 2),
                "load_client_cpu_seconds": round(client_cpu, 1),
                "machine_busy_cpu_ms_per_enrollment": round(
                    cpu["machine_busy_cpu_seconds"] / completed * 1000, 2
                )
                if completed
                else None,
                "processes_rss_mb_max": round(max_rss, 1),
                "load_average_1m_after": round(os.getloadavg()[0], 2),
                "target_enrollments_per_second": 200,
            }
        )
    finally:
        for process in processes:
            stop(process)
        stop(simulator.process)
    print(json.dumps(summary))


def _wait_for_web(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


if __name__ == "__main__":
    main()
