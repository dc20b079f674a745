"""The Assistants and Usage tabs (super admins), the dropdown's account assistants
(every page), and the builder's Test button."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Notification, Task
from marketplace.integrations.openai.assistants import assistant_choices
from marketplace.integrations.openai.models import AssistantBudget, ModelPrice, WorkspaceAssistant
from tests.integrations.openai.conftest import (
    SUNSET_KEY,
    ask_then_task,
    connect,
    contact,
    drain,
    make_workflow,
    workspace_assistant,
)

pytestmark = pytest.mark.django_db


def test_the_dropdown_lists_every_page_of_account_assistants(acme, sim):
    sim.configure(
        assistants=[
            {
                "id": f"asst_bulk{i:04d}",
                "name": f"Bulk {i:03d}",
                "model": "gpt-4o-mini",
                "created_at": 1735689700 + i,
            }
            for i in range(130)
        ]
    )
    connect(acme)
    workspace_assistant(acme, name="Mine")
    workspace_assistant(acme, name="Bulk 007")  # also the name of an account assistant
    choices = assistant_choices(account=acme)
    assert [name for _v, name in choices.workspace] == ["Bulk 007", "Mine"]
    assert len(choices.account) >= 130
    assert len([r for r in sim.requests(path_prefix="/v1/assistants")]) >= 2  # more than one page
    groups = dict(choices.as_choices()[1:])
    assert set(groups) == {"In crmflow", "In your OpenAI account"}
    # The same name in both groups says where each one lives; the others are plain.
    assert [n for _v, n in groups["In crmflow"]] == ["Bulk 007 (in crmflow)", "Mine"]
    assert "Bulk 007 (in your OpenAI account)" in [n for _v, n in groups["In your OpenAI account"]]
    assert "Bulk 008" in [n for _v, n in groups["In your OpenAI account"]]
    assistant_choices(account=acme)  # cached: no new listing
    assert len(sim.requests(path_prefix="/v1/assistants")) == 2
    assistant_choices(account=acme, refresh=True)
    assert len(sim.requests(path_prefix="/v1/assistants")) == 4


def test_a_sunset_account_hides_the_group_and_tells_admins_once(acme, admin_user, sim):
    connect(acme, SUNSET_KEY)
    for _ in range(2):
        choices = assistant_choices(account=acme, refresh=True)
        assert not choices.account_available and choices.account == []
        assert "shut down" in choices.account_note
    assert (
        Notification.objects.filter(idempotency_key__startswith="openai-assistants-gone:").count()
        == 1
    )


def test_super_admins_create_edit_and_archive_workspace_assistants(acme, admin_client, sim):
    connect(acme)
    page = admin_client.get(reverse("marketplace:openai_assistants"))
    assert page.status_code == 200 and b"Workspace assistants" in page.content
    response = admin_client.post(
        reverse("marketplace:openai_assistant_new"),
        {
            "name": "Lead rater",
            "instructions": "Rate the lead",
            "model": "gpt-4o-mini",
            "temperature": "0.2",
            "reasoning_effort": "",
            "output_format": "structured",
            "field-0-name": "rating",
            "field-0-type": "enumeration",
            "field-0-options": "HOT, WARM, COLD",
        },
    )
    assert response.status_code == 302
    assistant = WorkspaceAssistant.objects.get()
    assert assistant.output_fields == [
        {"name": "rating", "type": "enumeration", "options": ["HOT", "WARM", "COLD"]}
    ]
    bad = admin_client.post(
        reverse("marketplace:openai_assistant_edit", args=[assistant.pk]),
        {"name": "x", "model": "gpt-4o-mini", "temperature": "3", "output_format": "text"},
    )
    assert bad.status_code == 200 and bad.context["form"].errors
    admin_client.post(
        reverse("marketplace:openai_assistant_edit", args=[assistant.pk]), {"archive": "1"}
    )
    assistant.refresh_from_db()
    assert assistant.is_archived


def test_builders_cannot_manage_assistants_and_other_accounts_are_unreachable(
    acme, globex, builder_client, globex_client, sim
):
    connect(acme)
    connect(globex)
    assistant = workspace_assistant(acme)
    assert builder_client.get(reverse("marketplace:openai_assistants")).status_code == 403
    assert (
        globex_client.get(
            reverse("marketplace:openai_assistant_edit", args=[assistant.pk])
        ).status_code
        == 404
    )


def test_the_usage_tab_shows_cost_per_month_workflow_and_run_and_edits_prices_and_budgets(
    acme, admin_client, sim
):
    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="ohio")
    drain()
    page = admin_client.get(reverse("marketplace:openai_usage"))
    assert page.status_code == 200
    assert (
        b"<svg" in page.content
        and b"Test workflow" in page.content
        and b"gpt-4o-mini" in page.content
    )
    assert ModelPrice.objects.filter(account=acme, model="gpt-4o-mini").exists()
    admin_client.post(
        reverse("marketplace:openai_usage"),
        {
            "save_price": "1",
            "model": "gpt-4o-mini",
            "input": "1",
            "cached_input": "0.5",
            "output": "2",
        },
    )
    assert str(ModelPrice.objects.get(account=acme, model="gpt-4o-mini").input) == "1.0000"
    admin_client.post(
        reverse("marketplace:openai_usage"),
        {"save_budget": "1", "workflow": "", "unit": "usd", "monthly_limit": "10"},
    )
    assert AssistantBudget.objects.get(connection=connection).monthly_limit == 10


def test_the_test_button_shows_prompt_response_tokens_and_cost_and_changes_nothing(
    acme, builder_client, sim
):
    connect(acme)
    assistant = workspace_assistant(acme)
    record = contact(acme, first_name="Ann", state="texas")
    response = builder_client.post(
        reverse("marketplace:openai_action_test"),
        {
            "record": record.pk,
            "assistant": assistant.choice_value,
            "prompt": "State: {{ object.state }}",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="action-test-result"' in html and "State: texas" in html
    assert "TX" in html and "gpt-4o-mini" in html and "$0.0000" in html
    assert not Task.objects.exists()


def test_the_test_button_shows_the_error(acme, builder_client, sim):
    assistant = workspace_assistant(acme)
    record = contact(acme, first_name="Ann", state="texas")
    response = builder_client.post(
        reverse("marketplace:openai_action_test"),
        {"record": record.pk, "assistant": assistant.choice_value, "prompt": "x"},
    )
    assert "OpenAI app is not connected" in response.content.decode()


def test_the_builder_panel_of_the_action_has_a_test_section_that_runs_the_unsaved_config(
    acme, builder_client, rep_client, sim
):
    connect(acme)
    assistant = workspace_assistant(acme)
    ann = contact(acme, first_name="Ann", last_name="Lee", state="texas")
    contact(acme, first_name="Bob", state="ohio")
    workflow = make_workflow(acme, ask_then_task(assistant.choice_value), on=False)
    panel = builder_client.get(
        reverse("workflows:step", args=[workflow.pk, 1]), HTTP_HX_REQUEST="true"
    )
    html = panel.content.decode()
    assert 'id="action-test-record"' in html and "Ann Lee" in html and "Bob" in html
    assert reverse("marketplace:openai_action_test") in html
    # The other steps' panels and users who cannot edit workflows get no Test section.
    assert (
        'id="action-test-record"'
        not in builder_client.get(
            reverse("workflows:step", args=[workflow.pk, 2]), HTTP_HX_REQUEST="true"
        ).content.decode()
    )
    assert (
        'id="action-test-record"'
        not in rep_client.get(
            reverse("workflows:step", args=[workflow.pk, 1]), HTTP_HX_REQUEST="true"
        ).content.decode()
    )

    found = builder_client.post(
        reverse("marketplace:openai_action_test_records"),
        {"object_type": "contact", "record_q": "ann"},
        HTTP_HX_REQUEST="true",
    )
    assert "Ann Lee" in found.content.decode() and "Bob" not in found.content.decode()
    none = builder_client.post(
        reverse("marketplace:openai_action_test_records"),
        {"object_type": "nonsense", "record_q": "zzz"},
        HTTP_HX_REQUEST="true",
    )
    assert none.status_code == 200 and "No record matches this search." in none.content.decode()

    # The prompt being edited (not saved) is what runs; the workflow does not go on.
    result = builder_client.post(
        reverse("marketplace:openai_action_test"),
        {
            "record": ann.pk,
            "assistant": assistant.choice_value,
            "prompt": "Edited: {{ object.state }}",
            "model": "",
            "temperature": "",
            "reasoning_effort": "",
        },
        HTTP_HX_REQUEST="true",
    )
    text = result.content.decode()
    assert "Edited: texas" in text and "TX" in text and "gpt-4o-mini" in text
    assert not Task.objects.exists()


def test_the_test_without_a_record_or_with_bad_values_says_what_is_wrong(
    acme, builder_client, rep_client, globex, sim
):
    connect(acme)
    assistant = workspace_assistant(acme)
    no_record = builder_client.post(
        reverse("marketplace:openai_action_test"),
        {"record": "", "assistant": assistant.choice_value, "prompt": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert (
        no_record.status_code == 200
        and "Choose a record to test with." in no_record.content.decode()
    )
    other = contact(globex, first_name="Gus")
    foreign = builder_client.post(
        reverse("marketplace:openai_action_test"),
        {"record": other.pk, "assistant": assistant.choice_value, "prompt": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert "Choose a record to test with." in foreign.content.decode()
    ann = contact(acme, first_name="Ann", state="texas")
    bad = builder_client.post(
        reverse("marketplace:openai_action_test"),
        {"record": ann.pk, "assistant": assistant.choice_value, "prompt": "x", "temperature": "9"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 200 and "temperature" in bad.content.decode().lower()
    assert (
        rep_client.post(
            reverse("marketplace:openai_action_test_records"), {"record_q": "a"}
        ).status_code
        == 403
    )


def test_model_access_and_uninstall_know_which_workflows_use_openai(acme, sim):
    from marketplace.registry import workflows_using_connection, workflows_using_models

    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    usages = workflows_using_connection(connection)
    assert [(u.label, u.models) for u in usages] == [("Test workflow", frozenset({"gpt-4o-mini"}))]
    assert workflows_using_models(connection, ["gpt-4o-mini"]) == usages
    assert workflows_using_models(connection, ["gpt-4.1"]) == []
