""""Ask OpenAI assistant" benchmark: enrollments/s through Ask → Create task, per engine,
and how much of a 3,000-RPM key the shared rate limiter uses.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/assistant \
    REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python benchmarks/assistant.py

PostgreSQL + Redis (the database is migrated and used as is: each run makes its own
account). The OpenAI simulator runs as its own process with a fixed 1 s latency.
Processes: --assistant-workers Celery workers on the `assistant` queue with a thread
pool (-P threads -c --threads: each call waits on OpenAI holding no DB connection),
one worker on `default`
(Create task; `-P solo`, as `crmflow worker` starts it), one beat (the sweeper publishes the
bulk-enrolled rows and the postponed ones).

Phases (each engine separately):
1. throughput: --enrollments contacts enrolled in bulk, key with unlimited RPM;
   enrollments completed per second over the window after warm-up, p50/p95 from
   enrollment to task, 429s, max DB connections, worker RSS;
   with --tools, the assistant looks the contact's company up through the CRM tool
   `list_associated_records`: two rounds per Ask (call, then answer), 1 s each;
2. rate limit (Responses engine): a key limited to 3,000 RPM for --limit-seconds;
   requests in the busiest sliding 60 s window (must be ≤ 3,000) and the share of the
   limit used in the steady minute.
Prints ONE JSON summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import (  # noqa: E402  (benchmarks/_common.py: processes, CPU and memory)
    BASE_DIR,
    CpuMeter,
    base_env,
    database_vacuum,
    free_port,
    pss_mb,
    rss_mb,
    say,
    start,
    stop,
)

sys.path.insert(0, str(BASE_DIR))
from ops.cli import assistant_worker_command, worker_command  # noqa: E402

FAST_KEY = "sk-bench-assistant-unlimited-00000000000000fast"
LIMITED_KEY = "sk-bench-assistant-3000rpm-0000000000000000lim"


class Simulator:
    def __init__(self, workdir: Path, env: dict):
        self.port = free_port()
        config = {
            "seed": 1,
            "latency": "fixed:1000",
            "request_log_size": 100_000,
            "keys": [
                {"key": FAST_KEY, "name": "fast", "rpm": 10_000_000, "tpm": 10_000_000_000},
                {"key": LIMITED_KEY, "name": "limited", "rpm": 3000, "tpm": 10_000_000_000},
            ],
        }
        path = workdir / "simulator.json"
        path.write_text(json.dumps(config))
        self.process = start(
            [
                sys.executable,
                "-m",
                "openai_simulator",
                "--port",
                str(self.port),
                "--config",
                str(path),
            ],
            env,
            workdir / "simulator.log",
        )
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.admin = f"http://127.0.0.1:{self.port}/_sim"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/health")
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the simulator did not start")

    def call(self, method: str, path: str, query: str = ""):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"{self.admin}{path}{query}", method=method)
        with opener.open(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def requests(self, key: str) -> list[dict]:
        return self.call("GET", "/requests", f"?key={key}&limit=100000")["data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enrollments", type=int, default=6000, help="per engine")
    parser.add_argument("--assistant-workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="Celery threads per assistant worker (each runs one batch at a time)",
    )
    parser.add_argument("--seconds", type=float, default=20, help="throughput window")
    parser.add_argument("--limit-seconds", type=float, default=75)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=90,
        help="after the window, wait this long for the rest (latency figures)",
    )
    parser.add_argument("--engines", default="responses,assistants")
    parser.add_argument("--skip-limit", action="store_true")
    parser.add_argument(
        "--tools",
        action="store_true",
        help="a two-round tool loop per Ask (Responses engine only; implies --skip-limit)",
    )
    parser.add_argument(
        "--assistant-conn-max-age",
        default=None,
        help="DATABASE_CONN_MAX_AGE of the assistant workers without a pool "
        "(default: the setting's, 60)",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=6,
        help="DATABASE_POOL_MAX_SIZE of each assistant worker (0: no pool)",
    )
    args = parser.parse_args()
    # A SIGTERM (timeout, Ctrl-C) still stops the processes this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    if args.tools:
        args.engines, args.skip_limit = "responses", True
    env = base_env()
    workdir = Path(tempfile.mkdtemp(prefix="crmflow-assistant-bench-"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    simulator = Simulator(workdir, env)
    env.update(
        {
            "OPENAI_BASE_URL": simulator.base_url,
            "OPENAI_TIMEOUT": "30",
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "WORKFLOWS_SWEEP_BATCH": "2000",
            "OPENAI_RATE_LIMIT_DEFAULT_RPM": "60",
        }
    )
    os.environ.update(env)
    import django

    django.setup()
    import redis

    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    broker.delete("default", "assistant")
    # Rows an earlier run left unfinished would be run first (their connections' keys
    # were encrypted with that run's key): this database is the benchmark's own.
    from workflows.models import ActionExecution

    ActionExecution.objects.filter(status__in=["pending", "running"]).update(status="cancelled")
    database_vacuum()  # kept between runs: what earlier runs left
    for key in broker.scan_iter(match="crmflow:openai:rl:*"):
        broker.delete(key)

    # Started as `crmflow assistant-worker` and `crmflow worker` start them (ops/cli.py).
    quiet = ["-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    processes = [
        start(
            assistant_worker_command("-n", f"assistant{i}@%h", *quiet, threads=str(args.threads)),
            {
                **env,
                "DATABASE_POOL_MAX_SIZE": str(args.pool_size),
                **(
                    {"DATABASE_CONN_MAX_AGE": args.assistant_conn_max_age}
                    if args.assistant_conn_max_age is not None
                    else {}
                ),
            },
            workdir / f"assistant{i}.log",
        )
        for i in range(args.assistant_workers)
    ]
    processes.append(
        start(
            worker_command("-n", "default@%h", *quiet),
            env,
            workdir / "default.log",
        )
    )
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
    summary: dict = {
        "benchmark": "assistant",
        "cores": os.cpu_count(),
        "simulator_latency_ms": 1000,
        "assistant_conn_max_age": args.assistant_conn_max_age,
        "assistant_db_pool_max_size": args.pool_size,
        "processes": f"{args.assistant_workers} x celery -Q assistant -P threads -c {args.threads}"
        " + 1 x -Q default -P solo + beat",
        "workflow": "Ask OpenAI assistant -> Create task",
        "tool_rounds_per_ask": 2 if args.tools else 1,
    }
    groups = {
        "assistant_workers": [p.pid for p in processes[: args.assistant_workers]],
        "default_worker": [processes[-1].pid],
        "beat": [beat.pid],
        "simulator": [simulator.process.pid],
    }
    try:
        for engine in [e for e in args.engines.split(",") if e]:
            summary[engine] = run_phase(
                engine,
                FAST_KEY,
                "fast",
                args.enrollments,
                args.seconds,
                simulator,
                groups,
                args.drain_seconds,
                broker,
                tools=args.tools,
            )
        if not args.skip_limit:
            summary["rate_limit_3000_rpm"] = run_limit(
                simulator, args.limit_seconds, groups, broker
            )
    finally:
        for process in [*processes, beat]:
            stop(process)
        stop(simulator.process)
    summary["targets"] = {
        "enrollments_per_second": 120 if args.tools else 500,
        "machine_cpu_ms_per_enrollment": None if args.tools else 3.5,
        "workers_memory_mb": 400,
        "db_connections_max": 20,
        "limit_used_percent": 95,
        "requests_over_limit": 0,
    }
    print(json.dumps(summary))


RESEARCHER_PROMPT = (
    "Use list associated records to find the contact's company.\n"
    "object: contact\nid: {{ object.id }}\nassociated_object: company"
)


def setup_account(key: str, engine: str, contacts: int, tools: bool = False):
    from django.utils import timezone

    from crm.models import Account, Role, User
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai.models import WorkspaceAssistant
    from marketplace.models import Connection
    from workflows import services

    account = Account.objects.create(name=f"Assistant benchmark {engine} {time.time():.0f}")
    User.objects.create_user(
        username=f"bench-{account.pk}",
        account=account,
        role=Role.SUPER_ADMIN,
        email=f"bench-{account.pk}@example.com",
    )
    Connection.objects.create(
        account=account,
        app="openai",
        encrypted_secret=secret_encrypt(key),
        secret_mask=secret_mask(key),
        secret_fingerprint=secret_fingerprint(key),
        available_models=["gpt-4o-mini", "gpt-4.1-mini"],
        connected_at=timezone.now(),
    )
    prompt = "{{ object.state }}"
    if tools:
        assistant = WorkspaceAssistant.objects.create(
            account=account,
            name="Company researcher",
            model="gpt-4o-mini",
            instructions="You are a crm researcher: say how big the contact's company is.",
            tools=["list_associated_records"],
        )
        value, prompt = assistant.choice_value, RESEARCHER_PROMPT
    elif engine == "responses":
        assistant = WorkspaceAssistant.objects.create(
            account=account,
            name="State formatter",
            model="gpt-4o-mini",
            instructions="Turn the US state name into its two-letter state code.",
        )
        value = assistant.choice_value
    else:
        value = "acct:asst_demoStateFormatter00002"
    workflow = services.workflow_create(
        account=account,
        object_type="contact",
        name=f"Benchmark {engine}",
        criteria=[[{"property": "email", "operator": "is_known"}]],
        graph={
            "start": 1,
            "steps": {
                "1": {
                    "type": "ask_openai_assistant",
                    "next": 2,
                    "config": {"assistant": value, "prompt": prompt},
                },
                "2": {
                    "type": "create_task",
                    "next": None,
                    "config": {"title": "State {{ actions.1.response }}"},
                },
            },
        },
    )
    from crm.demo import demo_records_create

    demo_records_create(
        account, contacts=contacts, companies=max(1, contacts // 10) if tools else 0
    )
    if tools:
        associate_with_companies(account)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    return account, workflow


def associate_with_companies(account) -> None:
    """Each contact with one of the account's companies (both directions, as the CRM does)."""
    from crm.models import Association, ObjectType, Record

    companies = list(
        Record.objects.filter(account=account, object_type=ObjectType.COMPANY).values_list(
            "pk", flat=True
        )
    )
    contacts = Record.objects.filter(account=account, object_type=ObjectType.CONTACT)
    rows = []
    for i, contact_id in enumerate(contacts.values_list("pk", flat=True).iterator()):
        company_id = companies[i % len(companies)]
        rows += [
            Association(account=account, from_record_id=contact_id, to_record_id=company_id),
            Association(account=account, from_record_id=company_id, to_record_id=contact_id),
        ]
    Association.objects.bulk_create(rows, batch_size=5000)


def db_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0] - 1


def trace(label: str, workflow, broker) -> None:
    """One progress line: queue depths and the workflow's executions by status."""
    from django.db.models import Count

    from workflows.models import ActionExecution

    rows = (
        ActionExecution.objects.filter(workflow=workflow)
        .values("step_id", "status")
        .annotate(n=Count("id"))
    )
    by = " ".join(
        f"{r['step_id']}:{r['status']}={r['n']}"
        for r in sorted(rows, key=lambda r: (r["step_id"], r["status"]))
    )
    say(
        f"[{label}] queues default={broker.llen('default')} assistant={broker.llen('assistant')} | {by}"
    )


def run_phase(
    engine: str,
    key: str,
    key_name: str,
    contacts: int,
    seconds: float,
    simulator: Simulator,
    groups: dict[str, list[int]],
    drain_seconds: float,
    broker,
    tools: bool = False,
) -> dict:
    from workflows import services
    from workflows.models import ActionExecution, Enrollment

    say(f"[{engine}] seeding {contacts} contacts")
    account, workflow = setup_account(key, engine, contacts, tools=tools)
    before_429 = sum(1 for r in simulator.requests(key_name) if r["status"] == 429)
    enrolled_at = time.perf_counter()
    services.workflow_enroll_existing_now(workflow=workflow)
    completed = Enrollment.objects.filter(workflow=workflow, status="completed")
    say(f"[{engine}] enrolled; waiting for warm-up")
    deadline = time.monotonic() + 120
    while completed.count() < min(200, contacts // 10) and time.monotonic() < deadline:
        time.sleep(0.5)
    count0, t0, wall0 = completed.count(), time.perf_counter(), time.time()
    asks0 = ActionExecution.objects.filter(workflow=workflow, step_id=1, status="succeeded").count()
    meter = CpuMeter(groups)
    max_conn, max_rss, max_pss = 0, 0.0, 0.0
    workers = groups["assistant_workers"] + groups["default_worker"]
    # Each worker's own peak: where the memory is (an assistant worker's grows with its
    # calls in flight; the default worker's barely moves).
    each_rss = {pid: 0.0 for pid in workers}
    while time.perf_counter() - t0 < seconds and completed.count() < contacts:
        time.sleep(1)
        max_conn = max(max_conn, db_connections())
        max_rss = max(max_rss, rss_mb(workers))
        max_pss = max(max_pss, pss_mb(workers))
        for pid in workers:
            each_rss[pid] = max(each_rss[pid], rss_mb([pid]))
        if int(time.perf_counter() - t0) % 5 == 0:
            trace(engine, workflow, broker)
    count1, t1, wall1 = completed.count(), time.perf_counter(), time.time()
    cpu = meter.report()
    asks = (
        ActionExecution.objects.filter(workflow=workflow, step_id=1, status="succeeded").count()
        - asks0
    )
    rate = (count1 - count0) / (t1 - t0)
    say(f"[{engine}] {rate:.1f} enrollments/s; draining")
    deadline = time.monotonic() + drain_seconds
    while completed.count() < contacts and time.monotonic() < deadline:
        time.sleep(1)
        max_conn = max(max_conn, db_connections())
    # Whatever is left would compete with the next phase: cancel it.
    ActionExecution.objects.filter(workflow=workflow, status="pending").update(status="cancelled")
    rows = Enrollment.objects.filter(workflow=workflow, status="completed").values_list(
        "enrolled_at", "finished_at"
    )
    latencies = sorted((f - e).total_seconds() for e, f in rows if f)
    requests = simulator.requests(key_name)
    rounds = sum(1 for r in requests if wall0 <= r["time"] < wall1 and r["status"] == 200)
    return {
        "enrollments": contacts,
        "completed": completed.count(),
        "cancelled_after_drain": contacts
        - completed.count()
        - Enrollment.objects.filter(workflow=workflow, status="failed").count(),
        "failed": Enrollment.objects.filter(workflow=workflow, status="failed").count(),
        "window_seconds": round(t1 - t0, 1),
        "enrollments_per_second": round(rate, 1),
        "enrollment_to_task_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "enrollment_to_task_p95_s": round(latencies[int(len(latencies) * 0.95) - 1], 2)
        if latencies
        else None,
        "latency_note": "from the bulk enrollment (all enrolled at once) to the task's commit",
        "openai_requests": len(requests),
        "http_429_seen": sum(1 for r in requests if r["status"] == 429) - before_429,
        "db_connections_max": max_conn,
        "workers_rss_mb_max": round(max_rss, 1),
        "workers_pss_mb_max": round(max_pss, 1),
        "assistant_workers_rss_mb_max_each": [
            round(each_rss[pid], 1) for pid in groups["assistant_workers"]
        ],
        "default_worker_rss_mb_max": round(each_rss[groups["default_worker"][0]], 1),
        "workers_memory_note": "assistant + default workers (not beat, not the simulator); "
        "PSS counts a page shared by several processes once in all",
        "setup_seconds_before_first": round(t0 - enrolled_at, 1),
        "ask_steps_per_second": round(asks / (t1 - t0), 1),
        "cpu_in_window": cpu,
        "assistant_cpu_ms_per_ask": round(cpu["cpu_seconds"]["assistant_workers"] / asks * 1000, 1)
        if asks
        else None,
        "openai_rounds_in_window": rounds,
        "assistant_cpu_ms_per_round": round(
            cpu["cpu_seconds"]["assistant_workers"] / rounds * 1000, 1
        )
        if rounds
        else None,
        "cpu_ms_per_enrollment_by_component": {
            name: round(value / (count1 - count0) * 1000, 2)
            for name, value in [*cpu["cpu_seconds"].items(), ("other", cpu["other_cpu_seconds"])]
        }
        if count1 > count0
        else None,
        "machine_cpu_ms_per_enrollment": round(
            cpu["machine_busy_cpu_seconds"] / (count1 - count0) * 1000, 1
        )
        if count1 > count0
        else None,
        "default_cpu_ms_per_task": round(
            cpu["cpu_seconds"]["default_worker"] / (count1 - count0) * 1000, 1
        )
        if count1 > count0
        else None,
    }


def run_limit(simulator: Simulator, seconds: float, groups: dict[str, list[int]], broker) -> dict:
    from workflows import services
    from workflows.models import ActionExecution

    contacts = int(3000 * (seconds / 60) * 1.3)
    say(f"[limit] seeding {contacts} contacts on a 3,000-RPM key")
    account, workflow = setup_account(LIMITED_KEY, "responses", contacts)
    services.workflow_enroll_existing_now(workflow=workflow)
    deadline = time.monotonic() + 120
    while not simulator.requests("limited") and time.monotonic() < deadline:
        time.sleep(0.5)
    first = time.time()
    meter = CpuMeter(groups)
    while time.time() - first < seconds:
        time.sleep(1)
        if int(time.time() - first) % 5 == 0:
            trace("limit", workflow, broker)
    cpu = meter.report()
    ActionExecution.objects.filter(workflow=workflow, status="pending").update(status="cancelled")
    log = simulator.requests("limited")
    times = sorted(r["time"] for r in log)
    # Busiest 60 s window, anchored on every request.
    busiest = max((bisect.bisect_left(times, t + 60) - i for i, t in enumerate(times)), default=0)
    start = times[0] if times else first
    # Steady state: the minute after the first 10 s (the default 60 RPM until learned).
    steady = bisect.bisect_left(times, start + 70) - bisect.bisect_left(times, start + 10)
    # Every 60 s window starting each second from 10 s on that ends within the run.
    windows = [
        bisect.bisect_left(times, start + t + 60) - bisect.bisect_left(times, start + t)
        for t in range(10, max(11, int(seconds) - 59))
    ]
    per_second = [
        bisect.bisect_left(times, start + t + 1) - bisect.bisect_left(times, start + t)
        for t in range(int(seconds))
    ]
    return {
        "rpm_limit": 3000,
        "seconds": seconds,
        "requests": len(times),
        "requests_429": sum(1 for r in log if r["status"] == 429),
        "busiest_60s_window": busiest,
        "requests_over_limit": max(0, busiest - 3000),
        "steady_minute_requests": steady,
        "limit_used_percent": round(steady / 3000 * 100, 1),
        "mean_requests_per_60s_window_after_10s": round(statistics.mean(windows), 1),
        "mean_limit_used_percent": round(statistics.mean(windows) / 3000 * 100, 1),
        "requests_per_second": per_second,
        "cpu": cpu,
    }


if __name__ == "__main__":
    main()
