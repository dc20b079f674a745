"""Builder pages benchmark: server time and queries to render a big workflow and open
the data-variable picker.

    .venv/bin/python benchmarks/builder_pages.py [--runs 50]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/builder_bench \
      .venv/bin/python benchmarks/builder_pages.py

Without DATABASE_URL it uses a fresh SQLite file in a temporary directory. With one, the
database name must end in `_bench`: it is dropped and created again. Builds a contact
workflow of 40 actions with 5 if/then branches (every branch path holding actions, the
last steps using earlier outputs in tokens), then measures through Django's test
client (middleware, templates and all; no network), wall time and this process's CPU
time per request (the CPU figure is the one to compare on a shared, loaded machine):
- the builder page (canvas) — full page and the htmx canvas refresh;
- the step panel of the deepest action (its config form with token chips);
- the picker for that action's text field (earlier outputs on its path);
and the same pages for a 10-action workflow, to show the query count does not grow.
Prints ONE JSON summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database_recreate, say  # noqa: E402  (benchmarks/_common.py)

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def environment() -> None:
    from cryptography.fernet import Fernet

    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = (
            f"sqlite:///{tempfile.mkdtemp(prefix='builder-bench-')}/db.sqlite3"
        )
    else:
        database_recreate(os.environ["DATABASE_URL"])
    os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-not-for-production-0123456789")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CRMFLOW_ENV_FILE": "",
            "DEBUG": "false",
            "HTTPS": "false",
            "LOG_LEVEL": "WARNING",
        }
    )


def big_graph(actions: int, branches: int) -> tuple[dict, int]:
    """`actions` steps (branches included); returns (graph, id of the deepest step)."""
    from workflows.builder import canvas

    graph = canvas.empty_graph()
    slot, made, deepest = "start", 0, None
    per_segment = max(1, (actions - branches) // (branches * 2 + 1))

    def task(n: int, earlier: int | None) -> dict:
        title = f"Step {n} for {{{{ object.first_name }}}}"
        if earlier:
            title += f" after task {{{{ actions.{earlier}.task_id }}}}"
        return {
            "type": "create_task",
            "config": {"title": title, "assignee": "owner", "notes": "{{ object.state }}"},
        }

    last_task = None
    for branch_number in range(branches + 1):
        for _ in range(per_segment):
            if made >= actions - (branches - branch_number):
                break
            graph, step_id = canvas.step_add(graph, slot=slot, step=task(made + 1, last_task))
            made, last_task, slot, deepest = made + 1, step_id, f"after:{step_id}", step_id
        if branch_number == branches:
            break
        graph, branch_id = canvas.step_add(
            graph,
            slot=slot,
            step={
                "type": "branch",
                "config": {
                    "paths": [
                        {
                            "name": f"Path {branch_number}",
                            "next": None,
                            "groups": [
                                [{"output": f"{last_task}.task_id", "operator": "is_known"}]
                            ],
                        }
                    ]
                },
            },
        )
        made += 1
        side = f"path:{branch_id}:0"
        for _ in range(per_segment):
            graph, step_id = canvas.step_add(graph, slot=side, step=task(made + 1, last_task))
            made, side = made + 1, f"after:{step_id}"
        slot = f"none:{branch_id}"
    while made < actions:
        graph, step_id = canvas.step_add(graph, slot=slot, step=task(made + 1, last_task))
        made, last_task, slot, deepest = made + 1, step_id, f"after:{step_id}", step_id
    return graph, deepest


def measure(client, url: str, runs: int, **headers) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, **headers)  # warm caches (templates, translations)
    times, cpu, queries = [], [], set()
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, **headers)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.add(len(captured.captured_queries))
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": p95(times),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "cpu_p95_ms": p95(cpu),
        "queries": sorted(queries),
    }


def p95(values: list[float]) -> float:
    values = sorted(values)
    return round(values[max(0, int(len(values) * 0.95) - 1)], 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--actions", type=int, default=40)
    parser.add_argument("--branches", type=int, default=5)
    args = parser.parse_args()
    environment()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from crm.models import Account, Role, User
    from workflows.builder import canvas
    from workflows.models import Workflow

    settings.ALLOWED_HOSTS = ["*"]
    say("migrating…")
    call_command("migrate", verbosity=0)
    account = Account.objects.create(name="Bench")
    user = User.objects.create_user(
        username="bench-builder", password="x", account=account, role=Role.WORKFLOW_BUILDER
    )
    for n in range(5):
        User.objects.create_user(username=f"rep{n}", password="x", account=account)
    client = Client()
    client.force_login(user)
    results = {}
    for actions, branches in ((args.actions, args.branches), (10, 1)):
        graph, deepest = big_graph(actions, branches)
        _chain, nodes = canvas.layout(graph)
        workflow = Workflow.objects.create(
            account=account,
            object_type="contact",
            name=f"{actions} actions",
            graph=graph,
            criteria=[[{"property": "state", "operator": "is_known"}]],
        )
        say(
            f"{actions} actions ({len(nodes)} drawn, "
            f"{sum(1 for n in nodes.values() if n.is_branch)} branches): measuring…"
        )
        base = f"/workflows/{workflow.pk}/"
        results[f"{actions}_actions"] = {
            "steps": len(nodes),
            "branches": sum(1 for n in nodes.values() if n.is_branch),
            "canvas_page": measure(client, base, args.runs),
            "canvas_htmx_refresh": measure(
                client, base, args.runs, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="canvas"
            ),
            "step_panel_deepest": measure(
                client, f"{base}steps/{deepest}/", args.runs, HTTP_HX_REQUEST="true"
            ),
            "picker_deepest": measure(
                client,
                f"{base}steps/{deepest}/data/?field=title",
                args.runs,
                HTTP_HX_REQUEST="true",
            ),
        }
    from django.db import connection

    summary = {
        "database": connection.vendor,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "target_ms": 100,
        **results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
