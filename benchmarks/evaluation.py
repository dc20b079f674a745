"""Evaluation benchmark: one assistant version asked about a set of --records records
(500, the most a set holds) on the simulator at a fixed 1 s latency, through a Celery
worker on the `assistant` queue and the same batch path as workflows (target: finished
in under 10 s).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/evaluation_bench \
    REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python benchmarks/evaluation.py

PostgreSQL + Redis (the database is migrated and used as is; each run makes its own
account). Processes: one Celery worker on `assistant` (threads: the evaluation's task
holds one while its calls run in the process's call threads) and the OpenAI simulator.
The window runs from "Evaluate" (the evaluation created and its task published) until
the evaluation is finished; the records and the set are made before it, and a warm-up
evaluation of 10 records runs first (the worker started, the key's limits learned by
the limiter, as on a connection in use).

Reports: seconds, answers per second, answers and failures, p50/p95 call latency, the
worker's and the simulator's CPU, and the whole machine's busy CPU over the window.
Prints ONE JSON summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402  (benchmarks/_common.py: processes, CPU and memory)
    BASE_DIR,
    CpuMeter,
    base_env,
    rss_mb,
    say,
    start,
    stop,
)
from assistant import FAST_KEY, Simulator  # noqa: E402  (its simulator set-up)

TARGET_SECONDS = 10.0


def setup(records: int):
    """An account with OpenAI connected, the Lead rater, and a set of `records` contacts
    with the rating each should get."""
    from django.utils import timezone

    from crm.models import Account, ObjectType, Record
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai import versions
    from marketplace.integrations.openai.models import EvaluationSet, WorkspaceAssistant
    from marketplace.models import Connection

    account = Account.objects.create(name=f"Evaluation benchmark {time.time():.0f}")
    Connection.objects.create(
        account=account,
        app="openai",
        encrypted_secret=secret_encrypt(FAST_KEY),
        secret_mask=secret_mask(FAST_KEY),
        secret_fingerprint=secret_fingerprint(FAST_KEY),
        status="connected",
        available_models=["gpt-4o-mini", "gpt-4.1-mini"],
        connected_at=timezone.now(),
    )
    rater = WorkspaceAssistant.objects.create(
        account=account,
        name="Lead rater",
        model="gpt-4o-mini",
        instructions="Rate the lead: HOT, WARM or COLD.",
        output_format="structured",
        output_fields=[
            {"name": "rating", "type": "enumeration", "options": ["HOT", "WARM", "COLD"]},
            {"name": "reason", "type": "text", "options": []},
        ],
    )
    version = versions.version_current(rater)
    titles = [("We need a quote, budget approved", "HOT"), ("Student, internship", "COLD")]
    made = Record.objects.bulk_create(
        [
            Record(
                account=account,
                object_type=ObjectType.CONTACT,
                name=f"Lead {i}",
                properties={"job_title": titles[i % 2][0]},
            )
            for i in range(records)
        ]
    )
    evaluation_set = EvaluationSet.objects.create(
        account=account,
        assistant=rater,
        name="Benchmark",
        object_type=ObjectType.CONTACT,
        prompt="{{ object.job_title }}",
        records=[r.pk for r in made],
        expected={str(r.pk): {"fields": {"rating": titles[i % 2][1]}} for i, r in enumerate(made)},
    )
    return evaluation_set, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4, help="Celery threads of the worker")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    env = base_env()
    workdir = Path(tempfile.mkdtemp(prefix="crmflow-evaluation-bench-"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    simulator = Simulator(workdir, env)
    env.update({"OPENAI_BASE_URL": simulator.base_url, "OPENAI_TIMEOUT": "30"})
    os.environ.update(env)
    import django

    django.setup()
    import redis

    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    broker.delete("assistant")
    for key in broker.scan_iter(match="crmflow:openai:rl:*"):
        broker.delete(key)

    from marketplace.integrations.openai import evaluation_run, evaluations
    from marketplace.integrations.openai.models import Evaluation

    say(f"setting up {args.records} records")
    evaluation_set, version = setup(args.records)
    worker = start(
        [
            sys.executable,
            *("-m", "celery", "-A", "config", "worker", "-Q", "assistant", "-n", "eval@%h"),
            *("-P", "threads", "-c", str(args.threads), "-l", "WARNING"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        env,
        workdir / "worker.log",
    )
    summary: dict = {
        "benchmark": "evaluation",
        "cores": os.cpu_count(),
        "simulator_latency_ms": 1000,
        "records": args.records,
        "processes": f"1 x celery -Q assistant -P threads -c {args.threads}",
    }
    try:
        # A warm-up evaluation of a few records: the worker is up and has imported what
        # it needs, and the limiter knows the key's limits (as on a connection in use).
        warm_set, _version = setup(10)
        warm = evaluation_run.evaluation_start(evaluation_set=warm_set, version_a=_version)
        warm_started = time.monotonic()
        while not Evaluation.objects.get(pk=warm.pk).is_finished:
            if time.monotonic() - warm_started > args.timeout:
                raise SystemExit("the warm-up evaluation did not finish")
            time.sleep(0.2)
        summary["warm_up_seconds_10_records"] = round(time.monotonic() - warm_started, 2)
        say("evaluating")
        meter = CpuMeter({"worker": [worker.pid], "simulator": [simulator.process.pid]})
        load_before = os.getloadavg()
        started = time.monotonic()
        evaluation = evaluation_run.evaluation_start(
            evaluation_set=evaluation_set, version_a=version
        )
        while time.monotonic() - started < args.timeout:
            evaluation.refresh_from_db()
            if evaluation.is_finished:
                break
            time.sleep(0.1)
        seconds = time.monotonic() - started
        cpu = meter.report()
        results = evaluations.evaluation_results(evaluation, rows=False)
        side = results.sides[0]
        summary.update(
            {
                "status": evaluation.status,
                "seconds": round(seconds, 2),
                "answers": side.answered,
                "failed": side.failed,
                "answers_per_second": round(side.answered / seconds, 1) if seconds else None,
                "pass_rate_percent": side.pass_rate,
                "latency_ms_p50": side.p50,
                "latency_ms_p95": side.p95,
                "cpu": cpu,
                "worker_rss_mb": round(rss_mb([worker.pid]), 1),
                "loadavg_before": [round(v, 2) for v in load_before],
                "loadavg_after": [round(v, 2) for v in os.getloadavg()],
                "finished": evaluation.status == Evaluation.Status.DONE,
            }
        )
    finally:
        stop(worker)
        stop(simulator.process)
    summary["targets"] = {"seconds_max": TARGET_SECONDS}
    summary["met"] = bool(summary.get("finished")) and summary.get("seconds", 1e9) < TARGET_SECONDS
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
