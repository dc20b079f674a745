"""An integration plugs into the builder through the registry's seams alone: its section
(with the connection it needs), its action type (form, summary, outputs, review), and
its templates. A small integration declared here shows each seam."""

from __future__ import annotations

import pytest
from django import forms

from crm.services import definitions_for
from workflows import registry
from workflows.builder import actions, picker
from workflows.builder.review import review_problems
from workflows.builder.templates import template_create
from workflows.registry import (
    ActionType,
    BuilderSection,
    Output,
    OutputType,
    WorkflowTemplate,
)

CONNECTED: set[int] = set()


class PingForm(forms.Form):
    url = forms.CharField(label="Address")
    note = forms.CharField(label="Note", required=False)


class Ping(ActionType):
    key = "test_ping"
    label = "Ping a server"
    section = "test_pings"
    config_form = PingForm
    outputs = (Output("status", "Status", OutputType.NUMBER), Output("body", "Body"))

    def summary(self, config, *, canvas) -> str:
        return f"PING {canvas.chips(config.get('url') or '')}"

    def review_problems(self, config, account) -> list[str]:
        return ["the address is not https"] if config.get("url", "").startswith("http:") else []


SECTION = BuilderSection(
    "test_pings",
    "Pings",
    "signal",
    order=50,
    connect_label="Connect Pings",
    connection_problem=lambda account: None if account.pk in CONNECTED else "Pings is off.",
    connect_url=lambda next_path: f"/connect-pings/?next={next_path}",
)


def _template(account) -> dict:
    return {
        "criteria": [],
        "graph": {
            "start": 1,
            "last_id": 2,
            "steps": {
                "1": {"type": "test_ping", "config": {"url": "https://example.com"}, "next": 2},
                "2": {"type": "create_task", "config": {"title": "Call"}, "next": None},
            },
        },
    }


@pytest.fixture
def pings():
    registry.section_register(SECTION)
    registry.register(Ping)
    registry.template_register(WorkflowTemplate("pings", "Ping", "", "contact", _template))
    yield
    registry._REGISTRY.pop(Ping.key)
    registry._SECTIONS.pop(SECTION.key)
    registry._TEMPLATES.pop("pings")
    CONNECTED.clear()


def test_the_panel_lists_the_section_with_its_connect_button_until_connected(acme, pings):
    section = next(
        s for s in actions.panel_sections(acme, next_path="/back/") if s.key == "test_pings"
    )
    assert [i.key for i in section.items] == ["test_ping"]
    assert (section.note, section.connect_label) == ("Pings is off.", "Connect Pings")
    assert section.connect_url == "/connect-pings/?next=/back/"
    CONNECTED.add(acme.pk)
    section = next(
        s for s in actions.panel_sections(acme, next_path="/back/") if s.key == "test_pings"
    )
    assert section.note == "" and section.connect_url is None


def test_a_template_makes_a_draft_whose_step_shows_its_summary_and_outputs(
    acme, builder_user, builder_client, pings
):
    workflow = template_create(account=acme, key="pings", actor=builder_user)
    page = builder_client.get(f"/workflows/{workflow.pk}/").content.decode()
    assert "PING" in page and "Ping a server" in page
    variables = picker.data_variables(
        graph=workflow.graph,
        step_id=2,
        account=acme,
        definitions=definitions_for(acme, "contact"),
        target_type="number",
    )
    group = variables.groups[0]
    assert group.title == "1. Ping a server"
    assert [(v.label, bool(v.disabled_reason)) for v in group.variables] == [
        ("Status", False),
        ("Body", True),
    ]


def test_the_step_panel_offers_to_connect_and_comes_back_to_the_step(
    acme, builder_user, builder_client, pings
):
    workflow = template_create(account=acme, key="pings", actor=builder_user)
    panel = builder_client.get(f"/workflows/{workflow.pk}/steps/1/").content.decode()
    assert "Pings is off." in panel
    assert f'href="/connect-pings/?next=/workflows/{workflow.pk}/steps/1/"' in panel
    assert 'data-token-editor="url"' in panel


def test_connecting_from_the_action_panel_comes_back_to_the_step_waiting_for_it(
    acme, builder_user, builder_client, pings
):
    workflow = template_create(account=acme, key="pings", actor=builder_user)
    panel = builder_client.get(f"/workflows/{workflow.pk}/add/?slot=start").content.decode()
    assert f'href="/connect-pings/?next=/workflows/{workflow.pk}/steps/1/"' in panel


def test_review_reports_the_section_connection_and_the_steps_own_problems(
    acme, builder_user, pings
):
    workflow = template_create(account=acme, key="pings", actor=builder_user)
    workflow.graph["steps"]["1"]["config"]["url"] = "http://example.com"
    messages = [
        p.message for p in review_problems(workflow, definitions=definitions_for(acme, "contact"))
    ]
    assert messages == ["Pings is off.", "1. Ping a server: the address is not https"]
    CONNECTED.add(acme.pk)
    messages = [
        p.message for p in review_problems(workflow, definitions=definitions_for(acme, "contact"))
    ]
    assert messages == ["1. Ping a server: the address is not https"]
