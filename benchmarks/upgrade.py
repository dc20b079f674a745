"""An upgrade with enrollments in flight, run to the end (docs/operations.md, "Upgrades").

    .venv/bin/python benchmarks/upgrade.py [--from REV] [--enrollments 300]

REV (default 76029e0: main before issues 19-27, the last schema before this wave; the
project has no release tags yet) is checked out into a temporary folder and runs as the
"old version" on a throwaway PostgreSQL database `crmflow_upgrade_<pid>` (DATABASE_URL
names the server, default postgres://postgres@127.0.0.1:5432/postgres), Redis database
8 and the OpenAI simulator (200-1500 ms per call, a key limited to 180 requests a
minute, so that steps are pending, postponed and running when the upgrade starts). The
procedure of docs/operations.md:

1. old version: migrate, an account with the OpenAI connection, a workflow
   (Ask OpenAI assistant → Create task) with --enrollments contacts enrolled at once;
   old worker, assistant worker and beat start;
2. once a quarter of the enrollments completed: stop beat; `migrate` with this
   checkout's code while the OLD workers keep running (steps in flight);
3. stop the old workers (SIGTERM: they finish or leave leases behind), start the new
   version's workers and beat;
4. wait until every enrollment ended.

Prints ONE JSON summary: migrations applied by the upgrade, enrollments completed
before/after, lost (not completed, or failed steps), duplicated (tasks or usage rows
beyond one per enrollment), the time from upgrade start to drained. Exits 1 if anything
was lost or duplicated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, say  # noqa: E402  (benchmarks/_common.py)

BASE_DIR = Path(__file__).resolve().parent.parent
REDIS_DB = 8
KEY = "sk-upgrade-000000000000000000000000000000000upgrade"

SETUP = textwrap.dedent(
    """
    from django.utils import timezone
    from crm.demo import demo_records_create
    from crm.models import Account, Role, User
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai.models import WorkspaceAssistant
    from marketplace.models import Connection
    from workflows import services
    account = Account.objects.create(name="Upgrade")
    User.objects.create_user(username="upgrade-admin", account=account, role=Role.SUPER_ADMIN,
                             email="admin@upgrade.example")
    Connection.objects.create(account=account, app="openai", encrypted_secret=secret_encrypt(KEY),
        secret_mask=secret_mask(KEY), secret_fingerprint=secret_fingerprint(KEY),
        status="connected", available_models=["gpt-4o-mini"], connected_at=timezone.now())
    assistant = WorkspaceAssistant.objects.create(account=account, name="State formatter",
        model="gpt-4o-mini", instructions="Turn the US state name into its two-letter code.")
    workflow = services.workflow_create(account=account, object_type="contact", name="Upgrade",
        criteria=[[{"property": "email", "operator": "is_known"}]],
        graph={"start": 1, "steps": {
            "1": {"type": "ask_openai_assistant", "next": 2,
                  "config": {"assistant": assistant.choice_value, "prompt": "{{ object.state }}"}},
            "2": {"type": "create_task", "next": None,
                  "config": {"title": "State {{ actions.1.response }}"}}}})
    demo_records_create(account, contacts=ENROLLMENTS, companies=0)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    services.workflow_enroll_existing_now(workflow=workflow)
    print("ENROLLED", workflow.pk)
    """
)

STATE = textwrap.dedent(
    """
    import json
    from django.db.models import Count
    from crm.models import Task
    from marketplace.integrations.openai.models import AssistantUsage
    from workflows.models import ActionExecution, Enrollment
    enrollments = dict(Enrollment.objects.values_list("status").annotate(n=Count("id")))
    print(json.dumps({
        "enrollments": enrollments,
        "failed_steps": ActionExecution.objects.filter(status="failed").count(),
        "steps_retried": ActionExecution.objects.filter(attempt__gt=1).count(),
        "tasks": Task.objects.count(),
        "usage_rows": AssistantUsage.objects.count(),
    }))
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="rev", default="76029e0")
    parser.add_argument("--enrollments", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    work = Path(tempfile.mkdtemp(prefix="crmflow-upgrade-"))
    old = work / "old"
    subprocess.run(["git", "clone", "--quiet", str(BASE_DIR), str(old)], check=True)
    subprocess.run(["git", "-C", str(old), "checkout", "--quiet", args.rev], check=True)
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    database = f"crmflow_upgrade_{os.getpid()}"
    subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{database}"'], check=True)
    redis_port = int(os.environ.get("REDIS_PORT", "6379"))
    subprocess.run(
        ["redis-cli", "-p", str(redis_port), "-n", str(REDIS_DB), "FLUSHDB"],
        check=True,
        capture_output=True,
    )
    sim_port = free_port()
    # 180 requests a minute: the rate limiter spreads the calls over minutes, so steps are
    # pending, postponed and running when the upgrade starts.
    config = work / "simulator.json"
    config.write_text(
        json.dumps(
            {
                "seed": 5,
                "latency": "uniform:200:1500",
                "keys": [{"key": KEY, "name": "upgrade", "rpm": 180, "tpm": 1_000_000_000}],
            }
        )
    )
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CRMFLOW_ENV_FILE": "",
            "SECRET_KEY": "upgrade-benchmark-secret-key-0123456789-abcdefghijklmnop",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DEBUG": "false",
            "HTTPS": "false",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{database}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/{REDIS_DB}",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{sim_port}/v1",
            "WORKFLOWS_LEASE_SECONDS": "30",
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "WORKFLOWS_RESEND_AFTER_SECONDS": "10",
            "OPENAI_ASSISTANT_DEADLINE_SECONDS": "15",
        }
    )
    python = sys.executable
    processes: list[subprocess.Popen] = []

    def start(name: str, code: Path, *command: str) -> subprocess.Popen:
        process = subprocess.Popen(
            list(command),
            cwd=code,
            env={**base, "PYTHONPATH": str(code)},
            stdout=(work / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(process)
        return process

    def manage(code: Path, *command: str) -> str:
        return subprocess.run(
            [python, "manage.py", *command],
            cwd=code,
            env={**base, "PYTHONPATH": str(code)},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def state(code: Path) -> dict:
        return json.loads(manage(code, "shell", "-c", STATE).strip().splitlines()[-1])

    def stop(process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)

    def workers(code: Path, label: str) -> list[subprocess.Popen]:
        celery = [python, "-m", "celery", "-A", "config"]
        return [
            start(
                f"{label}-worker",
                code,
                *celery,
                "worker",
                "-Q",
                "default,sweep",
                "-c",
                "2",
                "-n",
                f"default-{label}@%h",
                "-l",
                "WARNING",
            ),
            start(
                f"{label}-assistant",
                code,
                *celery,
                "worker",
                "-Q",
                "assistant,sweep",
                "-P",
                "threads",
                "-c",
                "8",
                "-n",
                f"assistant-{label}@%h",
                "-l",
                "WARNING",
            ),
        ]

    summary: dict = {
        "benchmark": "upgrade",
        "from": args.rev,
        "enrollments": args.enrollments,
        "cores": os.cpu_count(),
    }
    try:
        start(
            "simulator",
            BASE_DIR,
            python,
            "-m",
            "openai_simulator",
            "--port",
            str(sim_port),
            "--config",
            str(config),
        )
        say(f"old version {args.rev}: migrate and enroll")
        manage(old, "migrate", "--no-input")
        setup = f"KEY = {KEY!r}\nENROLLMENTS = {args.enrollments}\n" + SETUP
        old_workers = workers(old, "old")
        old_beat = start(
            "old-beat",
            old,
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "WARNING",
            "-s",
            str(work / "old-beat-schedule"),
        )
        manage(old, "shell", "-c", setup)
        deadline = time.monotonic() + args.timeout
        while state(old)["enrollments"].get("completed", 0) < args.enrollments / 4:
            if time.monotonic() > deadline:
                raise RuntimeError("the old version never got a quarter done")
            time.sleep(1)
        upgrade_started = time.monotonic()
        before = state(old)
        summary["before_upgrade"] = before
        say(f"upgrade: stop beat, migrate with the new code (old workers running): {before}")
        stop(old_beat)
        plan = manage(BASE_DIR, "migrate", "--no-input", "--plan")
        summary["migrations_applied"] = [
            line.strip() for line in plan.splitlines() if line.startswith("  ")
        ]
        manage(BASE_DIR, "migrate", "--no-input")
        summary["during_migrate"] = state(BASE_DIR)
        say("restart: old workers stop, new workers and beat start")
        for process in old_workers:
            stop(process)
        workers(BASE_DIR, "new")
        start(
            "new-beat",
            BASE_DIR,
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "WARNING",
            "-s",
            str(work / "new-beat-schedule"),
        )
        final = state(BASE_DIR)
        while sum(final["enrollments"].values()) - final["enrollments"].get("active", 0) < (
            args.enrollments
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(2)
            final = state(BASE_DIR)
        summary["after"] = final
        summary["upgrade_to_drained_seconds"] = round(time.monotonic() - upgrade_started, 1)
        completed = final["enrollments"].get("completed", 0)
        summary["lost"] = args.enrollments - completed + final["failed_steps"]
        summary["duplicated"] = max(final["tasks"] - completed, 0) + max(
            final["usage_rows"] - completed, 0
        )
        summary["load_average"] = round(os.getloadavg()[0], 2)
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
        subprocess.run(
            ["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            capture_output=True,
        )
        summary["logs"] = str(work)
    print(json.dumps(summary))
    return 0 if summary.get("lost") == 0 and summary.get("duplicated") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
