"""The Qualify visitors and Draft sales emails templates, run in-process against the
OpenAI simulator (the ledger drained here, as a worker would): what each rating does,
what the draft reads from the deal's contact and company, and what the template leaves
for the builder when the account lacks the form or the assistant."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from crm import services as crm
from crm.models import Notification, ObjectType, Role, Task
from crm.submissions import form_submission_create
from marketplace.integrations.openai.demo import (
    LEAD_QUALIFIER_FIELDS,
    LEAD_QUALIFIER_INSTRUCTIONS,
    SALES_EMAIL_INSTRUCTIONS,
    contact_us_form_ensure,
    workspace_assistant_ensure,
)
from tests.conftest import make_user
from tests.integrations.openai.conftest import connect, settle
from workflows import services
from workflows.builder import picker
from workflows.builder.review import review_problems
from workflows.builder.templates import template_create
from workflows.tokens import TokenResolver

pytestmark = pytest.mark.django_db


@pytest.fixture
def qualify(sim, acme, admin_user, rep_user):
    connect(acme)
    qualifier = workspace_assistant_ensure(
        acme, "Lead qualifier", LEAD_QUALIFIER_INSTRUCTIONS, fields=LEAD_QUALIFIER_FIELDS
    )
    form = contact_us_form_ensure(account=acme, actor=admin_user)
    workflow = template_create(account=acme, key="qualify_visitors", actor=admin_user)
    return workflow, form, qualifier


def turn_on(workflow):
    services.workflow_publish(workflow=workflow)
    services.workflow_turn_on(workflow=workflow)


def test_qualify_visitors_points_at_the_contact_us_form_the_lead_qualifier_and_the_reps(
    qualify, acme, rep_user
):
    workflow, form, qualifier = qualify
    other_rep = make_user(acme, "rep2", Role.SALES_REP)
    assert (workflow.form_id, workflow.criteria, workflow.re_enroll) == (form.pk, [], True)
    steps = workflow.graph["steps"]
    assert steps["1"]["type"] == "ask_openai_assistant"
    assert steps["1"]["config"]["assistant"] == f"ws:{qualifier.pk}"
    assert "{{ object.looking_for }}" in steps["1"]["config"]["prompt"]
    assert steps["3"]["config"]["recipients"] == ["owner", rep_user.pk]  # reps when created
    assert steps["4"]["config"]["assignee"] == rep_user.pk
    assert other_rep.pk not in steps["3"]["config"]["recipients"]
    definitions = crm.definitions_for(acme, ObjectType.CONTACT)
    assert review_problems(workflow, definitions=definitions) == []


@pytest.mark.parametrize(
    "answer, path",
    [
        ("We need pricing and a demo this quarter, budget approved.", "HOT"),
        ("Some information about your integrations.", "WARM"),
        ("I'm a student, just browsing.", "COLD"),
    ],
)
def test_each_rating_takes_its_path(qualify, acme, admin_user, rep_user, answer, path):
    workflow, form, _qualifier = qualify
    turn_on(workflow)
    submission = form_submission_create(
        form=form,
        answers={
            "email": "ann@globex.example",
            "first_name": "Ann",
            "last_name": "Lee",
            "job_title": "VP Sales",
            "company_name": "Globex",
            "looking_for": answer,
        },
    )
    settle()
    ann = submission.record
    ann.refresh_from_db()
    tasks = Task.objects.filter(records=ann)
    notified = Notification.objects.filter(recipient=rep_user)
    if path == "HOT":
        [task] = tasks
        assert (task.type, task.priority, task.assignee) == ("call", "high", rep_user)
        assert task.title == "Call Ann Lee (hot lead)" and answer in task.notes
        assert [n.title for n in notified] == ["Hot lead: Ann Lee"]
    elif path == "WARM":
        [task] = tasks
        assert (task.type, task.priority, task.assignee) == ("todo", "medium", rep_user)
        assert not notified.exists()
    else:
        assert not tasks.exists() and not notified.exists()
        assert ann.properties["lead_status"] == "unqualified"


def test_without_the_form_and_the_assistant_the_builder_is_left_to_choose(acme, admin_user):
    workflow = template_create(account=acme, key="qualify_visitors", actor=admin_user)
    assert workflow.form_id is None
    assert "assistant" not in workflow.graph["steps"]["1"]["config"]
    problems = [
        p.message
        for p in review_problems(
            workflow, definitions=crm.definitions_for(acme, ObjectType.CONTACT)
        )
    ]
    assert any(m.startswith("Enrollment criteria:") for m in problems)
    assert any("1. Ask OpenAI assistant is incomplete" in m for m in problems)


@pytest.fixture
def deal(acme, rep_user):
    deal = crm.record_create(
        account=acme,
        object_type=ObjectType.DEAL,
        values={"name": "Globex renewal", "stage": "appointmentscheduled", "owner": rep_user.pk},
    )
    jane = crm.record_create(
        account=acme,
        object_type=ObjectType.CONTACT,
        values={"first_name": "Jane", "email": "jane@globex.example", "job_title": "CFO"},
    )
    globex = crm.record_create(
        account=acme,
        object_type=ObjectType.COMPANY,
        values={"name": "Globex", "industry": "Retail"},
    )
    crm.association_create(record=deal, other=jane)
    crm.association_create(record=deal, other=globex)
    return deal, jane


def test_associated_tokens_read_the_deals_contact_and_company(acme, deal):
    deal, _jane = deal
    resolver = TokenResolver(
        record=deal, definitions=crm.definitions_for(acme, "deal"), earlier_outputs={}
    )
    assert (
        resolver.render(
            "{{ associated.contact.first_name }} ({{ associated.contact.job_title }})"
            " at {{ associated.company.name }}, {{ associated.ticket.subject }}"
            "{{ associated.nothing.x }}"
        )
        == "Jane (CFO) at Globex, "
    )
    variables = picker.data_variables(
        graph={"start": None, "steps": {}},
        step_id=1,
        definitions=crm.definitions_for(acme, "deal"),
        account=acme,
    )
    groups = {g.title: [v.token for v in g.variables] for g in variables.associated}
    assert "{{ associated.contact.first_name }}" in groups["Contact (associated)"]
    assert "Deal (associated)" not in groups
    labels = picker.chip_labels(
        graph={"start": None, "steps": {}},
        definitions=crm.definitions_for(acme, "deal"),
        account=acme,
    )
    assert labels["associated.company.name"] == "Company (associated): Company name"


def test_a_deal_entering_the_stage_drafts_an_email_task_on_the_deal_and_its_contact(
    sim, acme, admin_user, rep_user, deal
):
    deal, jane = deal
    connect(acme)
    drafter = workspace_assistant_ensure(acme, "Sales email drafter", SALES_EMAIL_INSTRUCTIONS)
    workflow = template_create(account=acme, key="draft_sales_email", actor=admin_user)
    assert workflow.graph["steps"]["1"]["config"]["assistant"] == f"ws:{drafter.pk}"
    turn_on(workflow)
    settle()
    assert not Task.objects.exists()  # an earlier stage: nothing yet

    crm.record_update(record=deal, values={"stage": "qualifiedtobuy"})
    settle()
    [task] = Task.objects.all()
    assert (task.type, task.assignee) == ("email", rep_user)
    assert set(task.records.all()) == {deal, jane}
    assert "Hi Jane," in task.notes and "Globex" in task.notes
    # Leaving the stage and entering it again drafts again (re-enrollment).
    crm.record_update(record=deal, values={"stage": "presentationscheduled"})
    crm.record_update(record=deal, values={"stage": "qualifiedtobuy"})
    settle()
    assert Task.objects.count() == 2


def test_create_task_refuses_an_unknown_object_to_associate(acme):
    from workflows import registry

    with pytest.raises(ValidationError):
        registry.get("create_task").validate_config(
            {"title": "x", "associate_with": ["planet"]}, account=acme, object_type="deal"
        )
