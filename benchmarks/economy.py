"""Economy mode benchmark: a workflow (one Ask step) turned on over --records contacts in
economy mode, through the Batch API of the OpenAI simulator (its own process).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/economy \
    REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python benchmarks/economy.py [--records 100000]

The database is migrated and used as is (each run makes its own account). This process
plays the web process, the `assistant` workers and beat, one phase after the other;
for the apply phase it starts --workers `crmflow worker` processes (`default` and
`sweep`, one process each; default: one per core), as production runs them:

1. enqueue: the fan-out enrolls every record, then the Ask steps run (in batches, as
   the `assistant` worker runs them) and each writes its request and waits;
2. submit (beat's job, `economy.economy_submit`): the JSONL files written and uploaded,
   rows per file; the process's peak RSS while writing and uploading them (sampled every
   10 ms; target < 300 MB) against its RSS before;
3. the simulator runs the batches (not timed as ours: OpenAI takes up to 24 h);
4. apply: `economy.economy_poll` (beat's job, in this process) reads the output files,
   stores the answers, resumes the steps and hands the answered ones out in chunks:
   the workers complete chunks from the last while this process completes them from
   the first (usage rows at the batch rate, next steps). Timed from the first poll
   that stores answers until every step has succeeded (target < 60 s for 100,000),
   with the CPU each side used. `--workers 0`: this process completes everything
   (then drains what is left as the `assistant` worker would). `--profile FILE`
   writes a cProfile of this process during the apply.

Prints ONE JSON summary on stdout (with the load average and busy CPU of the run);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

KEY = "sk-bench-economy-unlimited-000000000000000000econ"
sys.path.insert(0, str(BASE_DIR / "benchmarks"))
import _common  # noqa: E402
from assistant import base_env, free_port, say  # noqa: E402

from ops.cli import worker_command  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """The process's highest RSS while the block runs (sampled every 10 ms)."""

    def __enter__(self) -> PeakRss:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def cpu_busy() -> tuple[float, float]:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the apply phase to FILE"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="`crmflow worker` processes (default, sweep; one process each) for the apply",
    )
    args = parser.parse_args()
    env = base_env()
    os.environ.update({k: v for k, v in env.items() if k not in os.environ or k == "LOG_LEVEL"})
    os.environ["OPENAI_ECONOMY_BATCH_ROWS"] = str(args.batch_rows)
    port = free_port()
    config = {
        "keys": [{"key": KEY, "name": "bench", "rpm": 10_000_000, "tpm": 10_000_000_000}],
        "batch_validating_seconds": 0.1,
        "batch_in_progress_seconds": 0.5,
        "batch_finalizing_seconds": 0.1,
        "request_log_size": 1000,
    }
    config_file = Path(tempfile.mkstemp(suffix=".json")[1])
    config_file.write_text(json.dumps(config))
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openai_simulator",
            "--port",
            str(port),
            "--config",
            str(config_file),
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    try:
        summary = run(args)
    finally:
        simulator.terminate()
        simulator.wait(10)
        config_file.unlink()
    print(json.dumps(summary, indent=2))


def run(args: argparse.Namespace) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection as db
    from django.utils import timezone

    from crm.models import Account, ObjectType
    from crm.services import records_bulk_create
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai import economy
    from marketplace.integrations.openai.models import (
        AssistantUsage,
        EconomyBatch,
        WorkspaceAssistant,
    )
    from marketplace.models import Connection
    from workflows import services
    from workflows.engine import runner
    from workflows.models import ActionExecution, Enrollment

    call_command("migrate", verbosity=0)
    account = Account.objects.create(name=f"economy benchmark {time.time():.0f}")
    Connection.objects.create(
        account=account,
        app="openai",
        encrypted_secret=secret_encrypt(KEY),
        secret_mask=secret_mask(KEY),
        secret_fingerprint=secret_fingerprint(KEY),
        status="connected",
        available_models=["gpt-4o-mini"],
        connected_at=timezone.now(),
    )
    assistant = WorkspaceAssistant.objects.create(
        account=account,
        name="State formatter",
        model="gpt-4o-mini",
        instructions="Turn the US state name into its two-letter state code.",
    )
    say(f"creating {args.records} contacts…")
    states = ["texas", "ohio", "utah", "iowa", "maine", "california"]
    for start in range(0, args.records, 10_000):
        rows = [
            {"first_name": f"C{i}", "state": states[i % len(states)]}
            for i in range(start, min(start + 10_000, args.records))
        ]
        records_bulk_create(account=account, object_type=ObjectType.CONTACT, rows=rows)
    graph = {
        "start": 1,
        "steps": {
            "1": {
                "type": "ask_openai_assistant",
                "config": {"assistant": assistant.choice_value, "prompt": "{{ object.state }}"},
            }
        },
    }
    workflow = services.workflow_create(
        account=account, object_type=ObjectType.CONTACT, name="Economy", graph=graph
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    mine = ActionExecution.objects.filter(workflow=workflow)
    busy0, total0 = cpu_busy()
    load0 = os.getloadavg()

    say("enqueue: fan-out and Ask steps → waiting…")
    started = time.monotonic()
    services.workflow_enroll_existing_now(workflow=workflow, economy=True)
    fan_out_s = time.monotonic() - started
    drain(runner, mine)
    enqueue_s = time.monotonic() - started
    waiting = mine.filter(status="waiting").count()

    say("submit: batch files written and uploaded…")
    db.close()
    with PeakRss() as rss:
        before = rss.peak
        started = time.monotonic()
        batches = economy.economy_submit()
        submit_s = time.monotonic() - started
    rows = list(
        EconomyBatch.objects.filter(connection__account=account).values_list("rows", flat=True)
    )

    workers = workers_start(args) if args.workers else []
    try:
        say("the simulator runs the batches…")
        profiler = cProfile.Profile() if args.profile else None
        started = time.monotonic()
        applied = 0
        apply_started: float | None = None
        meter: _common.CpuMeter | None = None
        while EconomyBatch.objects.filter(
            connection__account=account, finished_at__isnull=True
        ).exists():
            tick = time.monotonic()
            if meter is None:
                meter = _common.CpuMeter(
                    {
                        "beat_job_and_simulator": [os.getpgrp()],
                        "workers": [p.pid for p in workers],
                    }
                )
            if profiler:
                profiler.enable()
            _polled, stored = economy.economy_poll()
            if profiler:
                profiler.disable()
            if stored and apply_started is None:
                apply_started = tick
            applied += stored
            if not stored:
                meter = None  # nothing applied yet: measure from the poll that applies
                time.sleep(0.2)
            if time.monotonic() - started > 3600:
                raise SystemExit("the batches did not end within an hour")
        poll_s = time.monotonic() - (apply_started or time.monotonic())
        say(f"apply: {applied} answers stored; the steps complete…")
        if profiler:
            profiler.enable()
        if workers:
            while mine.filter(status__in=["pending", "running"]).exists():
                time.sleep(0.1)
                if time.monotonic() - started > 3600:
                    raise SystemExit("the steps did not complete within an hour")
        else:
            drain(runner, mine)
        apply_s = time.monotonic() - (apply_started or time.monotonic())
        cpu = meter.report() if meter else {}
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        for worker in workers:
            _common.stop(worker)
    busy1, total1 = cpu_busy()
    usage = AssistantUsage.objects.filter(workflow=workflow)
    return {
        "benchmark": "economy",
        "records": args.records,
        "database": db.vendor,
        "enqueue": {
            "fan_out_seconds": round(fan_out_s, 1),
            "seconds_until_every_step_waits": round(enqueue_s, 1),
            "steps_waiting": waiting,
        },
        "submit": {
            "seconds": round(submit_s, 1),
            "batches": batches,
            "rows_per_batch_file": sorted(rows, reverse=True),
            "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(rss.peak, 1),
            "target_peak_rss_mb": 300,
        },
        "apply": {
            "answers_stored": applied,
            "seconds_in_beat_job": round(poll_s, 1),
            "seconds": round(apply_s, 1),
            "target_seconds": 60,
            "workers": f"{args.workers} x crmflow worker (-Q default,sweep -P solo)"
            if args.workers
            else "none: this process completes every step",
            "succeeded": mine.filter(status="succeeded").count(),
            "usage_rows_at_batch_rate": usage.filter(engine="batch").count(),
            "enrollments_completed": Enrollment.objects.filter(
                workflow=workflow, status="completed"
            ).count(),
            "cpu": cpu,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in load0],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "busy_cpu_share": round((busy1 - busy0) / max(total1 - total0, 1), 3),
            "note": "shared machine" if load0[0] > 1.5 else "",
        },
    }


def workers_start(args: argparse.Namespace) -> list[subprocess.Popen]:
    """--workers Celery workers on `default` and `sweep` (as `crmflow worker`; no beat
    runs here, so no sweep), their queues emptied of an earlier run's messages first;
    logs in a temporary directory."""
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("default", "assistant")
    logs = Path(tempfile.mkdtemp(prefix="economy-bench-"))
    say(f"starting {args.workers} worker(s) on `default` (logs in {logs})…")
    return [
        _common.start(
            worker_command(
                "-n", f"economy{i}@%h", "-l", "WARNING", "--without-gossip", "--without-mingle"
            ),
            dict(os.environ),
            logs / f"worker{i}.log",
        )
        for i in range(args.workers)
    ]


def drain(runner, executions) -> None:
    """Run the due Ask steps in batches, as the `assistant` worker does, until none is
    due."""
    from django.utils import timezone

    while True:
        ids = list(
            executions.filter(status="pending", due_at__lte=timezone.now())
            .order_by("pk")
            .values_list("pk", flat=True)[:5000]
        )
        if not ids:
            return
        for start in range(0, len(ids), 64):
            runner.executions_run(execution_ids=ids[start : start + 64], queue="assistant")


if __name__ == "__main__":
    main()
