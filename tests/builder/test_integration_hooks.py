"""An integration's action (section "openai") shows up in the panel, turns template
placeholders into itself, offers its outputs in the picker and reports review problems."""

from __future__ import annotations

import pytest
from django import forms

from crm.services import definitions_for
from workflows import registry
from workflows.builder import actions, picker
from workflows.builder.catalog import template_create
from workflows.builder.review import review_problems
from workflows.registry import ActionType, Output, OutputType


class AskForm(forms.Form):
    assistant = forms.ChoiceField(label="Assistant selection", choices=[("a1", "Sales helper")])
    prompt = forms.CharField(widget=forms.Textarea)
    model = forms.CharField(label="Model selection", required=False)
    temperature = forms.FloatField(label="Temperature", required=False)

    advanced_fields = ("model", "temperature")
    advanced_label = "Advanced API parameters"


class FakeAsk(ActionType):
    key = "fake_ask_openai"
    label = "Ask OpenAI assistant"
    section = "OpenAI"  # any case
    config_form = AskForm
    outputs = (Output("response", "Response"), Output("score", "Score", OutputType.NUMBER))

    def connection_problem(self, account):
        return None

    def review_problems(self, config, *, account):
        return ["the model gpt-old is no longer allowed"] if config.get("assistant") == "a1" else []


@pytest.fixture
def fake_openai(without_openai_actions):
    registry.register(FakeAsk)
    yield
    registry._REGISTRY.pop(FakeAsk.key, None)


def test_the_panel_lists_the_registered_openai_action(acme, fake_openai):
    section = next(s for s in actions.panel_sections(acme) if s.key == "openai")
    assert [(i.key, i.disabled_reason) for i in section.items] == [("fake_ask_openai", "")]
    assert not section.connect


def test_without_it_the_section_says_so_honestly(acme, without_openai_actions):
    section = next(s for s in actions.panel_sections(acme) if s.key == "openai")
    assert section.items[0].disabled_reason and section.connect


def test_placeholders_become_the_real_action_and_its_outputs_are_offered(
    acme, builder_user, builder_client, fake_openai
):
    workflow = template_create(account=acme, key="format_state", actor=builder_user)
    step = workflow.graph["steps"]["1"]
    assert step["type"] == "fake_ask_openai" and "{{ object.state }}" in step["config"]["prompt"]
    variables = picker.data_variables(
        graph=workflow.graph,
        step_id=2,
        account=acme,
        definitions=definitions_for(acme, "contact"),
        target_type="number",
    )
    group = variables.groups[0]
    assert group.title == "1. Ask OpenAI assistant"
    assert [(v.label, bool(v.disabled_reason)) for v in group.variables] == [
        ("Response", True),
        ("Score", False),
    ]
    panel = builder_client.get(f"/workflows/{workflow.pk}/steps/1/").content.decode()
    assert 'data-token-editor="prompt"' in panel and 'name="assistant"' in panel
    assert "<summary>Advanced API parameters</summary>" in panel
    assert '<label id="step-field-temperature-label" for="step-field-temperature">' in panel
    assert 'id="step-field-temperature"' in panel
    assert 'data-token-editor="model"' in panel.split("Advanced API parameters")[1]
    builder_client.post(
        f"/workflows/{workflow.pk}/steps/1/",
        {
            "assistant": "a1",
            "prompt": "Code for {{ object.state }}",
            "temperature": "0.3",
            "_save": "1",
        },
    )
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["config"]["temperature"] == "0.3"
    messages = [
        p.message for p in review_problems(workflow, definitions=definitions_for(acme, "contact"))
    ]
    assert messages == ["1. Ask OpenAI assistant: the model gpt-old is no longer allowed"]
