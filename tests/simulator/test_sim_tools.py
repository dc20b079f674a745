"""Function calling in /v1/responses, round trips through the real SDK."""

from __future__ import annotations

import json

import openai
import pytest

STATE_RULE = "Convert the US state to its two-letter code. Answer with the code only."


def _function(name: str, properties: dict, *, strict: bool | None = True) -> dict:
    tool = {
        "type": "function",
        "name": name,
        "description": f"The {name} function.",
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        },
    }
    if strict is not None:
        tool["strict"] = strict
    return tool


LOOKUP = _function("lookup_contact", {"email": {"type": "string"}})
WEATHER = _function("get_weather", {"city": {"type": "string"}})
ASK = "Find where this contact lives with lookup_contact.\nemail: jane@example.com"


def test_the_model_calls_a_function_the_prompt_names(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o-mini", input=ASK, tools=[LOOKUP, WEATHER]
    )
    assert response.status == "completed" and response.output_text == ""
    (call,) = response.output
    assert (call.type, call.name, call.status) == ("function_call", "lookup_contact", "completed")
    assert json.loads(call.arguments) == {"email": "jane@example.com"}
    assert call.call_id.startswith("call_") and response.usage.output_tokens > 0


def test_number_arguments_are_read_from_the_prompts_lines(openai_client):
    record = _function("get_record", {"id": {"type": "integer"}, "score": {"type": "number"}})
    response = openai_client.responses.create(
        model="gpt-4o-mini", input="Call get_record.\nid: 4821\nscore: 2.5", tools=[record]
    )
    (call,) = response.output
    assert json.loads(call.arguments) == {"id": 4821, "score": 2.5}


def test_a_round_trip_continues_with_the_output_by_call_id(openai_client):
    tools = [LOOKUP]
    first = openai_client.responses.create(
        model="gpt-4o-mini", instructions=STATE_RULE, input=ASK, tools=tools
    )
    (call,) = first.output
    second = openai_client.responses.create(
        model="gpt-4o-mini",
        instructions=STATE_RULE,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Texas"}],
        tools=tools,
    )
    assert second.output_text == "TX"  # the answer reads the function's output
    # Usage counts every round: the second reads the first's input, call and output.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens


def test_a_stateless_round_trip_sends_the_calls_back_as_input(openai_client):
    first = openai_client.responses.create(
        model="gpt-4o", instructions=STATE_RULE, input=ASK, tools=[LOOKUP], store=False
    )
    (call,) = first.output
    second = openai_client.responses.create(
        model="gpt-4o",
        instructions=STATE_RULE,
        input=[
            {"role": "user", "content": ASK},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "Ohio"},
        ],
        tools=[LOOKUP],
        store=False,
    )
    assert second.output_text == "OH"


def test_parallel_calls_unless_turned_off(openai_client):
    ask = "Use lookup_contact and get_weather.\nemail: a@b.c\ncity: Paris"
    both = openai_client.responses.create(model="gpt-4o", input=ask, tools=[LOOKUP, WEATHER])
    assert [item.name for item in both.output] == ["lookup_contact", "get_weather"]
    assert json.loads(both.output[1].arguments) == {"city": "Paris"}
    one = openai_client.responses.create(
        model="gpt-4o", input=ask, tools=[LOOKUP, WEATHER], parallel_tool_calls=False
    )
    assert [item.name for item in one.output] == ["lookup_contact"]


@pytest.mark.parametrize(
    ("tool_choice", "prompt", "called"),
    [
        ("none", ASK, []),
        ("auto", "Just say hello.", []),
        ("required", "Just say hello.", ["lookup_contact"]),
        ({"type": "function", "name": "get_weather"}, ASK, ["get_weather"]),
        (
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "get_weather"}],
            },
            ASK,
            [],
        ),
    ],
)
def test_tool_choice_decides_whether_and_what_to_call(openai_client, tool_choice, prompt, called):
    response = openai_client.responses.create(
        model="gpt-4o", input=prompt, tools=[LOOKUP, WEATHER], tool_choice=tool_choice
    )
    assert [item.name for item in response.output if item.type == "function_call"] == called
    assert bool(response.output_text) == (not called)


def test_calls_can_be_scripted_per_instructions_from_the_admin_api(simulator, openai_client):
    simulator.configure(
        tool_calls=[
            {
                "instructions": "crm helper",
                "calls": [{"name": "lookup_contact", "arguments": {"email": "bob@acme.test"}}],
                "answer": "Bob is at {output}.",
            }
        ]
    )
    first = openai_client.responses.create(
        model="gpt-4o", instructions="You are the CRM helper.", input="Who is Bob?", tools=[LOOKUP]
    )
    (call,) = first.output
    assert json.loads(call.arguments) == {"email": "bob@acme.test"}
    second = openai_client.responses.create(
        model="gpt-4o",
        instructions="You are the CRM helper.",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Acme"}],
        tools=[LOOKUP],
    )
    assert second.output_text == "Bob is at Acme."
    assert simulator.current_config()["tool_calls"][0]["answer"] == "Bob is at {output}."
    simulator.reset()
    assert simulator.current_config()["tool_calls"] == []


def test_an_output_for_an_unknown_call_is_refused(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(
            model="gpt-4o",
            input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}],
            tools=[LOOKUP],
        )
    assert caught.value.param == "input"
    assert caught.value.body["message"] == (
        "No tool call found for function call output with call_id call_nope."
    )


def test_a_call_left_without_its_output_is_refused(openai_client):
    first = openai_client.responses.create(model="gpt-4o", input=ASK, tools=[LOOKUP])
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(
            model="gpt-4o", previous_response_id=first.id, input="never mind", tools=[LOOKUP]
        )
    assert caught.value.body["message"] == (
        f"No tool output found for function call {first.output[0].call_id}."
    )


def test_a_strict_function_needs_a_strict_schema(openai_client):
    loose = {
        **LOOKUP,
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4o", input=ASK, tools=[loose])
    assert (caught.value.param, caught.value.code) == (
        "tools[0].parameters",
        "invalid_function_parameters",
    )
    assert caught.value.body["message"] == (
        "Invalid schema for function 'lookup_contact': In context=(), 'additionalProperties' "
        "is required to be supplied and to be false."
    )
    not_strict = {**loose, "strict": False}
    response = openai_client.responses.create(model="gpt-4o", input=ASK, tools=[not_strict])
    assert response.output[0].name == "lookup_contact"


def test_an_omitted_strict_is_accepted_and_echoed_true(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o",
        input=ASK,
        tools=[_function("lookup_contact", {"email": {"type": "string"}}, strict=None)],
    )
    assert response.tools[0].strict is True


@pytest.mark.parametrize(
    ("tool", "param", "message"),
    [
        (
            {**LOOKUP, "parameters": {"type": "array"}},
            "tools[0].parameters",
            "Invalid schema for function 'lookup_contact': schema must be a JSON Schema of "
            "'type: \"object\"', got 'type: \"array\"'.",
        ),
        (
            {**LOOKUP, "name": "look up"},
            "tools[0].name",
            "Invalid 'tools[0].name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
        ),
    ],
)
def test_a_bad_function_definition_is_refused(openai_client, tool, param, message):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4o", input=ASK, tools=[tool])
    assert (caught.value.param, caught.value.body["message"]) == (param, message)


def test_tool_choice_must_name_a_declared_function(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(
            model="gpt-4o",
            input=ASK,
            tools=[LOOKUP],
            tool_choice={"type": "function", "name": "get_weather"},
        )
    assert caught.value.param == "tool_choice"
    assert (
        caught.value.body["message"] == "Tool choice 'get_weather' not found in 'tools' parameter."
    )
