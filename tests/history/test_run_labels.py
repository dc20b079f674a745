"""The run detail shows each step's inputs and outputs as the builder labels them, with
names instead of stored ids (`ws:12` → the assistant's name), never the raw config keys."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace.integrations.openai.models import WorkspaceAssistant
from tests.conftest import client_for
from tests.integrations.openai.conftest import (
    LEAD_QUALIFIER,
    ask_then_task,
    connect,
    lead_rater,
    workspace_assistant,
)
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db


def run_url(workflow) -> str:
    enrollment = Enrollment.objects.get(workflow=workflow)
    return reverse("history:run", args=[workflow.pk, enrollment.pk])


def step_html(html: str, step_id: int) -> str:
    start = html.index(f'id="step-{step_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def pairs(html: str) -> dict[str, str]:
    """{label: value text} of a step's Inputs and Outputs lists."""
    found = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html, re.S)
    return {label: re.sub(r"<[^>]+>", "", value).strip() for label, value in found}


def ask_workflow(account, assistant_value: str, **config):
    workflow = make_workflow(account, ask_then_task(assistant_value, **config))
    contact(account, first_name="Ann", last_name="Doe", state="ohio")
    drain()
    return workflow


def test_an_ask_step_shows_the_builders_labels_and_the_assistants_name(acme, sim, builder_client):
    connect(acme)
    assistant = workspace_assistant(acme, name="Lead qualifier")
    workflow = ask_workflow(
        acme, assistant.choice_value, model="", temperature="0.20", reasoning_effort="medium"
    )
    html = builder_client.get(run_url(workflow)).content.decode()
    assert "ws:" not in html
    ask = pairs(step_html(html, 1))
    assert ask["Assistant selection"] == "Lead qualifier"
    assert ask["Prompt"] == "ohio"
    assert ask["Model selection"] == "The assistant&#x27;s own model"
    assert ask["Temperature"] == "0.2"
    assert ask["Reasoning effort"] == "Medium"
    assert ask["Response"] == "OH" and ask["Model used"] == "gpt-4o-mini"
    assert ask["Total tokens"].isdigit()
    assert not {"assistant", "prompt", "model", "response", "total_tokens"} & set(ask)


def test_a_built_in_step_shows_its_form_labels(acme, sim, builder_client):
    connect(acme)
    workflow = ask_workflow(acme, workspace_assistant(acme).choice_value)
    task = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 2))
    assert task["Title"] == "Code: OH" and task["Notes"] == "Model gpt-4o-mini"
    assert "Task" in task and "task_id" not in task and "title" not in task


def test_a_choice_shows_its_label_not_its_stored_value(acme, builder_client):
    workflow = make_workflow(
        acme,
        chain(
            {
                "type": "create_task",
                "config": {
                    "title": "Call",
                    "task_type": "call",
                    "priority": "high",
                    "associate_with": ["company"],
                },
            }
        ),
    )
    contact(acme, first_name="Ann")
    drain()
    task = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 1))
    assert task["Type"] == "Call" and task["Priority"] == "High"
    assert task["Also associate with"] == "Company"


def test_structured_fields_are_listed_by_their_names_in_words(acme, sim, builder_client):
    connect(acme)
    workflow = ask_workflow(acme, lead_rater(acme).choice_value, reasoning_effort="")
    html = step_html(builder_client.get(run_url(workflow)).content.decode(), 1)
    ask = pairs(html)
    assert ask["Assistant selection"] == "Lead rater"
    # No effort chosen: shown as every empty input is, not as a value "—".
    assert ask["Reasoning effort"] == "—"
    assert re.search(r"Reasoning effort</dt><dd><span class=\"help\">—</span>", html)
    # Fields without a label of their own: their names in words.
    assert ask["Rating"] in {"HOT", "WARM", "COLD"} and "Reason" in ask


def test_an_archived_or_deleted_assistant_is_named_so(acme, sim, builder_client):
    connect(acme)
    assistant = workspace_assistant(acme, name="Lead qualifier")
    workflow = ask_workflow(acme, assistant.choice_value)
    WorkspaceAssistant.objects.filter(pk=assistant.pk).update(archived_at=timezone.now())
    ask = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 1))
    assert ask["Assistant selection"] == "Lead qualifier (archived)"
    deleted_id = assistant.pk
    assistant.delete()
    ask = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 1))
    assert ask["Assistant selection"] == f"Assistant #{deleted_id} (deleted)"


def test_an_account_assistant_is_named_from_the_cached_list_and_the_page_asks_openai_nothing(
    acme, sim, builder_client
):
    connect(acme)
    workflow = ask_workflow(acme, f"acct:{LEAD_QUALIFIER}")
    sim.clear_requests()
    ask = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 1))
    assert ask["Assistant selection"] == "Lead qualifier"  # the run cached the list
    cache.clear()
    ask = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 1))
    assert ask["Assistant selection"] == LEAD_QUALIFIER
    assert sim.requests() == []


def test_the_assistants_of_every_step_are_read_in_one_query(acme, sim, builder_client):
    connect(acme)
    first, second = (
        workspace_assistant(acme, name="First"),
        workspace_assistant(acme, name="Second"),
    )
    workflow = make_workflow(
        acme,
        chain(
            *[
                {
                    "type": "ask_openai_assistant",
                    "config": {"assistant": a.choice_value, "prompt": "ohio"},
                }
                for a in (first, second, first)
            ]
        ),
    )
    contact(acme, first_name="Ann")
    drain()
    with CaptureQueriesContext(connection) as queries:
        html = builder_client.get(run_url(workflow)).content.decode()
    assert [pairs(step_html(html, n))["Assistant selection"] for n in (1, 2, 3)] == [
        "First",
        "Second",
        "First",
    ]
    assert sum("workspaceassistant" in q["sql"] for q in queries.captured_queries) == 1


def test_odd_stored_data_still_shows(acme, sim, builder_client):
    connect(acme)
    workflow = ask_workflow(acme, workspace_assistant(acme).choice_value)
    url = run_url(workflow)
    ask = ActionExecution.objects.filter(workflow=workflow, step_id=1)
    for inputs in (
        {"assistant": "ws:abc", "prompt": "hi", "surprise": {"a": 1}},
        {"assistant": "ws:²", "temperature": "warm", "reasoning_effort": "extreme"},
        {"assistant": "ws:99999999999999999999999", "model": None},
        {"assistant": 12, "temperature": [1]},
        ["not", "a", "dict"],
        "a string",
    ):
        ask.update(inputs=inputs, outputs=["odd"])
        response = builder_client.get(url)
        assert response.status_code == 200, inputs
    ask.update(inputs={"assistant": "ws:abc", "surprise": {"a": 1}})
    shown = pairs(step_html(builder_client.get(url).content.decode(), 1))
    assert shown["Assistant selection"] == "ws:abc" and "&quot;a&quot;: 1" in shown["surprise"]


def test_the_labels_are_in_french(acme, sim, builder_user):
    connect(acme)
    workflow = ask_workflow(
        acme,
        workspace_assistant(acme, name="Lead qualifier").choice_value,
        model="",
        reasoning_effort="medium",
    )
    client = client_for(builder_user)
    client.cookies["django_language"] = "fr"
    html = client.get(run_url(workflow)).content.decode()
    ask = pairs(step_html(html, 1))
    assert ask["Sélection de l’assistant"] == "Lead qualifier"
    assert ask["Sélection du modèle"] == "Le modèle de l’assistant"
    assert ask["Effort de raisonnement"] == "Moyen"  # the effort (masculine), not a priority
    assert "Réponse" in ask and "Modèle utilisé" in ask
    assert "Titre" in pairs(step_html(html, 2))
    # Money as French writes it: the amount, then the currency ("0,000027 $").
    assert re.fullmatch(r"0,\d+\u00a0\$", ask["Coût"]), ask["Coût"]
    WorkspaceAssistant.objects.update(archived_at=timezone.now())
    ask = pairs(step_html(client.get(run_url(workflow)).content.decode(), 1))
    assert ask["Sélection de l’assistant"] == "Lead qualifier (archivé)"


def test_users_branch_paths_and_tasks_read_as_words_and_links(acme, builder_client, rep_user):
    from crm.models import Task

    graph = chain(
        {
            "type": "branch",
            "config": {
                "paths": [{"name": "HOT", "groups": [], "next": 2}],
                "none_next": 2,
            },
        },
        {"type": "create_task", "config": {"title": "Call", "assignee": "owner"}},
        {
            "type": "send_notification",
            "config": {"recipients": ["owner", rep_user.pk], "subject": "Hi"},
        },
    )
    workflow = make_workflow(acme, graph)
    contact(acme, first_name="Ann")
    drain()
    html = builder_client.get(run_url(workflow)).content.decode()
    branch = pairs(step_html(html, 1))
    assert branch["None met"] == "step 2" and "paths" not in branch
    task = pairs(step_html(html, 2))
    assert task["Assigned to"] == "Record owner"
    assert f'href="/tasks/{Task.objects.get().pk}/"' in step_html(html, 2)
    notify = step_html(html, 3)
    assert f"<dt>Recipients</dt><dd><code>Record owner, {rep_user}</code>" in notify
    assert "[&quot;owner&quot;" not in notify


def test_structured_outputs_read_as_their_labels(acme, sim, builder_client):
    """A structured field of the answer is shown under the label its version gives it
    (or its name in words), not its name."""
    connect(acme)
    rater = workspace_assistant(
        acme,
        name="Lead rater",
        instructions="Rate the lead: HOT, WARM or COLD.",
        output_format="structured",
        output_fields=[
            {
                "name": "rating",
                "label": "Lead temperature",
                "type": "enumeration",
                "options": ["HOT", "WARM", "COLD"],
            },
            {"name": "reason", "type": "text", "options": []},
        ],
    )
    workflow = ask_workflow(acme, rater.choice_value, prompt="{{ object.first_name }}")
    ask = pairs(step_html(builder_client.get(run_url(workflow)).content.decode(), 1))
    assert "Lead temperature" in ask and "Reason" in ask
    assert "rating" not in ask and "reason" not in ask
    # The Response itself reads as those labelled fields, not as the model's JSON.
    response = ask["Response"]
    assert not response.lstrip().startswith("{") and '"rating"' not in response
    assert re.search(r"^Lead temperature: (HOT|WARM|COLD)$", response, re.M), response
    assert re.search(r"^Reason: \S", response, re.M), response
