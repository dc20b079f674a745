"""Format record data (seed §1.7), server side: the "Format state codes" template run
by the ledger in this process against the OpenAI simulator (real HTTP), the demo data,
and the branch editor keeping the guard's list of codes.

The browser scenario (Marketplace, CSV import, a real worker) is test_format_state.py.
"""

from __future__ import annotations

import pytest

from crm import services as crm
from crm.demo import STATES
from crm.models import ObjectType, Record, Task
from marketplace.integrations.openai.demo import STATE_FORMATTER_INSTRUCTIONS, format_state_demo
from marketplace.integrations.openai.models import WorkspaceAssistant
from marketplace.integrations.openai.workflow_templates import US_STATE_CODES
from tests.integrations.openai.conftest import (  # noqa: F401  (fixtures)
    connect,
    settle,
    sim,
    simulator_session,
    workspace_assistant,
)
from workflows import services
from workflows.builder.templates import template_create
from workflows.models import Enrollment, Workflow

pytestmark = pytest.mark.django_db


def contact(account, owner, first_name, state):
    return crm.record_create(
        account=account,
        object_type=ObjectType.CONTACT,
        values={
            "email": f"{first_name.lower()}@example.com",
            "first_name": first_name,
            "last_name": "Doe",
            "state": state,
            "owner": owner.pk,
        },
    )


def format_state_on(account, actor, *, re_enroll=False) -> Workflow:
    """The template as a builder finishes it: the State formatter chosen, turned on."""
    assistant = workspace_assistant(account, instructions=STATE_FORMATTER_INSTRUCTIONS)
    workflow = template_create(account=account, key="format_state", actor=actor)
    graph = workflow.graph
    graph["steps"]["1"]["config"]["assistant"] = assistant.choice_value
    graph["steps"]["1"].pop("incomplete", None)
    workflow = services.workflow_update(workflow=workflow, graph=graph, re_enroll=re_enroll)
    services.workflow_turn_on(workflow=workflow, enroll_existing=False)
    return workflow


def test_the_template_guards_the_write_with_the_us_state_codes(acme, admin_user):
    workflow = template_create(account=acme, key="format_state", actor=admin_user)
    assert workflow.criteria == [[{"property": "state", "operator": "is_known"}]]
    steps = workflow.graph["steps"]
    assert steps["1"]["type"] == "ask_openai_assistant"
    assert steps["1"]["config"]["prompt"].endswith(": {{ object.state }}")
    condition = steps["2"]["config"]["paths"][0]["groups"][0][0]
    assert condition["output"] == "1.response" and condition["operator"] == "eq_any"
    assert len(condition["values"]) == 51 and {"CA", "DC", "WY"} <= set(condition["values"])
    assert steps["2"]["config"]["paths"][0]["next"] == 3
    assert steps["3"]["config"] == {"property": "state", "value": "{{ actions.1.response }}"}
    assert steps["2"]["config"]["none_next"] == 4
    assert steps["4"]["type"] == "create_task" and steps["4"]["config"]["assignee"] == "owner"


def test_the_template_speaks_french_and_still_ends_with_the_value(acme, admin_user):
    from django.utils import translation

    with translation.override("fr"):
        workflow = template_create(account=acme, key="format_state", actor=admin_user)
    steps = workflow.graph["steps"]
    assert steps["1"]["config"]["prompt"] == (
        "Le code à deux lettres de cet État ou de cette région des États-Unis\u00a0: {{ object.state }}"
    )
    assert steps["2"]["config"]["paths"][0]["name"] == "Code d’État valide"
    assert steps["4"]["config"]["title"].startswith("Vérifier l’État de")


@pytest.mark.parametrize("re_enroll", [False, True], ids=["re-enrollment off", "on"])
def test_codes_are_written_back_and_anything_else_becomes_a_task(
    acme, admin_user, rep_user, sim, re_enroll
):
    connect(acme)
    workflow = format_state_on(acme, admin_user, re_enroll=re_enroll)
    ann = contact(acme, rep_user, "Ann", "california")
    bob = contact(acme, rep_user, "Bob", "tex.")
    atlantis = contact(acme, rep_user, "Ava", "Atlantis")
    settle()

    ann.refresh_from_db(), bob.refresh_from_db(), atlantis.refresh_from_db()
    assert ann.properties["state"] == "CA"
    assert bob.properties["state"] == "TX"
    assert atlantis.properties["state"] == "Atlantis"  # never overwritten with garbage
    task = Task.objects.get()
    assert task.title == "Check the state of Ava Doe"
    assert task.assignee == rep_user and list(task.records.all()) == [atlantis]
    assert "UNKNOWN" in task.notes and "Atlantis" in task.notes
    # Writing "CA" changed the state, but the contact matched before and after: no loop.
    assert Enrollment.objects.filter(workflow=workflow).count() == 3
    assert all(e.status == "completed" for e in Enrollment.objects.filter(workflow=workflow))
    assert len([r for r in sim.requests() if r["path"] == "/v1/responses"]) == 3


def test_the_simulator_formats_every_demo_state(acme, admin_user, sim):
    connect(acme)
    format_state_on(acme, admin_user)
    for index, state in enumerate(STATES):
        contact(acme, admin_user, f"C{index}", state)
    settle(timeout=120)
    codes = set(Record.objects.filter(account=acme).values_list("properties__state", flat=True))
    assert codes <= set(US_STATE_CODES)
    assert codes == {"CA", "NY", "TX", "WA", "FL", "IL", "NJ", "MA", "OR", "CO", "GA", "PA"}
    assert not Task.objects.exists()


def test_the_demo_adds_the_state_formatter_and_the_workflow_off_once(acme, admin_user):
    format_state_demo(account=acme, actor=admin_user)
    format_state_demo(account=acme, actor=admin_user)
    assistant = WorkspaceAssistant.objects.get(account=acme)
    assert assistant.name == "State formatter"
    assert "two-letter" in assistant.instructions
    workflow = Workflow.objects.get(account=acme)
    assert workflow.name == "Format state codes" and not workflow.is_enabled
    # The template named its assistant: the demo workflow has it chosen already.
    assert workflow.graph["steps"]["1"]["config"]["assistant"] == assistant.choice_value


def test_the_branch_editor_keeps_the_list_of_codes(acme, admin_user, admin_client):
    """Opening the If/then card and saving it as shown keeps one value per code."""
    workflow = template_create(account=acme, key="format_state", actor=admin_user)
    page = admin_client.get(f"/workflows/{workflow.pk}/steps/2/").content.decode()
    assert "AL, AK, AZ" in page
    response = admin_client.post(
        f"/workflows/{workflow.pk}/steps/2/",
        {
            "path_count": "1",
            "path-0-name": "Valid state code",
            "path-0-source": "output:1.response",
            "path-0-operator": "eq_any",
            "path-0-value": ", ".join(US_STATE_CODES),
        },
    )
    assert response.status_code in (200, 302)
    workflow.refresh_from_db()
    condition = workflow.graph["steps"]["2"]["config"]["paths"][0]["groups"][0][0]
    assert condition["values"] == list(US_STATE_CODES)
    assert workflow.graph["steps"]["2"]["config"]["paths"][0]["next"] == 3
