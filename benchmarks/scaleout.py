"""Scale-out across machines, proven: two network namespaces stand for two machines.

    sudo DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/scaleout.py --enrollments 5000

Linux, root (ip netns). Each "machine" is a network namespace joined to the host by a
veth pair (10.77.<n>.1 host side, 10.77.<n>.2 inside) and runs a default worker
(`-Q default,sweep`, prefork) and an assistant worker (`-Q assistant,sweep`, threads);
they reach PostgreSQL, Redis and the OpenAI simulator only through that link (TCP
forwarders on the host side of each veth). Beat runs on the host. A throwaway database
`crmflow_scaleout_<pid>` and Redis database 9 are used.

The workload is the Qualify visitors template's graph (Ask the Lead qualifier → branch on
the rating → notify / task / set property) on contacts whose "looking_for" text rates
HOT, WARM or COLD; they are enrolled in bulk (criteria "email is known" instead of the
form trigger, so that thousands enroll at once). Phases, --enrollments each:

1. one machine;
2. two machines;
3. two machines, and machine 1's link is cut (its veth down) once a third of the
   work is done, for --cut-seconds (longer than WORKFLOWS_LEASE_SECONDS), then restored.

Reported per phase: drain time, enrollments/s, lost (enrollments not completed, steps
failed), duplicated (tasks or assistant usage rows beyond one per succeeded step, steps
succeeded twice), and OpenAI calls repeated (a call whose worker was cut off is made
again by the machine that took the step over: a repeated call, not a duplicated
effect). ONE JSON summary on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, say  # noqa: E402  (benchmarks/_common.py)

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
# The fixed lease of today's engine must outlast a batch's completion on a busy machine:
# batches of WORKFLOWS_BATCH_SIZE (50 here) steps finish well within it.
LEASE_SECONDS = 30
REDIS_DB = 9
KEY = "sk-scaleout-0000000000000000000000000000000000scale"
TEXTS = [
    "Pricing for 200 seats and a demo this quarter: we have budget.",
    "Some information about your integrations.",
    "I'm a student, just browsing.",
]


def sh(*args: str, check: bool = True) -> None:
    subprocess.run(list(args), check=check, capture_output=True)


# --- The network ------------------------------------------------------------------------


class Machine:
    def __init__(self, number: int):
        self.number = number
        self.ns = f"crmflow-m{number}"
        self.host_if, self.ns_if = f"cfm{number}h", f"cfm{number}n"
        self.host_ip, self.ns_ip = f"10.77.{number}.1", f"10.77.{number}.2"
        self.processes: list[subprocess.Popen] = []

    def create(self) -> None:
        self.destroy()
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        for command in (
            ["ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if],
            ["ip", "link", "set", self.ns_if, "up"],
            ["ip", "link", "set", "lo", "up"],
        ):
            sh("ip", "netns", "exec", self.ns, *command)

    def destroy(self) -> None:
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.ns, check=False)

    def link(self, up: bool) -> None:
        sh("ip", "link", "set", self.host_if, "up" if up else "down")

    def start_workers(self, env: dict[str, str], workdir: Path) -> None:
        for name, queues, extra in (
            ("default", "default,sweep", ["-c", "2"]),
            ("assistant", "assistant,sweep", ["-P", "threads", "-c", "8"]),
        ):
            log = (workdir / f"m{self.number}-{name}.log").open("ab")
            worker_env = dict(env)
            if name == "assistant":
                worker_env["DATABASE_POOL_MAX_SIZE"] = "8"
            command = ["ip", "netns", "exec", self.ns, sys.executable, "-m", "celery", "-A"]
            command += ["config", "worker", "-Q", queues, "-n", f"{name}-m{self.number}@%h"]
            command += ["-l", "WARNING", "--without-gossip", "--without-mingle", *extra]
            self.processes.append(
                subprocess.Popen(
                    command,
                    cwd=BASE_DIR,
                    env=worker_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop_workers(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        self.processes = []


class Forwarder:
    """TCP forwarders (asyncio, in a thread): (listen ip, listen port) → 127.0.0.1:port."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def add(self, listen_ip: str, listen_port: int, target_port: int) -> None:
        async def pipe(reader, writer):
            with contextlib.suppress(Exception):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(Exception):
                writer.close()

        async def handle(reader, writer):
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def serve():
            return await asyncio.start_server(handle, listen_ip, listen_port)

        asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10)


# --- The product --------------------------------------------------------------------------


def django_setup(database_url: str, redis_url: str) -> None:
    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CRMFLOW_ENV_FILE": "",
            "DEBUG": "false",
            "HTTPS": "false",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "scaleout-benchmark-secret-key-0123456789-abcdefghijklmnop",
            "FIELD_ENCRYPTION_KEYS": os.environ.get(
                "FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode()
            ),
            "WORKFLOWS_LEASE_SECONDS": str(LEASE_SECONDS),
            "WORKFLOWS_SWEEP_SECONDS": "1",
            "WORKFLOWS_RESEND_AFTER_SECONDS": "10",
            "WORKFLOWS_BATCH_SIZE": "50",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def workflow_make(enrollments: int, phase: str):
    from django.db import connection
    from django.utils import timezone

    from crm.demo import demo_records_create
    from crm.models import Account, Role, User
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.integrations.openai.demo import (
        LEAD_QUALIFIER_FIELDS,
        LEAD_QUALIFIER_INSTRUCTIONS,
        contact_us_form_ensure,
        workspace_assistant_ensure,
    )
    from marketplace.models import Connection
    from workflows import services
    from workflows.builder.templates import template_create

    account = Account.objects.create(name=f"Scale-out {phase} {time.time():.0f}")
    admin = User.objects.create_user(
        username=f"admin-{account.pk}",
        account=account,
        role=Role.SUPER_ADMIN,
        email=f"admin-{account.pk}@example.com",
    )
    User.objects.create_user(
        username=f"rep-{account.pk}",
        account=account,
        role=Role.SALES_REP,
        email=f"rep-{account.pk}@example.com",
    )
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
    workspace_assistant_ensure(
        account, "Lead qualifier", LEAD_QUALIFIER_INSTRUCTIONS, fields=LEAD_QUALIFIER_FIELDS
    )
    contact_us_form_ensure(account=account, actor=admin)
    template = template_create(account=account, key="qualify_visitors", actor=admin)
    workflow = services.workflow_create(
        account=account,
        object_type="contact",
        name="Qualify visitors (bulk)",
        criteria=[[{"property": "email", "operator": "is_known"}]],
        graph=template.graph,
    )
    demo_records_create(account, contacts=enrollments, companies=0)
    with connection.cursor() as cursor:
        for index, text in enumerate(TEXTS):
            cursor.execute(
                "UPDATE crm_record SET properties = properties || jsonb_build_object("
                "'looking_for', %s::text) WHERE account_id = %s AND object_type = 'contact' "
                "AND id %% 3 = %s",
                [text, account.pk, index],
            )
    services.workflow_publish(workflow=workflow)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    return workflow


def progress(workflow) -> dict[str, int]:
    from django.db.models import Count

    from workflows.models import ActionExecution, Enrollment

    enrollments = dict(
        Enrollment.objects.filter(workflow=workflow).values_list("status").annotate(n=Count("id"))
    )
    steps = dict(
        ActionExecution.objects.filter(workflow=workflow)
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return {"enrollments": enrollments, "steps": steps}


def outcome(workflow, simulator_calls: int) -> dict:
    from django.db.models import Count

    from crm.models import Task
    from marketplace.integrations.openai.models import AssistantUsage
    from workflows.models import ActionExecution, Enrollment

    enrollments = Enrollment.objects.filter(workflow=workflow)
    steps = ActionExecution.objects.filter(workflow=workflow)
    asks = steps.filter(action_type="ask_openai_assistant", status="succeeded").count()
    tasks_steps = steps.filter(action_type="create_task", status="succeeded").count()
    tasks = Task.objects.filter(account=workflow.account).count()
    usage = AssistantUsage.objects.filter(workflow=workflow).count()
    twice = steps.values("enrollment_id", "step_id").annotate(n=Count("id")).filter(n__gt=1).count()
    return {
        "lost": enrollments.exclude(status="completed").count()
        + steps.filter(status="failed").count(),
        "duplicated": max(tasks - tasks_steps, 0) + max(usage - asks, 0) + twice,
        "openai_calls": simulator_calls,
        "openai_calls_repeated": max(simulator_calls - asks, 0),
        "steps_succeeded": steps.filter(status="succeeded").count(),
        "leases_recovered": steps.filter(attempt__gt=1).count(),
    }


def simulator_calls(admin: str) -> int:
    with urllib.request.urlopen(f"{admin}/requests?key=scaleout&limit=1000000", timeout=60) as r:
        return len([x for x in json.loads(r.read())["data"] if x.get("status") == 200])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=5000)
    parser.add_argument("--cut-seconds", type=float, default=LEASE_SECONDS * 1.5)
    parser.add_argument("--latency", default="uniform:100:600", help="simulator latency")
    parser.add_argument("--timeout", type=float, default=1800, help="per phase")
    args = parser.parse_args()
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        raise SystemExit("Linux and root only (ip netns).")

    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    database = f"crmflow_scaleout_{os.getpid()}"
    sh("psql", admin_url, "-qc", f'CREATE DATABASE "{database}"')
    database_url = admin_url.rsplit("/", 1)[0] + f"/{database}"
    redis_port = int(os.environ.get("REDIS_PORT", "6379"))
    sh("redis-cli", "-p", str(redis_port), "-n", str(REDIS_DB), "FLUSHDB")
    workdir = Path(f"/tmp/crmflow-scaleout-{os.getpid()}")
    workdir.mkdir()
    machines = [Machine(1), Machine(2)]
    beat = simulator = None
    summary: dict = {
        "benchmark": "scaleout",
        "enrollments_per_phase": args.enrollments,
        "lease_seconds": LEASE_SECONDS,
        "cut_seconds": args.cut_seconds,
        "cores": os.cpu_count(),
        "load_average_start": os.getloadavg()[0],
    }
    try:
        django_setup(database_url, f"redis://127.0.0.1:{redis_port}/{REDIS_DB}")
        sim_port = free_port()
        config = workdir / "simulator.json"
        config.write_text(
            json.dumps(
                {
                    "seed": 3,
                    "latency": args.latency,
                    "request_log_size": 1_000_000,
                    "keys": [
                        {"key": KEY, "name": "scaleout", "rpm": 10_000_000, "tpm": 10_000_000_000}
                    ],
                }
            )
        )
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openai_simulator",
                "--port",
                str(sim_port),
                "--config",
                str(config),
            ],
            cwd=BASE_DIR,
            stdout=(workdir / "simulator.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sim_admin = f"http://127.0.0.1:{sim_port}/_sim"
        forwarder = Forwarder()
        pg_host_port = int(database_url.rsplit(":", 1)[1].split("/")[0])
        ports = {"pg": free_port(), "redis": free_port(), "sim": free_port()}
        envs = {}
        for machine in machines:
            machine.create()
            forwarder.add(machine.host_ip, ports["pg"], pg_host_port)
            forwarder.add(machine.host_ip, ports["redis"], redis_port)
            forwarder.add(machine.host_ip, ports["sim"], sim_port)
            env = {k: v for k, v in os.environ.items()}
            env.update(
                {
                    "DATABASE_URL": database_url.replace(
                        f"127.0.0.1:{pg_host_port}", f"{machine.host_ip}:{ports['pg']}"
                    ),
                    "REDIS_URL": f"redis://{machine.host_ip}:{ports['redis']}/{REDIS_DB}",
                    "OPENAI_BASE_URL": f"http://{machine.host_ip}:{ports['sim']}/v1",
                    "PYTHONPATH": str(BASE_DIR),
                    "OPENAI_ASSISTANT_DEADLINE_SECONDS": "10",
                }
            )
            envs[machine.number] = env
        beat = subprocess.Popen(
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
            cwd=BASE_DIR,
            env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
            stdout=(workdir / "beat.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for phase, count, cut in (
            ("one_machine", 1, False),
            ("two_machines", 2, False),
            ("two_machines_one_cut", 2, True),
        ):
            say(f"{phase}: creating {args.enrollments} contacts")
            workflow = workflow_make(args.enrollments, phase)
            for machine in machines[:count]:
                machine.start_workers(envs[machine.number], workdir)
            time.sleep(8)  # workers up
            calls_before = simulator_calls(sim_admin)
            from workflows import services

            started = time.monotonic()
            services.workflow_enroll_existing_now(workflow=workflow)
            cut_at = restored_at = done_at = None
            deadline = started + args.timeout
            while time.monotonic() < deadline:
                state = progress(workflow)
                done = state["enrollments"].get("completed", 0) + state["enrollments"].get(
                    "failed", 0
                )
                say(f"{phase}: {state}")
                if cut and cut_at is None and done >= args.enrollments / 3:
                    machines[0].link(False)
                    cut_at = time.monotonic()
                    say(f"{phase}: machine 1 cut off")
                if cut_at and restored_at is None and time.monotonic() - cut_at > args.cut_seconds:
                    machines[0].link(True)
                    restored_at = time.monotonic()
                    say(f"{phase}: machine 1 back")
                if done >= args.enrollments and done_at is None:
                    done_at = time.monotonic()
                if done_at and (not cut or restored_at):
                    break
                time.sleep(2)
            drain = (done_at or time.monotonic()) - started
            if cut and restored_at is None:
                machines[0].link(True)
            time.sleep(3)
            result = outcome(workflow, simulator_calls(sim_admin) - calls_before)
            result.update(
                {
                    "drain_seconds": round(drain, 1),
                    "enrollments_per_second": round(args.enrollments / drain, 1),
                    "load_average": round(os.getloadavg()[0], 2),
                }
            )
            if cut:
                result["cut_after_seconds"] = round((cut_at or started) - started, 1)
            summary[phase] = result
            say(f"{phase}: {result}")
            for machine in machines:
                machine.stop_workers()
        summary["speedup_two_vs_one"] = round(
            summary["two_machines"]["enrollments_per_second"]
            / max(summary["one_machine"]["enrollments_per_second"], 0.001),
            2,
        )
        summary["lost"] = sum(
            summary[p]["lost"] for p in ("one_machine", "two_machines", "two_machines_one_cut")
        )
        summary["duplicated"] = sum(
            summary[p]["duplicated"]
            for p in ("one_machine", "two_machines", "two_machines_one_cut")
        )
    finally:
        for machine in machines:
            machine.stop_workers()
            machine.destroy()
        for process in (beat, simulator):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
        from django.db import connections

        connections.close_all()
        sh(
            "psql",
            admin_url,
            "-qc",
            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
            check=False,
        )
    print(json.dumps(summary))
    return 0 if summary.get("lost") == 0 and summary.get("duplicated") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
