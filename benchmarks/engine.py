"""Workflow engine benchmark: bulk fan-out and action throughput on real processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/engine_bench \
    REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python benchmarks/engine.py

PostgreSQL + Redis. The database named in DATABASE_URL must end in `_bench`: it is
dropped and created again (unless --reuse, which also reuses the contacts an earlier
run seeded: a new workflow enrolls them). Measures:
- fan-out: seconds to enroll --contacts matching contacts when a workflow is turned on
  (the set-based INSERT … SELECT path, run in a fresh process as the Celery task does
  on a worker), and that process's peak RSS (bounded: windows of record ids, no list);
- throughput: actions completed per second by --workers Celery worker processes (one
  beat feeding them through the sweeper) over --seconds, with a fast built-in action
  (Create task: one task row + its association, keyed by the execution id), draining
  the backlog the fan-out left;
- CPU milliseconds per action: the workers' user+system time / actions, and the same
  for the PostgreSQL backends serving the run's connections (the machine's two cores
  serve both);
- database connections used (max seen in pg_stat_activity during the run).
Prints ONE JSON summary on stdout (with the load average: the machine may be shared);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# chaos.py and approvals.py reach these through this module too.
from _common import (  # noqa: E402, F401  (benchmarks/_common.py: processes, CPU and memory)
    BASE_DIR,
    CpuMeter,
    base_env,
    cpu_seconds,
    database_recreate,
    django_setup,
    process_cpu_seconds,
    say,
    start,
    stop,
)

sys.path.insert(0, str(BASE_DIR))


def worker_command(name: str, concurrency: int, pool: str, level: str = "WARNING") -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "default,sweep",
        "-c",
        str(concurrency),
        "-P",
        pool,
        "-n",
        f"{name}@%h",
        "-l",
        level,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def beat_command(workdir: Path) -> list[str]:
    return [
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
    ]


def account_with_contacts(contacts: int, *, reuse: bool = False):
    from crm.models import Account, Record, Role, User

    name = f"Benchmark {contacts} contacts"
    if reuse:
        for account in Account.objects.filter(name=name).order_by("-pk"):
            if Record.objects.filter(account=account, object_type="contact").count() == contacts:
                say(f"reusing the {contacts} contacts of account {account.pk}")
                return account
    account = Account.objects.create(name=name)
    User.objects.create_user(
        username=f"owner-{account.pk}",
        account=account,
        role=Role.SUPER_ADMIN,
        email=f"owner-{account.pk}@example.com",
    )
    started = time.perf_counter()
    contacts_seed(account, contacts)
    say(f"seeded {contacts} contacts in {time.perf_counter() - started:.1f}s")
    return account


def contacts_seed(account, contacts: int) -> None:
    """Contacts with an email, a first name and an owner — what the services would store
    for them (the record's JSON and derived columns, one index row per property) —
    generated inside PostgreSQL, SEED_CHUNK per transaction, with nothing held in this
    process (crm.demo's richer rows take ~10 minutes per 100,000 on a busy machine)."""
    from django.db import connection, transaction

    from crm.models import PropertyDefinition, Record, User

    owner = User.objects.filter(account=account).values_list("pk", flat=True).first()
    definitions = dict(
        PropertyDefinition.objects.filter(
            account=account, object_type="contact", name__in=["email", "first_name", "owner"]
        ).values_list("name", "pk")
    )
    records = Record._meta.db_table
    for low in range(0, contacts, SEED_CHUNK):
        high = min(low + SEED_CHUNK, contacts)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            # Generated consistent here: the foreign-key triggers (a check per row at
            # COMMIT, most of the time) are skipped (needs a superuser, as a local
            # benchmark database has).
            cursor.execute("SET LOCAL session_replication_role TO replica")
            cursor.execute(
                f"WITH new AS (INSERT INTO {records} (account_id, object_type, properties, "
                "name, email, owner_id, created_at, updated_at) "
                "SELECT %s, 'contact', jsonb_build_object('email', 'c' || g || "
                "'@example.com', 'first_name', 'Ann' || g, 'owner', %s), 'Ann' || g, "
                "'c' || g || '@example.com', %s, now(), now() "
                "FROM generate_series(%s, %s) AS g RETURNING id, email, name) "
                "INSERT INTO crm_propertyvalue (record_id, property_id, text_value, "
                "number_value) SELECT id, %s, email, NULL::float8 FROM new "
                "UNION ALL SELECT id, %s, lower(name), NULL::float8 FROM new "
                "UNION ALL SELECT id, %s, NULL::text, %s::float8 FROM new",
                [
                    account.pk,
                    owner,
                    owner,
                    low,
                    high - 1,
                    definitions["email"],
                    definitions["first_name"],
                    definitions["owner"],
                    owner,
                ],
            )
        say(f"seeded {high} contacts")


def fan_out_in_child(workflow_id: int) -> dict:
    """Turn the workflow's existing contacts into enrollments in a fresh process (as the
    Celery task does on a worker) and report its time and peak RSS: this process
    seeded the contacts, so its own peak says nothing about the fan-out."""
    completed = subprocess.run(
        [sys.executable, __file__, "--fan-out-only", str(workflow_id)],
        cwd=BASE_DIR,
        env={**base_env(), **{k: os.environ[k] for k in ("DATABASE_URL", "REDIS_URL")}},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def fan_out_only(workflow_id: int) -> None:
    import resource

    django_setup()
    from workflows import services
    from workflows.models import Workflow

    workflow = Workflow.objects.get(pk=workflow_id)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    enrolled = services.workflow_enroll_existing_now(workflow=workflow)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "enrolled": enrolled,
                "seconds": seconds,
                "peak_rss_mb": round(peak, 1),
                "rss_before_mb": round(rss_before, 1),
            }
        )
    )


SEED_CHUNK = 100_000


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--fan-out-only":
        fan_out_only(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="pool size per worker")
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--seconds", type=float, default=30, help="throughput window")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="do not recreate the database; reuse contacts seeded before",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="WORKFLOWS_BATCH_SIZE for the workers (default: the engine's)",
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL (e.g. redis://127.0.0.1:6379/3)")
    if not args.reuse:
        database_recreate(url)
    env = base_env()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    django_setup()
    import redis
    from django.db import connection

    from workflows import services
    from workflows.models import ActionExecution

    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    broker.delete("default", "assistant")
    if args.reuse:  # an earlier run's backlog must not compete with this one
        ActionExecution.objects.filter(status__in=["pending", "running"]).update(status="cancelled")
    account = account_with_contacts(args.contacts, reuse=args.reuse)
    workflow = services.workflow_create(
        account=account,
        object_type="contact",
        name="Benchmark",
        criteria=[[{"property": "email", "operator": "is_known"}]],
        graph={
            "start": 1,
            "steps": {
                "1": {
                    "type": "create_task",
                    "config": {"title": "Call {{ object.first_name }}", "assignee": "owner"},
                    "next": None,
                }
            },
        },
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    load_fanout = os.getloadavg()[0]
    fanned = fan_out_in_child(workflow.pk)
    enrolled, fanout = fanned["enrolled"], fanned["seconds"]
    say(f"fan-out: {enrolled} enrollments in {fanout:.2f}s, peak RSS {fanned['peak_rss_mb']} MB")

    workdir = Path(tempfile.mkdtemp(prefix="crmflow-bench-"))
    env.update({"WORKFLOWS_SWEEP_SECONDS": "1", "WORKFLOWS_SWEEP_BATCH": "2000"})
    if args.batch_size:
        env["WORKFLOWS_BATCH_SIZE"] = str(args.batch_size)
    processes = [
        start(
            worker_command(f"bench{i}", args.concurrency, args.pool),
            env,
            workdir / f"worker{i}.log",
        )
        for i in range(args.workers)
    ]
    beat = start(beat_command(workdir), env, workdir / "beat.log")
    done = ActionExecution.objects.filter(workflow=workflow, status="succeeded")
    max_connections = 0

    def connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0] - 1  # not ours

    def backends() -> list[int]:
        """PostgreSQL server processes of this database's connections, ours excluded."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid()"
            )
            return [row[0] for row in cursor.fetchall()]

    try:
        deadline = time.monotonic() + 60
        while done.count() < 50 and time.monotonic() < deadline:
            time.sleep(0.2)
        groups = [p.pid for p in processes]
        servers: dict[int, float] = {}  # backend pid -> CPU seconds at the window's start
        for pid in backends():
            servers[pid] = process_cpu_seconds(pid)
        count0, cpu0, t0 = done.count(), cpu_seconds(groups), time.perf_counter()
        load0 = os.getloadavg()[0]
        meter = CpuMeter({"workers": groups})
        while time.perf_counter() - t0 < args.seconds:
            time.sleep(1)
            max_connections = max(max_connections, connections())
            for pid in backends():  # a backend opened during the window starts at 0
                servers.setdefault(pid, 0.0)
        count1, cpu1, t1 = done.count(), cpu_seconds(groups), time.perf_counter()
        db_cpu = sum(max(process_cpu_seconds(pid) - start, 0) for pid, start in servers.items())
        load1 = os.getloadavg()[0]
        cpu = meter.report()
    finally:
        for process in [*processes, beat]:
            stop(process)
    actions = count1 - count0
    summary = {
        "benchmark": "engine",
        "database": connection.vendor,
        "cores": os.cpu_count(),
        "contacts": args.contacts,
        "fanout_enrollments": enrolled,
        "fanout_seconds": round(fanout, 2),
        "fanout_peak_rss_mb": fanned["peak_rss_mb"],
        "fanout_rss_at_start_mb": fanned["rss_before_mb"],
        "load_average_1m_at_fanout": round(load_fanout, 2),
        "workers": args.workers,
        "pool": f"{args.pool} x{args.concurrency}",
        "action": "create_task",
        "window_seconds": round(t1 - t0, 1),
        "actions_completed": actions,
        "actions_per_second": round(actions / (t1 - t0), 1),
        "worker_cpu_ms_per_action": round((cpu1 - cpu0) * 1000 / actions, 2) if actions else None,
        "db_cpu_ms_per_action": round(db_cpu * 1000 / actions, 2) if actions else None,
        "batch_size": int(env.get("WORKFLOWS_BATCH_SIZE") or 0) or "engine default",
        "db_connections_max": max_connections,
        "load_average_1m": [round(load0, 2), round(load1, 2)],
        "machine_busy_cpu_seconds": cpu["machine_busy_cpu_seconds"],
        "machine_cpu_capacity_seconds": cpu["machine_cpu_capacity_seconds"],
        "other_cpu_seconds": cpu["other_cpu_seconds"],
        "cpu_seconds": cpu["cpu_seconds"],
        "targets": {
            "fanout_seconds": 10 if args.contacts <= 100_000 else 20,
            "actions_per_second": 3000,  # issue 26 (was 500)
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
