"""Helpers for workflow tests: build workflows from a list of steps, run the ledger
in-process (unit tests) or on a real worker (integration tests, tests/celery_worker.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm import services as crm
from crm.models import ObjectType
from tests.celery_worker import celery_worker  # noqa: F401  (a fixture for these tests)
from tests.workflows import probe_actions  # noqa: F401  (registers test_probe)
from workflows import services
from workflows.engine import runner
from workflows.models import ActionExecution


def chain(*steps: dict) -> dict:
    """A linear graph: steps get ids 1..n in order, each linked to the next."""
    graph = {"start": 1, "steps": {}}
    for number, step in enumerate(steps, start=1):
        graph["steps"][str(number)] = {"next": number + 1 if number < len(steps) else None, **step}
    return graph


def make_workflow(account, graph, *, criteria=None, on=True, enroll_existing=False, **extra):
    workflow = services.workflow_create(
        account=account,
        object_type=ObjectType.CONTACT,
        name="Test workflow",
        criteria=criteria,
        graph=graph,
        **extra,
    )
    if on:
        services.workflow_turn_on(workflow=workflow, enroll_existing=enroll_existing)
        workflow.refresh_from_db()
    return workflow


def contact(account, **values):
    values.setdefault("email", f"{values.get('first_name', 'x').lower()}@example.com")
    return crm.record_create(account=account, object_type=ObjectType.CONTACT, values=values)


def drain(*, now_shift: dt.timedelta | None = None, limit: int = 200) -> list[str]:
    """Run every due pending execution in this process until none is left (what the
    worker + sweeper do), making delayed ones due first when `now_shift` is given."""
    results = []
    for _ in range(limit):
        if now_shift is not None:
            ActionExecution.objects.filter(status="pending").update(due_at=timezone.now())
        due = list(ActionExecution.objects.due().values_list("pk", flat=True))
        if not due:
            return results
        for pk in due:
            results.append(runner.execution_run(execution_id=pk))
    raise AssertionError("the ledger did not drain")


@pytest.fixture
def probe_log(tmp_path):
    return tmp_path / "probe.log"


@pytest.fixture(autouse=True)
def english():
    """Messages stored on executions are asserted in English, whatever an earlier test
    left active in this thread."""
    from django.utils import translation

    with translation.override("en"):
        yield
