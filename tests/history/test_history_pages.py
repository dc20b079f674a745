"""Action logs, enrollment history and run details: filters, pagination, access."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from crm.models import Role, User
from tests.conftest import client_for
from tests.history.scenarios import owner_handover
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.history import access, lists
from workflows.history.filters import HistoryFilter
from workflows.history.paging import PAGE_SIZE
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db


def request_of(user: User):
    request = RequestFactory().get("/")
    request.user = user
    return request


def action_logs(user: User, workflow, *, filters=None, cursor=None, size=PAGE_SIZE):
    """A page of the Action logs as `user` sees it."""
    return lists.action_logs(
        access.executions_for(request_of(user), workflow),
        workflow=workflow,
        filters=filters or HistoryFilter(),
        cursor=cursor,
        size=size,
    )


def logs_url(workflow, **params):
    url = reverse("history:logs", args=[workflow.pk])
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params)
    return url


@pytest.fixture
def scenario(acme):
    scenario = owner_handover(acme)
    drain()
    return scenario


def test_it_lists_each_step_with_its_event(scenario, builder_client):
    response = builder_client.get(logs_url(scenario.workflow))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dana Doe" in html
    assert "1. Create task" in html and "2. Set property value" in html
    assert "Succeeded" in html and "Failed" in html
    assert scenario.error_text in html


def test_it_filters_by_event(scenario, builder_client):
    html = builder_client.get(logs_url(scenario.workflow, event="failed")).content.decode()
    assert "2. Set property value" in html
    assert "1. Create task" not in html
    html = builder_client.get(logs_url(scenario.workflow, event="succeeded")).content.decode()
    assert "1. Create task" in html and "2. Set property value" not in html


def test_it_filters_by_action_type_and_record(scenario, acme, builder_client):
    contact(acme, first_name="Eve", last_name="Other")
    drain()
    html = builder_client.get(logs_url(scenario.workflow, action="create_task")).content.decode()
    assert "Eve Other" in html and "Dana Doe" in html and "2. Set property value" not in html
    html = builder_client.get(logs_url(scenario.workflow, q="eve")).content.decode()
    assert "Eve Other" in html and "Dana Doe" not in html


def test_record_search_by_start_of_name_or_email_by_id_then_anywhere(
    scenario, acme, builder_client
):
    eve = contact(acme, first_name="Eve", last_name="Other", email="EVE.O@Example.com")
    drain()

    def found(q: str) -> set[str]:
        html = builder_client.get(logs_url(scenario.workflow, q=q)).content.decode()
        return {name for name in ("Eve Other", "Dana Doe") if name in html}

    assert found("eve o") == {"Eve Other"}  # the start of the name, any case
    assert found("Eve.o@ex") == {"Eve Other"}  # the start of the email (stored lowercased)
    assert found(f"#{eve.pk}") == {"Eve Other"}  # a record id
    assert found(f"#{scenario.record.pk}") == {"Dana Doe"}
    assert found("doe") == {"Dana Doe"}  # no name starts with it: anywhere in the name
    assert found("example.com") == {"Eve Other", "Dana Doe"}
    assert found("nobody") == set()
    response = builder_client.get(logs_url(scenario.workflow, q="e\x00ve"))
    assert response.status_code == 200 and "Eve Other" in response.content.decode()
    response = builder_client.get(logs_url(scenario.workflow, q="#" + "9" * 30))
    assert response.status_code == 200


def test_it_filters_by_date_range(scenario, builder_client):
    today = timezone.now().date()
    html = builder_client.get(logs_url(scenario.workflow, since=today.isoformat())).content.decode()
    assert "Dana Doe" in html
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    html = builder_client.get(logs_url(scenario.workflow, since=tomorrow)).content.decode()
    assert "Dana Doe" not in html
    html = builder_client.get(logs_url(scenario.workflow, since="soon")).content.decode()
    assert "YYYY-MM-DD" in html


def test_retried_and_rate_limited_are_told_apart(acme, builder_user, probe_log):
    workflow = make_workflow(
        acme,
        chain(
            {
                "type": "test_probe",
                "config": {
                    "fail": "transient",
                    "fail_times": 1,
                    "retry_after": 0,
                    "log": str(probe_log),
                },
            },
            {
                "type": "test_probe",
                "config": {
                    "fail": "later",
                    "fail_times": 5,
                    "retry_after": 600,
                    "log": str(probe_log),
                },
            },
        ),
    )
    contact(acme, first_name="Ann")
    drain()  # step 1: fails once, retried, succeeds; step 2: postponed for 10 minutes
    retried = action_logs(builder_user, workflow, filters=HistoryFilter(event="retried")).rows
    waiting = action_logs(builder_user, workflow, filters=HistoryFilter(event="rate_limited")).rows
    assert [r.execution.step_id for r in retried] == [1]
    assert "after 2 attempts" in retried[0].text
    assert [r.execution.step_id for r in waiting] == [2]
    assert waiting[0].text == "Waiting for rate limit"


def test_keyset_pages_cover_every_row_once(acme, builder_user):
    workflow = make_workflow(
        acme, chain({"type": "delay", "config": {"amount": 1, "unit": "days"}})
    )
    for number in range(7):
        contact(acme, first_name=f"P{number}")
    # Same created_at for several rows: the id breaks ties.
    ActionExecution.objects.filter(
        workflow=workflow,
        pk__lte=ActionExecution.objects.filter(workflow=workflow)
        .order_by("pk")
        .values_list("pk", flat=True)[3],
    ).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    seen, cursor = [], None
    while True:
        page = action_logs(builder_user, workflow, cursor=cursor, size=3)
        seen += [r.execution.pk for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = list(
        ActionExecution.objects.filter(workflow=workflow)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 7


def test_the_older_link_pages_through_html(acme, builder_client):
    workflow = make_workflow(
        acme, chain({"type": "delay", "config": {"amount": 1, "unit": "days"}})
    )
    for number in range(PAGE_SIZE + 2):
        contact(acme, first_name=f"P{number:02d}", email=f"p{number}@example.com")
    last = f"P{PAGE_SIZE + 1:02d}"
    first = builder_client.get(logs_url(workflow)).content.decode()
    assert 'rel="next"' in first and last in first and "P00" not in first
    after = first.split("after=")[1].split('"')[0]
    second = builder_client.get(
        logs_url(workflow, after=after),
        headers={"HX-Request": "true", "HX-Target": "history-results"},
    )
    html = second.content.decode()
    assert "P00" in html and last not in html and "topbar" not in html


def test_enrollment_history_shows_outcome(scenario, acme, builder_client):
    url = reverse("history:enrollments", args=[scenario.workflow.pk])
    html = builder_client.get(url).content.decode()
    assert "Dana Doe" in html and "Failed at 2. Set property value" in html


def test_run_detail_shows_inputs_outputs_and_escapes(acme, builder_client, builder_user, metered):
    workflow = make_workflow(
        acme,
        chain(
            {
                "type": "test_metered",
                "config": {"title": "Call {{ object.first_name }}", "notes": "x" * 300},
            },
        ),
    )
    record = contact(acme, first_name="<script>alert(1)</script>", email="x@example.com")
    drain()
    enrollment = Enrollment.objects.get(workflow=workflow, record=record)
    # What the step spent, from its action's own store.
    metered(enrollment.executions.get().pk, {"input_tokens": 12, "output_tokens": 30}, None)
    html = builder_client.get(
        reverse("history:run", args=[workflow.pk, enrollment.pk])
    ).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "Call &lt;script&gt;alert(1)&lt;/script&gt;" in html  # resolved input, escaped
    assert "<details" in html  # long notes fold
    assert "gpt-4.1-mini" in html and "total 42" in html
    assert "Cost</dt><dd>—" in html.replace("\n", "")


def test_run_detail_of_an_active_run_polls_and_of_an_ended_one_does_not(
    scenario, acme, builder_client
):
    enrollment = Enrollment.objects.get(workflow=scenario.workflow, record=scenario.record)
    url = reverse("history:run", args=[scenario.workflow.pk, enrollment.pk])
    assert 'hx-trigger="every 2s"' not in builder_client.get(url).content.decode()
    Enrollment.objects.filter(pk=enrollment.pk).update(status=Enrollment.Status.ACTIVE)
    html = builder_client.get(
        url, headers={"HX-Request": "true", "HX-Target": "run"}
    ).content.decode()
    assert 'hx-trigger="every 2s"' in html and "topbar" not in html


# --- Access ------------------------------------------------------------------------


def test_other_accounts_get_404(scenario, globex_client):
    enrollment = Enrollment.objects.get(workflow=scenario.workflow)
    for url in (
        logs_url(scenario.workflow),
        reverse("history:enrollments", args=[scenario.workflow.pk]),
        reverse("history:run", args=[scenario.workflow.pk, enrollment.pk]),
        reverse("history:replay", args=[scenario.workflow.pk]),
        reverse("history:live", args=[scenario.workflow.pk]),
    ):
        assert globex_client.get(url).status_code == 404, url


def test_a_rep_sees_only_runs_of_records_they_own(acme, rep_user, rep_client):
    workflow = make_workflow(
        acme,
        chain(
            {
                "type": "create_task",
                "config": {"title": "Secret prompt for {{ object.first_name }}"},
            },
        ),
    )
    mine = contact(acme, first_name="Mine", owner=str(rep_user.pk))
    theirs = contact(acme, first_name="Theirs")
    drain()
    html = rep_client.get(logs_url(workflow)).content.decode()
    assert "Mine" in html and "Theirs" not in html
    html = rep_client.get(reverse("history:enrollments", args=[workflow.pk])).content.decode()
    assert "Mine" in html and "Theirs" not in html
    own = Enrollment.objects.get(record=mine)
    other = Enrollment.objects.get(record=theirs)
    detail = rep_client.get(reverse("history:run", args=[workflow.pk, own.pk]))
    assert "Secret prompt for Mine" in detail.content.decode()
    assert rep_client.get(reverse("history:run", args=[workflow.pk, other.pk])).status_code == 404


def test_builders_see_every_run(acme, rep_user, builder_client):
    workflow = make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    contact(acme, first_name="Mine", owner=str(rep_user.pk))
    contact(acme, first_name="Theirs")
    drain()
    html = builder_client.get(logs_url(workflow)).content.decode()
    assert "Mine" in html and "Theirs" in html


def test_reps_cannot_replay(scenario, acme, rep_user):
    User.objects.filter(pk=rep_user.pk).update(role=Role.SALES_REP)
    client = client_for(rep_user)
    url = reverse("history:replay", args=[scenario.workflow.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"replay": "1"}).status_code == 403
    assert ActionExecution.objects.filter(status="failed").count() == 1


def test_live_counts_per_step(scenario, acme, builder_client):
    url = reverse("history:live", args=[scenario.workflow.pk])
    data = builder_client.get(url + "?format=json").json()
    assert data["busy"] is False
    assert data["steps"]["1"]["succeeded"] == 1 and data["steps"]["2"]["failed"] == 1
    html = builder_client.get(url).content.decode()
    assert 'id="live-counts"' in html and "every 3s" not in html  # idle: polling stops
    from django.core.cache import cache

    cache.clear()
    contact(acme, first_name="Next")
    html = builder_client.get(url).content.decode()
    assert "every 3s" in html  # a run is waiting: keep polling


def test_french(scenario, builder_user):
    client = client_for(builder_user)
    client.cookies["django_language"] = "fr"
    html = client.get(
        logs_url(scenario.workflow), headers={"Accept-Language": "fr"}
    ).content.decode()
    assert "Journaux des actions" in html and "En échec" in html
