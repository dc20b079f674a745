"""Web under load: gunicorn as shipped (ops/gunicorn.py), N concurrent logged-in users.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/web_load REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/web_load.py --contacts 100000 --users 50 --seconds 60

Loads the demo account Acme (seed_demo's fast path: --contacts contacts, its demo
workflows), starts `crmflow web`'s gunicorn (WEB_CONCURRENCY = 2 x cores + 1 unless set)
on a free port, logs --users virtual users in through the login page (each its own
session, over HTTP; not measured), then has each browse in a loop for --seconds: the contacts list, the
workflow list, a workflow's canvas and its history. Prints ONE JSON summary: requests,
p50/p95/max milliseconds per page and errors (anything but 200). The machine's load
average is in the summary: the figures only mean something on a quiet machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port  # noqa: E402  (benchmarks/_common.py)

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CRMFLOW_ENV_FILE", "")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bm90LWEtcmVhbC1rZXktYmVuY2htYXJrLW9ubHkhISE=")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("HTTPS", "false")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/web_load")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.setdefault("CRMFLOW_DEMO_PASSWORD", "web-load-demo-password")


def database_ensure(url: str) -> None:
    if not url.startswith("postgres"):
        return
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(
        ["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)


def pages() -> dict[str, str]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from crm.models import Account

    call_command(
        "seed_demo", contacts=ARGS.contacts, companies=1000, verbosity=0, stdout=io.StringIO()
    )
    from workflows.models import Workflow

    acme = Account.objects.get(name="Acme")
    from django.db import connection

    if connection.vendor == "postgresql":  # fresh statistics after the bulk load
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    workflow = Workflow.objects.filter(account=acme).order_by("pk").first()
    assert workflow is not None, "seed_demo made no workflow"
    return {
        "contacts": "/objects/contacts/",
        "workflows": "/workflows/",
        "canvas": f"/workflows/{workflow.pk}/",
        "history": f"/workflows/{workflow.pk}/history/",
    }


def log_in(client, base: str, username: str, password: str) -> None:
    page = client.get(f"{base}/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        f"{base}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
    )
    if response.status_code not in (200, 302) or "sessionid" not in client.cookies:
        raise RuntimeError(f"login failed for {username}: {response.status_code}")


def user_loop(base, urls, window, timings, errors, lock, username, password) -> None:
    import httpx

    with httpx.Client(timeout=120, follow_redirects=False) as client:
        log_in(client, base, username, password)
        window["ready"].wait()  # every user logged in: the measured window starts
        while time.monotonic() < window["stop_at"]:
            for name, path in urls.items():
                started = time.perf_counter()
                try:
                    status = client.get(f"{base}{path}").status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    timings[name].append(elapsed)
                    if status != 200:
                        errors[name][str(status)] = errors[name].get(str(status), 0) + 1


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return round(values[0], 1) if values else 0.0
    return round(statistics.quantiles(values, n=100)[int(q * 100) - 1], 1)


def main() -> int:
    database_ensure(os.environ["DATABASE_URL"])
    urls = pages()
    port = free_port()
    env = {**os.environ, "CRMFLOW_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(BASE_DIR)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = open(BASE_DIR / "var" / "web_load-gunicorn.log", "w")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "web", "--access-logfile", "/dev/null"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become ready")
            time.sleep(0.5)
        timings: dict[str, list[float]] = {name: [] for name in urls}
        errors: dict[str, dict[str, int]] = {name: {} for name in urls}
        lock = threading.Lock()
        window: dict = {"stop_at": 0.0}
        # The window starts when every user has logged in (the barrier's action runs once,
        # before anyone is released).
        window["ready"] = threading.Barrier(
            ARGS.users + 1,
            action=lambda: window.update(
                stop_at=time.monotonic() + ARGS.seconds, load=os.getloadavg()[0]
            ),
        )
        users = ["admin", "builder"]  # both see contacts and workflows
        threads = [
            threading.Thread(
                target=user_loop,
                args=(
                    base,
                    urls,
                    window,
                    timings,
                    errors,
                    lock,
                    users[i % 2],
                    os.environ["CRMFLOW_DEMO_PASSWORD"],
                ),
            )
            for i in range(ARGS.users)
        ]
        for thread in threads:
            thread.start()
        window["ready"].wait()
        for thread in threads:
            thread.join()
        summary = {
            "benchmark": "web_load",
            "contacts": ARGS.contacts,
            "users": ARGS.users,
            "seconds": ARGS.seconds,
            "gunicorn_workers": int(
                os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) * 2 + 1)
            ),
            "cores": os.cpu_count(),
            "load_average_before": round(window["load"], 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "pages": {
                name: {
                    "requests": len(values),
                    "p50_ms": quantile(values, 0.5),
                    "p95_ms": quantile(values, 0.95),
                    "max_ms": round(max(values), 1) if values else 0.0,
                    "errors": errors[name],
                }
                for name, values in timings.items()
            },
        }
        print(json.dumps(summary))
        return 0 if not any(errors.values()) else 1
    finally:
        web.terminate()
        web.wait(30)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--contacts", type=int, default=100_000)
parser.add_argument("--users", type=int, default=50)
parser.add_argument("--seconds", type=float, default=60)
ARGS = parser.parse_args()

if __name__ == "__main__":
    sys.exit(main())
