"""A production install from scratch, checked end to end (docs/operations.md, "Install").

    python scripts/install_check.py [--source /path/to/git/repo] [--keep]

1. `git clone` the repository (default: this checkout's) into a temporary folder;
2. a new virtualenv there, `pip install .` (no editable install, no dev extras);
3. a throwaway PostgreSQL database `crmflow_ops_<pid>` (created with psql as the local
   superuser; DATABASE_URL_ADMIN overrides postgres://postgres@127.0.0.1:5432/postgres)
   and Redis database 7 of REDIS_URL's server (default redis://127.0.0.1:6379, flushed);
4. the installed OpenAI simulator (`python -m openai_simulator`) on a free port;
5. `crmflow migrate`, `crmflow check` (with HTTPS on, as production), `crmflow manage
   seed_demo`, then `crmflow web`, `crmflow worker`, `crmflow assistant-worker` and
   `crmflow beat` TWICE (the second must stand by);
6. waits for /readyz 200 through gunicorn, then runs the three use cases of PRODUCT.md
   §1.7 on those processes: the demo account connects OpenAI (the simulator), its three
   demo workflows are turned on (the states of its contacts enroll), its demo deals move
   to "Qualified to buy", a visitor sends the "Contact us" form over HTTP to gunicorn; then it waits for a hot-lead call task, the contacts' states written back as
   two-letter codes, and a drafted email on a task of each demo deal, with no failed step
   and no step run twice.

Prints one JSON summary; exits 1 if anything failed. Linux, needs git, psql and Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
REDIS_DB = 7

# Run inside the installed product (`crmflow manage shell -c`): turn the use cases on.
SETUP = textwrap.dedent(
    """
    from django.utils import timezone
    from crm.models import Account, Form
    from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
    from marketplace.models import Connection
    from openai_simulator.config import DEMO_KEY
    from workflows import services
    from workflows.models import Workflow

    acme = Account.objects.get(name="Acme")
    Connection.objects.update_or_create(
        account=acme, app="openai",
        defaults={"encrypted_secret": secret_encrypt(DEMO_KEY), "secret_mask": secret_mask(DEMO_KEY),
                  "secret_fingerprint": secret_fingerprint(DEMO_KEY), "status": "connected",
                  "available_models": ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"],
                  "connected_at": timezone.now()})
    for workflow in Workflow.objects.filter(account=acme):
        services.workflow_publish(workflow=workflow)
        services.workflow_turn_on(workflow=workflow, enroll_existing=True)
    # Draft sales emails starts when a deal enters "Qualified to buy".
    from crm import services as crm
    from crm.models import ObjectType, Record
    for deal in Record.objects.filter(account=acme, object_type=ObjectType.DEAL):
        crm.record_update(record=deal, values={"stage": "qualifiedtobuy"})
    print("FORM", Form.objects.get(account=acme, name="Contact us").public_key)
    """
)

# Run inside the installed product: where the use cases stand (one JSON line).
STATE = textwrap.dedent(
    """
    import json, re
    from crm.models import Account, ObjectType, Record, Task
    from workflows.models import ActionExecution, Enrollment
    acme = Account.objects.get(name="Acme")
    rows = ActionExecution.objects.filter(workflow__account=acme)
    deals = Record.objects.filter(account=acme, object_type=ObjectType.DEAL)
    drafted = sum(1 for d in deals if Task.objects.filter(records=d).exclude(notes="").exists())
    states = [r.properties.get("state") for r in Record.objects.filter(
        account=acme, object_type=ObjectType.CONTACT).exclude(properties__state=None)]
    print(json.dumps({
        "unfinished": rows.filter(status__in=["pending", "running"]).count(),
        "failed": rows.filter(status="failed").count(),
        "succeeded": rows.filter(status="succeeded").count(),
        "replayed_or_retried": rows.filter(attempt__gt=1).count(),
        "hot_lead_task": Task.objects.filter(title__startswith="Call Ann Lee").count(),
        "deals": deals.count(), "deals_with_draft": drafted,
        "states": len(states),
        "states_coded": sum(1 for s in states if re.fullmatch(r"[A-Z]{2}|UNKNOWN", s or "")),
    }))
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)


# Cookies kept between requests (the public form's CSRF cookie).
_opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())


def http(url: str, data: dict | None = None, timeout: float = 10) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with _opener.open(url, data=body, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(HERE), help="git repository to clone")
    parser.add_argument("--keep", action="store_true", help="keep the folder and database")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the use cases")
    options = parser.parse_args()

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="crmflow-install-"))
    database = f"crmflow_ops_{os.getpid()}"
    admin_url = os.environ.get("DATABASE_URL_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    processes: list[subprocess.Popen] = []
    summary: dict = {"ok": False, "database": database, "redis": f"{redis_base}/{REDIS_DB}"}
    try:
        run(["git", "clone", "--quiet", options.source, str(work / "crmflow")])
        run([sys.executable, "-m", "venv", str(work / "venv")])
        pip = str(work / "venv" / "bin" / "pip")
        t = time.monotonic()
        run([pip, "install", "--quiet", "--disable-pip-version-check", "."], cwd=work / "crmflow")
        summary["pip_install_seconds"] = round(time.monotonic() - t, 1)
        crmflow = str(work / "venv" / "bin" / "crmflow")
        python = str(work / "venv" / "bin" / "python")

        run(["psql", admin_url, "-q", "-c", f'CREATE DATABASE "{database}"'])
        database_url = urllib.parse.urlsplit(admin_url)._replace(path=f"/{database}").geturl()
        run(["redis-cli", "-u", f"{redis_base}/{REDIS_DB}", "FLUSHDB"], stdout=subprocess.DEVNULL)

        home = work / "home"  # the service's working directory: its .env and var/
        home.mkdir()
        sim_port, web_port = free_port(), free_port()
        from cryptography.fernet import Fernet

        settings = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "REDIS_URL": f"{redis_base}/{REDIS_DB}",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{sim_port}/v1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "HTTPS": "false",
            "CRMFLOW_BIND": f"127.0.0.1:{web_port}",
            "WEB_CONCURRENCY": "2",
            "CRMFLOW_DEMO_PASSWORD": secrets.token_urlsafe(12),
            "WORKFLOWS_SWEEP_SECONDS": "2",
            "LOG_FORMAT": "json",
        }
        (home / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}

        def start(name: str, *args: str) -> None:
            log = (work / f"{name}.log").open("w")
            processes.append(
                subprocess.Popen(
                    list(args),
                    cwd=home,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

        start(
            "simulator",
            python,
            "-m",
            "openai_simulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(sim_port),
        )
        run([crmflow, "migrate"], cwd=home, env=env, stdout=subprocess.DEVNULL)
        run([crmflow, "check"], cwd=home, env={**env, "HTTPS": "true"}, stdout=subprocess.DEVNULL)
        run(
            [crmflow, "manage", "seed_demo", "--contacts", "40", "--companies", "10"],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        start("web", crmflow, "web")
        start("worker", crmflow, "worker")
        start("assistant", crmflow, "assistant-worker")
        start("beat", crmflow, "beat")
        start("beat2", crmflow, "beat", "-s", str(work / "beat2-schedule"))

        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 120
        while http(f"{base}/readyz")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("/readyz never answered 200")
            time.sleep(1)
        summary["readyz"] = 200
        summary["healthz"] = http(f"{base}/healthz")[0]

        out = run(
            [crmflow, "manage", "shell", "-c", SETUP], cwd=home, env=env, capture_output=True
        ).stdout
        public_id = out.split("FORM", 1)[1].split()[0]
        status, page = http(f"{base}/f/{public_id}/")
        summary["public_form_get"] = status
        token = page.split('name="csrfmiddlewaretoken" value="', 1)[-1].split('"', 1)[0]
        status, _page = http(
            f"{base}/f/{public_id}/",
            {
                "csrfmiddlewaretoken": token,
                "email": "ann.lee@globex.example",
                "first_name": "Ann",
                "last_name": "Lee",
                "company_name": "Globex",
                "job_title": "VP Sales",
                "looking_for": "Pricing for 200 seats and a demo this quarter: we have budget.",
            },
        )
        summary["public_form_post"] = status

        state: dict = {}
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            state = json.loads(
                run(
                    [crmflow, "manage", "shell", "-c", STATE],
                    cwd=home,
                    env=env,
                    capture_output=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            if state["unfinished"] == 0 and state["hot_lead_task"] and state["deals_with_draft"]:
                break
            time.sleep(3)
        summary["use_cases"] = state
        # Exactly one beat holds the lock now; the other stands by (a beat that lost the
        # lock, e.g. to a Redis flush, logs it and stands by: tests/ops/test_beat.py
        # checks that two beats never both send).
        holder = subprocess.run(
            ["redis-cli", "-u", f"{redis_base}/{REDIS_DB}", "GET", "crmflow:beat:lock"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        pids = {str(p.pid) for p in processes[-2:]}
        parts = holder.split(":")  # host:pid:random
        summary["beat_lock_held_by_one_of_the_beats"] = len(parts) == 3 and parts[1] in pids
        beats = [(work / f"{b}.log").read_text() for b in ("beat", "beat2")]
        summary["beats_that_held_the_lock_during_the_run"] = sum(
            "holds the lock" in log for log in beats
        )
        summary["beat_lock_changes"] = [
            f"{name} {line['time'][11:19]} {line['message'][6:30]}"
            for name, log in zip(("beat1", "beat2"), beats, strict=True)
            for line in (json.loads(x) for x in log.splitlines() if x.startswith("{"))
            if line.get("logger") == "ops.beat"
        ]
        summary["ok"] = bool(
            state
            and state["unfinished"] == 0
            and state["failed"] == 0
            and state["hot_lead_task"] == 1
            and state["deals_with_draft"] == state["deals"] > 0
            and state["states_coded"] == state["states"] > 0
            and summary["beat_lock_held_by_one_of_the_beats"]
        )
        options.keep = options.keep or not summary["ok"]
    except Exception as error:  # reported in the summary, with the logs kept
        summary["error"] = f"{type(error).__name__}: {error}"
        options.keep = True
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if not options.keep:
            subprocess.run(["psql", admin_url, "-q", "-c", f'DROP DATABASE IF EXISTS "{database}"'])
            shutil.rmtree(work, ignore_errors=True)
        else:
            summary["kept"] = str(work)
        summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
