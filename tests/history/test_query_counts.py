"""Each history page reads a fixed number of queries, however many rows or steps it
shows (docs/performance.md, "History pages": one joined query for a page of executions
and their records, one for the latest step of a page of enrollments, one per action type
for a run's step descriptions)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.models import Enrollment

pytestmark = pytest.mark.django_db

TASK = {"type": "create_task", "config": {"title": "Call {{ object.first_name }}"}}


def queries_of(client, url: str) -> int:
    """Queries of one request with nothing cached (the health banner and the live counts
    are cached a few seconds)."""
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return len(queries)


def pages(workflow) -> dict[str, str]:
    logs = reverse("history:logs", args=[workflow.pk])
    return {
        "logs": logs,
        "logs_failed": f"{logs}?event=failed&since=2000-01-01",
        "logs_search": f"{logs}?q=p",
        "enrollments": reverse("history:enrollments", args=[workflow.pk]),
        "live": reverse("history:live", args=[workflow.pk]),
    }


@pytest.mark.parametrize("who", ["builder", "rep"])
def test_the_list_pages_read_as_many_queries_for_one_row_as_for_a_full_page(
    acme, who, builder_client, rep_client, rep_user
):
    client = builder_client if who == "builder" else rep_client
    workflow = make_workflow(acme, chain(TASK, TASK))
    contact(acme, first_name="P0", owner=str(rep_user.pk))
    drain()
    few = {name: queries_of(client, url) for name, url in pages(workflow).items()}
    for number in range(1, 30):
        contact(acme, first_name=f"P{number}", owner=str(rep_user.pk))
    drain()
    many = {name: queries_of(client, url) for name, url in pages(workflow).items()}
    assert many == few


def test_the_run_detail_reads_as_many_queries_for_one_step_as_for_many(acme, builder_client):
    short = make_workflow(acme, chain(TASK))
    long = make_workflow(acme, chain(*[TASK] * 6))
    contact(acme, first_name="Ann")
    drain()
    counts = [
        queries_of(
            builder_client,
            reverse("history:run", args=[w.pk, Enrollment.objects.get(workflow=w).pk]),
        )
        for w in (short, long)
    ]
    assert counts[0] == counts[1]
