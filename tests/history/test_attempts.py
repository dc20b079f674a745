"""Every attempt with its error and wait, and the resolved inputs of steps that failed,
as the run detail shows them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import client_for
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.engine.ledger import ATTEMPTS_KEPT
from workflows.history import replay as replays
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db


def probe(**config) -> dict:
    return {"type": "test_probe", "config": config}


def run_due_once() -> None:
    """Make the retried or postponed rows due now and run them once (the sweeper's job)."""
    ActionExecution.objects.filter(status="pending").update(due_at=timezone.now())
    drain()


def run_html(client, workflow, record) -> str:
    enrollment = Enrollment.objects.get(workflow=workflow, record=record)
    response = client.get(reverse("history:run", args=[workflow.pk, enrollment.pk]))
    assert response.status_code == 200
    return response.content.decode()


def attempts_table(html: str) -> str:
    assert html.count('class="table history-attempts"') == 1, "one step with attempts"
    return html.split('class="table history-attempts"')[1].split("</table>")[0]


def test_each_retried_attempt_is_listed_with_its_error_and_wait(acme, builder_client, probe_log):
    workflow = make_workflow(
        acme, chain(probe(fail="transient", fail_times=2, retry_after=3, log=str(probe_log)))
    )
    ann = contact(acme, first_name="Ann")
    drain()
    run_due_once()
    run_due_once()
    execution = ActionExecution.objects.get(workflow=workflow)
    assert (execution.status, execution.attempt) == ("succeeded", 3)
    table = attempts_table(run_html(builder_client, workflow, ann))
    assert table.count('data-attempt-kind="retry"') == 2
    assert table.count("The service is busy (503).") == 2
    assert table.count("Failed, retried") == 2
    assert "<td>1</td>" in table and "<td>2</td>" in table and "<td>3</td>" not in table
    # The Retry-After the action asked for, plus up to 20 % jitter.
    waits = [float(w) for w in re.findall(r"<td>([0-9.]+) s</td>", table)]
    assert len(waits) == 2 and all(3 <= w <= 3.6 for w in waits), waits


def test_rate_limit_waits_of_one_attempt_fold_into_one_row(acme, builder_client, probe_log):
    workflow = make_workflow(
        acme, chain(probe(fail="later", fail_times=1, retry_after=600, log=str(probe_log)))
    )
    ann = contact(acme, first_name="Ann")
    drain()
    html = run_html(builder_client, workflow, ann)
    table = attempts_table(html)
    assert 'data-attempt-kind="rate_limited"' in table and "Waited for the rate limit" in table
    assert "(2 times)" not in table
    assert "Waiting for rate limit" in html  # the step's event
    # A postponed attempt does not count: the probe, seeing attempt 1 again, waits again.
    run_due_once()
    table = attempts_table(run_html(builder_client, workflow, ann))
    assert table.count("<tr data-attempt-kind") == 1 and "(2 times)" in table
    execution = ActionExecution.objects.get(workflow=workflow)
    assert execution.attempts[0]["wait_seconds"] > 1000  # the two waits added up


def test_a_first_time_success_records_no_attempt(acme, builder_client):
    workflow = make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    ann = contact(acme, first_name="Ann")
    drain()
    assert ActionExecution.objects.get(workflow=workflow).attempts == []
    assert "history-attempts" not in run_html(builder_client, workflow, ann)


def test_a_failed_step_shows_its_resolved_inputs_and_a_replay_numbers_its_attempts(
    acme, builder_client, probe_log
):
    workflow = make_workflow(
        acme,
        chain(
            probe(
                fail="permanent",
                fail_times=9,
                response="Hello {{ object.first_name }}",
                log=str(probe_log),
            )
        ),
    )
    ann = contact(acme, first_name="Ann")
    drain()
    html = run_html(builder_client, workflow, ann)
    assert "Hello Ann" in html and "Not resolved yet" not in html
    assert "The API key was revoked." in attempts_table(html)
    replays.runs_replay(workflow=workflow, failed=replays.failed_executions(workflow=workflow))
    html = run_html(builder_client, workflow, ann)
    assert "Waiting</span>" in html  # queued again by the replay, not "rate limited"
    drain()
    table = attempts_table(run_html(builder_client, workflow, ann))
    assert table.count('data-attempt-kind="failed"') == 2 and "replay 1" in table


def test_the_attempts_kept_are_capped(acme, probe_log):
    workflow = make_workflow(acme, chain(probe(fail="permanent", fail_times=9, log=str(probe_log))))
    contact(acme, first_name="Ann")
    drain()
    for _ in range(ATTEMPTS_KEPT + 2):
        replays.runs_replay(workflow=workflow, failed=replays.failed_executions(workflow=workflow))
        drain()
    attempts = ActionExecution.objects.get(workflow=workflow).attempts
    assert len(attempts) == ATTEMPTS_KEPT
    assert attempts[-1]["replay"] == ATTEMPTS_KEPT + 2  # the newest are kept


def test_attempts_are_escaped_and_in_french(acme, builder_user, probe_log):
    workflow = make_workflow(
        acme, chain(probe(fail="transient", fail_times=1, retry_after=600, log=str(probe_log)))
    )
    ann = contact(acme, first_name="Ann")
    drain()
    ActionExecution.objects.filter(workflow=workflow).update(
        attempts=[{"n": 1, "at": "not a date", "kind": "retry", "error": "<b>boom</b>"}]
    )
    client = client_for(builder_user)
    client.cookies["django_language"] = "fr"
    html = run_html(client, workflow, ann)
    table = attempts_table(html)
    assert "&lt;b&gt;boom&lt;/b&gt;" in table and "<b>boom" not in table
    assert "Tentatives sans succès" in table and "En échec, relancée" in table
