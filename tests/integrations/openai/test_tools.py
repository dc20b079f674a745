"""CRM tools and the tool loop, through the real SDK and the simulator (in-process
ledger): the model looks records up over several rounds, reads only its own account's
records and only the properties the data controls allow, and every round is counted."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services as crm
from crm.models import ObjectType, PropertyDefinition
from marketplace.integrations.openai import retention, tools
from marketplace.integrations.openai.action import AskOpenAIAssistant
from marketplace.integrations.openai.assistants import connection_key
from marketplace.integrations.openai.limiter import policy
from marketplace.integrations.openai.models import AssistantUsage
from marketplace.models import Connection
from tests.conftest import client_for
from tests.integrations.openai.conftest import (
    chain,
    connect,
    contact,
    drain,
    make_workflow,
    workspace_assistant,
)
from workflows import services
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db


def company(account, **values):
    return crm.record_create(account=account, object_type=ObjectType.COMPANY, values=values)


def ask(assistant, prompt: str) -> dict:
    return chain(
        {
            "type": "ask_openai_assistant",
            "config": {"assistant": assistant.choice_value, "prompt": prompt},
        }
    )


def run_on_existing(account, graph: dict) -> None:
    """Turn the workflow on for the records already there (their ids are in the rules)."""
    workflow = make_workflow(account, graph)
    services.workflow_enroll_existing_now(workflow=workflow)


def researcher(account, *tools: str, **fields):
    return workspace_assistant(
        account,
        name="Researcher",
        instructions="You are a crm researcher.",
        tools=list(tools),
        **fields,
    )


def bodies(sim) -> list[dict]:
    return [r["body"] for r in sim.requests(key="demo", path_prefix="/v1/responses")]


def test_a_two_round_loop_answers_from_the_company_it_looked_up(acme, sim):
    connect(acme)
    ann = contact(acme, first_name="Ann")
    acme_co = company(acme, name="Initech", number_of_employees="500")
    crm.association_create(record=ann, other=acme_co)
    sim.configure(
        log_bodies=True,
        tool_calls=[
            {
                "instructions": "crm researcher",
                "input": "company",
                "calls": [
                    {
                        "name": "list_associated_records",
                        "arguments": {
                            "object": "contact",
                            "id": ann.pk,
                            "associated_object": "company",
                        },
                    }
                ],
                "answer": "Their company: {output}",
            }
        ],
    )
    assistant = researcher(acme, "list_associated_records")
    run_on_existing(acme, ask(assistant, "How big is the company of contact {{ object.id }}?"))
    drain()
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "succeeded", execution.error
    assert "Initech" in execution.outputs["response"] and "500" in execution.outputs["response"]
    rounds = execution.outputs["_tool_rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[0]["calls"][0]["tool"] == "list_associated_records"
    assert "Initech" in rounds[0]["calls"][0]["result"]
    sent = bodies(sim)
    assert len(sent) == 2
    assert sent[0]["tools"][0]["name"] == "list_associated_records"
    assert sent[0]["tools"][0]["strict"] is True
    outputs = [i for i in sent[1]["input"] if i.get("type") == "function_call_output"]
    assert "Initech" in outputs[0]["output"]
    # Tokens and cost add up over both rounds.
    usage = AssistantUsage.objects.get()
    assert usage.total_tokens == rounds[0]["tokens"] + rounds[1]["tokens"]
    assert usage.total_tokens == execution.outputs["total_tokens"]


def test_another_accounts_record_is_not_found(acme, globex, sim):
    connect(acme)
    secret = company(globex, name="Globex secret plans", number_of_employees="9")
    sim.configure(
        log_bodies=True,
        tool_calls=[
            {
                "instructions": "crm researcher",
                "input": "read",
                "calls": [
                    {"name": "get_record", "arguments": {"object": "company", "id": secret.pk}}
                ],
            }
        ],
    )
    assistant = researcher(acme, "get_record")
    contact(acme, first_name="Ann")
    run_on_existing(acme, ask(assistant, "read the company"))
    drain()
    execution = ActionExecution.objects.get(step_id=1)
    result = execution.outputs["_tool_rounds"][0]["calls"][0]["result"]
    assert json.loads(result) == {"error": f"No company with id {secret.pk}."}
    assert all("Globex" not in json.dumps(body) for body in bodies(sim))


def test_sensitive_properties_never_reach_openai(acme, sim):
    connect(acme)
    PropertyDefinition.objects.filter(account=acme, name__in=["email", "phone"]).update(
        sensitive=True
    )
    ann = contact(acme, first_name="Ann", email="ann@private.test", phone="+1 555 010 9999")
    sim.configure(
        log_bodies=True,
        tool_calls=[
            {
                "instructions": "crm researcher",
                "input": "look",
                "calls": [
                    {"name": "get_record", "arguments": {"object": "contact", "id": ann.pk}},
                    {
                        "name": "search_records",
                        "arguments": {
                            "object": "contact",
                            "text": "",
                            "property": "email",
                            "value": "guess@private.test",
                            "limit": 5,
                        },
                    },
                ],
            }
        ],
    )
    assistant = researcher(acme, "get_record", "search_records")
    run_on_existing(acme, ask(assistant, "look up {{ object.first_name }} {{ object.email }}"))
    drain()
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "succeeded", execution.error
    assert execution.inputs["prompt"] == "look up Ann [withheld]"
    sent = json.dumps(bodies(sim))
    assert "ann@private.test" not in sent and "555" not in sent
    assert "[withheld]" in sent and "Ann" in sent
    search = execution.outputs["_tool_rounds"][0]["calls"][1]["result"]
    assert "not available" in search


def test_masking_hides_emails_phones_and_card_numbers_in_the_prompt(acme, sim):
    connect(acme)
    acme.ai_mask_text = True
    acme.save()
    sim.configure(log_bodies=True)
    assistant = workspace_assistant(acme, instructions="Summarise the note.")
    run_on_existing(acme, ask(assistant, "Note: {{ object.message }}"))
    PropertyDefinition.objects.create(
        account=acme, object_type=ObjectType.CONTACT, name="message", label="Message", type="text"
    )
    contact(
        acme,
        first_name="Ann",
        message="Mail bob@corp.test, call +33 6 12 34 56 78, card 4111 1111 1111 1111, on 2026-12-03",
    )
    drain()
    sent = bodies(sim)[0]["input"]
    assert sent == ("Note: Mail [email], call [phone], card [card number], on 2026-12-03")


def test_the_last_round_allowed_must_answer(acme, sim):
    connect(acme)
    ann = contact(acme, first_name="Ann")
    sim.configure(
        log_bodies=True,
        tool_calls=[
            {
                "instructions": "crm researcher",
                "input": "again",
                "calls": [{"name": "get_record", "arguments": {"object": "contact", "id": ann.pk}}],
            }
        ],
    )
    assistant = researcher(acme, "get_record", max_tool_rounds=2)
    run_on_existing(acme, ask(assistant, "again and again"))
    drain()
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "succeeded", execution.error
    sent = bodies(sim)
    assert len(sent) == 2
    assert "tool_choice" not in sent[0] and sent[1]["tool_choice"] == "none"


def _looked_up_company(acme, sim) -> ActionExecution:
    """A step that looked up the contact's company over two rounds."""
    connect(acme)
    ann = contact(acme, first_name="Ann")
    crm.association_create(record=ann, other=company(acme, name="Initech"))
    sim.configure(
        log_bodies=True,
        tool_calls=[
            {
                "instructions": "crm researcher",
                "input": "company",
                "calls": [
                    {
                        "name": "list_associated_records",
                        "arguments": {
                            "object": "contact",
                            "id": ann.pk,
                            "associated_object": "any",
                        },
                    }
                ],
            }
        ],
    )
    assistant = researcher(acme, "list_associated_records")
    run_on_existing(acme, ask(assistant, "Which company is {{ object.first_name }} at?"))
    drain()
    return ActionExecution.objects.get(step_id=1)


def test_every_round_takes_a_permit_from_the_shared_limiter(acme, sim):
    execution = _looked_up_company(acme, sim)
    assert len(execution.outputs["_tool_rounds"]) == 2
    connection = Connection.objects.get(account=acme)
    state = policy.limiter().state(connection_key(connection))
    assert state.connection.requests_used == 2 == len(sim.requests(key="demo"))


def test_retention_deletes_the_text_of_old_steps_and_keeps_their_usage(acme, globex, sim):
    execution = _looked_up_company(acme, sim)
    usage = AssistantUsage.objects.get()
    ActionExecution.objects.filter(pk=execution.pk).update(
        finished_at=timezone.now() - dt.timedelta(days=91)
    )
    assert retention.run_history_text_delete(batch_size=1) == 1
    execution.refresh_from_db()
    assert execution.status == "succeeded"
    assert "Ann" not in json.dumps(execution.inputs) and "Initech" not in json.dumps(
        execution.outputs
    )
    assert execution.outputs["total_tokens"] == usage.total_tokens
    assert [c["tool"] for c in execution.outputs["_tool_rounds"][0]["calls"]] == [
        "list_associated_records"
    ]
    assert AssistantUsage.objects.get().total_tokens == usage.total_tokens
    assert retention.run_history_text_delete() == 0  # already cleared


def test_retention_follows_each_accounts_setting(acme, sim):
    acme.ai_retention_days = 365
    acme.save()
    execution = _looked_up_company(acme, sim)
    ActionExecution.objects.filter(pk=execution.pk).update(
        finished_at=timezone.now() - dt.timedelta(days=91)
    )
    assert retention.run_history_text_delete() == 0
    execution.refresh_from_db()
    assert "Initech" in json.dumps(execution.outputs)


@pytest.fixture
def client_for_rep(rep_user):
    return client_for(rep_user)


def test_admins_choose_what_may_be_sent_and_the_review_warns(acme, admin_client, client_for_rep):
    email = PropertyDefinition.objects.get(account=acme, object_type="contact", name="email")
    state = PropertyDefinition.objects.get(account=acme, object_type="contact", name="state")
    page = admin_client.get(reverse("crm:ai_data"))
    assert page.status_code == 200 and b"Properties that may be sent" in page.content
    assert b"Responses kept by OpenAI" in page.content and not acme.ai_openai_store
    sent = [str(d.pk) for d in PropertyDefinition.objects.filter(account=acme) if d != email]
    response = admin_client.post(
        reverse("crm:ai_data"),
        {
            "save": "1",
            "sent": sent,
            "ai_retention_days": "30",
            "ai_mask_text": "on",
            "ai_openai_store": "on",
        },
    )
    assert response.status_code == 302
    email.refresh_from_db()
    state.refresh_from_db()
    acme.refresh_from_db()
    assert email.sensitive and not state.sensitive
    assert acme.ai_retention_days == 30 and acme.ai_mask_text and acme.ai_openai_store
    bad = admin_client.post(reverse("crm:ai_data"), {"save": "1", "ai_retention_days": "0"})
    assert bad.status_code == 200 and "ai_retention_days" in bad.context["form"].errors
    problems = AskOpenAIAssistant().review_problems(
        {"prompt": "Write to {{ object.email }} in {{ object.state }}"}, acme
    )
    assert any("email" in p and "withheld" in p for p in problems)
    assert client_for_rep.get(reverse("crm:ai_data")).status_code == 403


def test_the_test_button_shows_the_tool_rounds(acme, sim, builder_user):
    connect(acme)
    ann = contact(acme, first_name="Ann")
    crm.association_create(record=ann, other=company(acme, name="Initech"))
    sim.configure(
        tool_calls=[
            {
                "instructions": "crm researcher",
                "calls": [
                    {
                        "name": "list_associated_records",
                        "arguments": {
                            "object": "contact",
                            "id": ann.pk,
                            "associated_object": "any",
                        },
                    }
                ],
            }
        ]
    )
    assistant = researcher(acme, "list_associated_records")
    response = client_for(builder_user).post(
        reverse("marketplace:openai_action_test"),
        {
            "record": ann.pk,
            "assistant": assistant.choice_value,
            "prompt": "Who is {{ object.first_name }}?",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert (
        "Tool rounds" in html
        and "Associated records (e.g. a contact&#x27;s company)" in html
        and "list_associated_records" not in html
        and "Initech" in html
    )


def test_a_result_over_its_size_cap_is_cut_with_a_note_the_model_reads(acme):
    for n in range(25):
        company(acme, name=f"Company {n}", description="x" * 480)
    PropertyDefinition.objects.get_or_create(
        account=acme,
        object_type=ObjectType.COMPANY,
        name="description",
        defaults={"label": "Description", "type": "textarea"},
    )
    scope = tools.ToolScope(account=acme, allowed_tools=frozenset({"search_records"}))
    output = tools.call_run(
        scope,
        "search_records",
        json.dumps(
            {"object": "company", "text": "Company", "property": "", "value": "", "limit": 25}
        ),
    )
    result = json.loads(output)
    assert len(output) <= tools.RESULT_MAX_CHARS
    assert 0 < len(result["records"]) < 25 and "result size limit" in result["truncated"]
    refused = json.loads(tools.call_run(scope, "get_record", "{}"))
    assert refused == {"error": "There is no tool named 'get_record'."}
