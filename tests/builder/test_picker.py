"""The data-variable picker's rules, computed server-side."""

from __future__ import annotations

from crm.services import definitions_for
from workflows.builder import picker
from workflows.builder.templates import template_create


def offered(variables):
    return {g.step_id: [v.token for v in g.variables] for g in variables.groups}


def test_only_outputs_of_earlier_steps_on_the_same_path_are_offered(acme, branched):
    definitions = definitions_for(acme, "contact")
    on_hot_path = picker.data_variables(
        graph=branched.graph, step_id=4, definitions=definitions, account=acme
    )
    assert list(offered(on_hot_path)) == [1, 2, 3]
    assert on_hot_path.groups[0].title == "1. Create task"
    assert offered(on_hot_path)[3] == ["{{ actions.3.task_id }}"]
    on_none_path = picker.data_variables(
        graph=branched.graph, step_id=5, definitions=definitions, account=acme
    )
    assert list(offered(on_none_path)) == [1, 2]  # never step 3 or 4 (another path)
    first = picker.data_variables(
        graph=branched.graph, step_id=1, definitions=definitions, account=acme
    )
    assert first.groups == []
    assert "{{ object.first_name }}" in [v.token for v in first.properties]


def test_type_incompatible_variables_are_disabled_with_the_reason(acme, branched):
    definitions = definitions_for(acme, "contact")
    into_number = picker.data_variables(
        graph=branched.graph, step_id=4, definitions=definitions, account=acme, target_type="number"
    )
    by_token = {v.token: v for v in into_number.properties}
    assert "cannot go into a number field" in by_token["{{ object.first_name }}"].disabled_reason
    assert by_token["{{ object.owner }}"].disabled_reason  # an owner is not a number
    task_id = into_number.groups[0].variables[0]
    assert task_id.type == "number" and task_id.disabled_reason == ""
    path = into_number.groups[1].variables[0]  # "Path taken" is text
    assert "text value cannot go into a number field" in path.disabled_reason
    into_text = picker.data_variables(
        graph=branched.graph, step_id=4, definitions=definitions, account=acme
    )
    assert not any(v.disabled_reason for v in into_text.properties)


def test_a_template_assistant_step_offers_its_response(acme, builder_user):
    workflow = template_create(account=acme, key="format_state", actor=builder_user)
    variables = picker.data_variables(
        graph=workflow.graph, step_id=2, definitions=definitions_for(acme, "contact"), account=acme
    )
    assert variables.groups[0].title == "1. Ask OpenAI assistant"
    assert [(v.label, v.token) for v in variables.groups[0].variables][0] == (
        "Response",
        "{{ actions.1.response }}",
    )


def test_the_picker_endpoint_uses_the_field_type(builder_client, acme, branched):
    graph = branched.graph
    graph["steps"]["6"] = {
        "type": "set_property",
        "config": {"property": "first_name"},
        "next": None,
    }
    graph["steps"]["5"]["next"] = 6
    branched.save()
    url = f"/workflows/{branched.pk}/steps/6/data/"
    text = builder_client.get(url, {"field": "value", "property": "first_name"})
    assert text.status_code == 200 and b"disabled" not in text.content
    # The form's current (unsaved) choice decides the type: a number property now.
    number = builder_client.get(url, {"field": "value", "property": "owner"})
    assert b"cannot go into" in number.content
    assert builder_client.get(url, {"field": "property"}).status_code == 404
    assert builder_client.get(url, {"field": "<script>"}).status_code == 404
