"""Who enrolls, when: criteria per type, re-enrollment, bulk, forms, manual, versions."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import services as crm
from crm.models import ObjectType, PropertyDefinition, PropertyType, Record
from crm.signals import form_submitted
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows import services
from workflows.models import ActionExecution, Enrollment, Workflow

pytestmark = pytest.mark.django_db
TASK = {"type": "create_task", "config": {"title": "Follow up"}}


@pytest.fixture
def score(acme):
    PropertyDefinition.objects.create(
        account=acme, object_type="contact", name="score", label="Score", type=PropertyType.NUMBER
    )
    PropertyDefinition.objects.create(
        account=acme,
        object_type="contact",
        name="signed_up",
        label="Signed up",
        type=PropertyType.DATE,
    )
    PropertyDefinition.objects.create(
        account=acme, object_type="contact", name="vip", label="VIP", type=PropertyType.BOOLEAN
    )


def enrolled_names(workflow):
    return set(
        Record.objects.filter(
            pk__in=Enrollment.objects.filter(workflow=workflow).values("record_id")
        ).values_list("properties__first_name", flat=True)
    )


RECENT = (timezone.now() - dt.timedelta(days=3)).date().isoformat()
CRITERIA = [
    ([[{"property": "state", "operator": "is_known"}]], {"Ann", "Bob"}),
    ([[{"property": "state", "operator": "is_unknown"}]], {"Cy"}),
    ([[{"property": "state", "operator": "eq_any", "values": ["CALIFORNIA"]}]], {"Ann"}),
    ([[{"property": "state", "operator": "neq_any", "values": ["california"]}]], {"Bob", "Cy"}),
    ([[{"property": "email", "operator": "contains", "value": "acme"}]], {"Ann"}),
    ([[{"property": "email", "operator": "not_contains", "value": "acme"}]], {"Bob", "Cy"}),
    ([[{"property": "first_name", "operator": "starts_with", "value": "c"}]], {"Cy"}),
    ([[{"property": "score", "operator": "gt", "value": "50"}]], {"Ann"}),
    ([[{"property": "score", "operator": "lt", "value": "50"}]], {"Bob"}),
    ([[{"property": "score", "operator": "between", "values": ["10", "95"]}]], {"Ann", "Bob"}),
    ([[{"property": "signed_up", "operator": "in_last_days", "value": 7}]], {"Ann"}),
    ([[{"property": "signed_up", "operator": "before", "value": "2020-01-01"}]], {"Bob"}),
    ([[{"property": "signed_up", "operator": "after", "value": "2020-01-01"}]], {"Ann"}),
    ([[{"property": "vip", "operator": "eq_any", "values": ["yes"]}]], {"Cy"}),
    ([[{"property": "lifecycle_stage", "operator": "eq_any", "values": ["lead"]}]], {"Bob"}),
    (
        [
            [{"property": "score", "operator": "gt", "value": "50"}],
            [{"property": "vip", "operator": "eq_any", "values": ["true"]}],
        ],
        {"Ann", "Cy"},
    ),
]


def people(acme):
    contact(
        acme,
        first_name="Ann",
        email="ann@acme.io",
        state="California",
        score="90",
        signed_up=RECENT,
    )
    contact(
        acme,
        first_name="Bob",
        email="bob@globex.io",
        state="tex.",
        score="20",
        signed_up="2019-05-01",
        lifecycle_stage="lead",
    )
    contact(acme, first_name="Cy", email="cy@initech.io", vip="yes")


@pytest.mark.parametrize("criteria, expected", CRITERIA)
def test_criteria_operators_enroll_the_same_records_on_change_and_in_bulk(
    acme, score, criteria, expected
):
    on_change = make_workflow(acme, chain(TASK), criteria=criteria)
    people(acme)
    assert enrolled_names(on_change) == expected
    in_bulk = make_workflow(acme, chain(TASK), criteria=criteria, on=False)
    services.workflow_turn_on(workflow=in_bulk, enroll_existing=False)
    assert services.workflow_enroll_existing_now(workflow=in_bulk) == len(expected)
    assert enrolled_names(in_bulk) == expected


def test_turning_on_enrolls_in_bulk_with_a_constant_number_of_queries(acme):
    crm.records_bulk_create(
        account=acme,
        object_type=ObjectType.CONTACT,
        rows=[
            {"email": f"p{i}@example.com", "first_name": "P", "state": "WA" if i % 2 else ""}
            for i in range(300)
        ],
    )
    workflow = make_workflow(
        acme, chain(TASK), on=False, criteria=[[{"property": "state", "operator": "is_known"}]]
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    with CaptureQueriesContext(connection) as queries:
        assert services.workflow_enroll_existing_now(workflow=workflow) == 150
    assert len(queries) < 25
    workflow.refresh_from_db()
    fan_out = workflow.fan_out
    assert (fan_out.total, fan_out.done) == (150, 150)
    assert fan_out.finished_at is not None
    assert ActionExecution.objects.filter(status="pending", step_id=1).count() == 150
    # Turning on again enrolls nobody twice.
    assert services.workflow_enroll_existing_now(workflow=workflow) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL planner statistics")
def test_turning_on_a_big_workflow_refreshes_the_ledger_statistics_for_claims(acme, settings):
    # Claims read the due rows in order only if the planner knows they are there.
    settings.WORKFLOWS_FANOUT_WINDOW = 100
    crm.records_bulk_create(
        account=acme,
        object_type=ObjectType.CONTACT,
        rows=[{"email": f"p{i}@example.com", "first_name": "P"} for i in range(150)],
    )
    workflow = make_workflow(
        acme, chain(TASK), on=False, criteria=[[{"property": "email", "operator": "is_known"}]]
    )
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    assert services.workflow_enroll_existing_now(workflow=workflow) == 150
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE relname = %s",
            [ActionExecution._meta.db_table],
        )
        assert cursor.fetchone()[0] >= 150


def test_a_bulk_import_enrolls_matching_new_records(acme):
    workflow = make_workflow(
        acme,
        chain(TASK),
        criteria=[[{"property": "state", "operator": "eq_any", "values": ["WA"]}]],
    )
    crm.records_bulk_create(
        account=acme,
        object_type=ObjectType.CONTACT,
        rows=[
            {"email": "a@x.io", "first_name": "A", "state": "WA"},
            {"email": "b@x.io", "first_name": "B", "state": "NY"},
        ],
    )
    assert enrolled_names(workflow) == {"A"}


def test_without_re_enrollment_a_record_enrolls_once(acme):
    workflow = make_workflow(
        acme,
        chain(TASK),
        criteria=[[{"property": "state", "operator": "eq_any", "values": ["WA"]}]],
    )
    record = contact(acme, first_name="Ann", state="WA")
    drain()
    crm.record_update(record=record, values={"state": "NY"})
    crm.record_update(record=record, values={"state": "WA"})
    assert Enrollment.objects.filter(workflow=workflow).count() == 1


def test_re_enrollment_happens_only_when_a_record_starts_matching_again(acme):
    workflow = make_workflow(
        acme,
        chain(TASK),
        re_enroll=True,
        criteria=[[{"property": "state", "operator": "eq_any", "values": ["WA"]}]],
    )
    record = contact(acme, first_name="Ann", state="WA")
    # Still enrolled: matching again (another change while matching) does nothing.
    crm.record_update(record=record, values={"state": "NY"})
    crm.record_update(record=record, values={"state": "WA"})
    assert Enrollment.objects.filter(workflow=workflow).count() == 1
    drain()
    # Finished; a change that keeps it matching is not a new match.
    crm.record_update(record=record, values={"first_name": "Anna"})
    assert Enrollment.objects.filter(workflow=workflow).count() == 1
    crm.record_update(record=record, values={"state": "NY"})
    crm.record_update(record=record, values={"state": "WA"})
    assert Enrollment.objects.filter(workflow=workflow).count() == 2


def test_a_turned_off_workflow_enrolls_nobody_and_its_runs_continue(acme):
    workflow = make_workflow(acme, chain(TASK, TASK))
    contact(acme, first_name="Ann")
    services.workflow_turn_off(workflow=workflow)
    contact(acme, first_name="Bob")
    assert Enrollment.objects.count() == 1
    drain()
    assert Enrollment.objects.get().status == "completed"


def test_a_form_submission_enrolls_in_workflows_triggered_by_that_form(acme):
    workflow = make_workflow(acme, chain(TASK), form_id=7)
    record = contact(acme, first_name="Ann")
    assert not Enrollment.objects.exists()  # a form-triggered workflow ignores changes
    form_submitted.send(sender=None, record=record, form=SimpleNamespace(pk=8), submission=None)
    assert not Enrollment.objects.exists()
    form_submitted.send(sender=None, record=record, form=SimpleNamespace(pk=7), submission=None)
    assert Enrollment.objects.get(workflow=workflow).source == "form"


def test_manual_enrollment_refuses_a_record_already_enrolled(acme):
    workflow = make_workflow(
        acme, chain(TASK), criteria=[[{"property": "state", "operator": "is_known"}]]
    )
    record = contact(acme, first_name="Ann")
    enrollment = services.enrollment_create(workflow=workflow, record=record)
    assert enrollment.source == "manual"
    with pytest.raises(ValidationError, match="already enrolled"):
        services.enrollment_create(workflow=workflow, record=record)
    services.enrollment_unenroll(enrollment=enrollment)
    assert services.enrollment_create(workflow=workflow, record=record).status == "active"


def test_editing_a_live_workflow_leaves_runs_in_flight_on_their_version(acme):
    workflow = make_workflow(
        acme,
        chain(
            {"type": "delay", "config": {"amount": 1, "unit": "days"}},
            {"type": "create_task", "config": {"title": "Old step"}},
        ),
    )
    first = contact(acme, first_name="Ann")
    drain()  # Ann waits in the delay, on version 1
    services.workflow_update(
        workflow=workflow,
        graph=chain(
            {"type": "create_task", "config": {"title": "New first step"}},
        ),
    )
    workflow.refresh_from_db()
    assert workflow.version == 2
    second = contact(acme, first_name="Bob")
    drain(now_shift=dt.timedelta(days=1))
    assert Enrollment.objects.get(record=first).version.number == 1
    assert Enrollment.objects.get(record=second).version.number == 2
    titles = {
        e.record.properties["first_name"]: list(
            e.executions.order_by("step_id").values_list("action_type", flat=True)
        )
        for e in Enrollment.objects.select_related("record")
    }
    assert titles == {"Ann": ["delay", "create_task"], "Bob": ["create_task"]}
    from crm.models import Task

    assert sorted(Task.objects.values_list("title", flat=True)) == ["New first step", "Old step"]
    assert Workflow.objects.get().versions.count() == 2
