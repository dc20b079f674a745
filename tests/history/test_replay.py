"""Replay from the failed step: confirmation (how many, estimated cost), no duplicated
side effect of the steps that had succeeded, timeline entries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Task, TimelineEvent
from tests.history.scenarios import openai_out_of_quota, owner_handover
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.history import replay as replays
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario(acme):
    scenario = owner_handover(acme)
    drain()
    return scenario


def test_the_confirmation_shows_how_many_and_the_cost(scenario, builder_client):
    enrollment = Enrollment.objects.get(workflow=scenario.workflow)
    url = reverse("history:replay", args=[scenario.workflow.pk])
    html = builder_client.get(f"{url}?enrollment={enrollment.pk}").content.decode()
    assert "1 failed step will run again" in html
    assert "Replay 1 step" in html
    assert ActionExecution.objects.filter(status="failed").count() == 1  # GET changes nothing


def test_estimate_uses_the_last_known_usage_and_says_unknown_without_a_price(scenario):
    failed = ActionExecution.objects.filter(workflow=scenario.workflow, status="failed")
    assert replays.replay_estimate(failed).cost == 0  # built-in actions: no tokens, no cost
    # An AI step that never succeeded anywhere: unknown, not $0.
    failed.update(action_type="ask_openai_assistant")
    estimate = replays.replay_estimate(failed)
    assert (estimate.count, estimate.tokens, estimate.cost) == (1, None, None)


def test_estimate_averages_what_the_steps_successful_runs_spent(acme, metered):
    workflow = make_workflow(acme, chain({"type": "test_metered", "config": {"title": "T"}}))
    for name in ("Ann", "Bob", "Fail"):
        contact(acme, first_name=name)
    drain()
    done = list(ActionExecution.objects.filter(workflow=workflow, status="succeeded"))
    failed = ActionExecution.objects.filter(workflow=workflow, status="failed")
    assert len(done) == 2 and failed.count() == 1
    metered(done[0].pk, {"input_tokens": 100, "output_tokens": 50}, "0.0015")
    metered(done[1].pk, {"input_tokens": 200, "output_tokens": 50}, "0.0025")
    estimate = replays.replay_estimate(failed)
    assert (estimate.count, estimate.tokens, str(estimate.cost)) == (1, 200, "0.002000")
    # Tokens recorded without a price: the cost is unknown, never $0.
    metered(done[0].pk, {"input_tokens": 100, "output_tokens": 50}, None)
    metered(done[1].pk, {"input_tokens": 200, "output_tokens": 50}, None)
    assert replays.replay_estimate(failed).cost is None


def test_replay_runs_the_failed_step_once_and_never_repeats_the_succeeded_one(
    scenario, builder_client
):
    enrollment = Enrollment.objects.get(workflow=scenario.workflow)
    assert Task.objects.count() == 1
    scenario.fix()
    response = builder_client.post(
        reverse("history:replay", args=[scenario.workflow.pk]),
        {"enrollment": enrollment.pk, "replay": "1"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "history:run", args=[scenario.workflow.pk, enrollment.pk]
    )
    drain()
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert Task.objects.count() == 1  # step 1 did not run again
    steps = dict(
        ActionExecution.objects.filter(enrollment=enrollment).values_list("step_id", "status")
    )
    assert steps == {1: "succeeded", 2: "succeeded"}
    scenario.record.refresh_from_db()
    assert scenario.record.owner is not None
    html = builder_client.get(response["Location"]).content.decode()
    assert "replayed once" in html and "Completed" in html


def test_replay_all_failed_since_a_date_and_selected(acme, builder_client):
    first = owner_handover(acme, first_name="Ann")
    second_contact = __import__("tests.workflows.conftest", fromlist=["contact"]).contact(
        acme, first_name="Bob"
    )
    drain()
    assert Enrollment.objects.filter(workflow=first.workflow, status="failed").count() == 2
    url = reverse("history:replay", args=[first.workflow.pk])
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert "2 failed steps" in builder_client.get(f"{url}?since={since}").content.decode()
    future = (timezone.now() + dt.timedelta(days=1)).date().isoformat()
    assert "no failed run" in builder_client.get(f"{url}?since={future}").content.decode()
    first.fix()
    bob = Enrollment.objects.get(record=second_contact)
    builder_client.post(url, {"enrollment": [bob.pk], "replay": "1"})
    drain()
    assert Enrollment.objects.get(pk=bob.pk).status == "completed"
    assert Enrollment.objects.filter(workflow=first.workflow, status="failed").count() == 1
    builder_client.post(url, {"since": since, "replay": "1"})
    drain()
    assert Enrollment.objects.filter(workflow=first.workflow, status="completed").count() == 2
    assert Task.objects.count() == 2


def test_timeline_entries_link_to_the_run(scenario, builder_client):
    enrollment = Enrollment.objects.get(workflow=scenario.workflow)
    events = list(
        TimelineEvent.objects.filter(record=scenario.record, kind="workflow")
        .order_by("id")
        .values_list("data", flat=True)
    )
    assert [e["event"] for e in events] == ["enrolled", "action_succeeded", "action_failed"]
    assert events[2]["url"] == reverse("history:run", args=[scenario.workflow.pk, enrollment.pk])
    assert scenario.error_text in events[2]["error"]
    assert events[1]["action"] == "Create task" and events[0]["workflow"] == "Hand over to Sam"
    scenario.fix()
    replays.runs_replay(
        workflow=scenario.workflow, failed=replays.failed_executions(workflow=scenario.workflow)
    )
    drain()
    drain()
    kinds = [
        e["event"]
        for e in TimelineEvent.objects.filter(record=scenario.record, kind="workflow")
        .order_by("id")
        .values_list("data", flat=True)
    ]
    assert kinds == ["enrolled", "action_succeeded", "action_failed", "action_succeeded"]


def test_a_quota_failure_shows_what_was_sent_and_replays_once_reconnected(
    acme, sim, builder_client
):
    scenario = openai_out_of_quota(acme)
    drain()
    enrollment = Enrollment.objects.get(workflow=scenario.workflow)
    assert enrollment.status == "failed"
    run_url = reverse("history:run", args=[scenario.workflow.pk, enrollment.pk])
    html = builder_client.get(run_url).content.decode()
    assert scenario.error_text in html
    assert "<code>ohio</code>" in html  # the prompt as sent, tokens replaced
    assert 'data-attempt-kind="failed"' in html
    assert [r["status"] for r in sim.requests(path_prefix="/v1/responses")] == [429]

    scenario.fix()
    confirmation = builder_client.get(
        reverse("history:replay", args=[scenario.workflow.pk]) + f"?enrollment={enrollment.pk}"
    ).content.decode()
    assert "1 failed step will run again" in confirmation
    assert "<dd data-estimated-cost>unknown</dd>" in confirmation  # no success to learn from
    builder_client.post(
        reverse("history:replay", args=[scenario.workflow.pk]),
        {"enrollment": enrollment.pk, "replay": "1"},
    )
    drain()
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"
    assert list(Task.objects.values_list("title", flat=True)) == ["Code: OH"]
    html = builder_client.get(run_url).content.decode()
    assert "Succeeded" in html and "gpt-4o-mini" in html and scenario.error_text in html


def test_the_timeline_tells_a_run_in_words_with_a_link_to_it(scenario, builder_client):
    enrollment = Enrollment.objects.get(workflow=scenario.workflow)
    page = f"/objects/contacts/{scenario.record.pk}/"
    html = builder_client.get(page).content.decode()
    assert "Enrolled in the workflow <strong>Hand over to Sam</strong>" in html
    assert "<strong>Create task</strong> done by the workflow Hand over to Sam" in html
    assert reverse("history:run", args=[scenario.workflow.pk, enrollment.pk]) in html
    for raw in ("workflow_id", "enrollment_id", "execution_id", "step_id", "action_succeeded"):
        assert raw not in html
    french = builder_client.get(page, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "<strong>Créer une tâche</strong>" in french
