"""Request bodies are checked against openapi.yaml and refused in OpenAI's words.

Every case goes through the real SDK over HTTP; the expected sentences are those OpenAI
answers (docs/simulator.md lists the sources).
"""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from openai_simulator.specextract import EXTRACT_PATH, build_extract, load_spec, read_source_note

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared/openai-openapi/openapi.yaml"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _refusal(client, **params) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**params)
    error = caught.value
    assert error.status_code == 400 and error.type == "invalid_request_error"
    return error


def test_the_request_schemas_are_those_of_the_shared_spec():
    if not SPEC_PATH.exists():
        pytest.skip(f"OpenAPI spec not found at {SPEC_PATH}")
    fresh = build_extract(load_spec(SPEC_PATH), read_source_note(SPEC_PATH))
    assert json.loads(EXTRACT_PATH.read_text(encoding="utf-8")) == fresh, (
        "openapi_requests.json is stale: python -m openai_simulator.specextract " + str(SPEC_PATH)
    )


@pytest.mark.parametrize(
    "params",
    [
        {"model": "gpt-4o", "temperature": 0},
        {"model": "gpt-4o", "temperature": 2},
        {"model": "gpt-4o", "top_p": 0},
        {"model": "gpt-4o", "top_p": 1},
        {"model": "gpt-4o", "max_output_tokens": 16},
        {"model": "gpt-4o", "metadata": {f"k{n}": "v" for n in range(16)}},
        {"model": "gpt-4o", "metadata": {"k" * 64: "v" * 512}},
        {"model": "gpt-4o", "store": False},
        {"model": "o3", "reasoning": {"effort": "minimal"}},
        {"model": "o3", "reasoning": {"effort": "high"}},
        {"model": "gpt-4o", "text": {"format": {"type": "text"}}},
    ],
)
def test_it_accepts_the_edges_of_every_range(openai_client, params):
    response = openai_client.responses.create(input="hello", **params)
    assert response.status in ("completed", "incomplete")  # 16 tokens may cut the answer


@pytest.mark.parametrize(
    ("params", "param", "code", "message"),
    [
        (
            {"temperature": 2.5},
            "temperature",
            "decimal_above_max_value",
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.",
        ),
        (
            {"temperature": -1},
            "temperature",
            "decimal_below_min_value",
            "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        ),
        (
            {"top_p": 1.5},
            "top_p",
            "decimal_above_max_value",
            "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 instead.",
        ),
        (
            {"max_output_tokens": 15},
            "max_output_tokens",
            "integer_below_min_value",
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 15 instead.",
        ),
        (
            {"temperature": "hot"},
            "temperature",
            "invalid_type",
            "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        ),
        (
            {"store": "yes"},
            "store",
            "invalid_type",
            "Invalid type for 'store': expected a boolean, but got a string instead.",
        ),
        (
            {"metadata": {f"k{n}": "v" for n in range(17)}},
            "metadata",
            "object_above_max_properties",
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            "properties, but got an object with 17 properties instead.",
        ),
        (
            {"metadata": {"k": "v" * 513}},
            "metadata.k",
            "string_above_max_length",
            "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, "
            "but got a string with length 513 instead.",
        ),
        (
            {"metadata": {"k" * 65: "v"}},
            "metadata." + "k" * 65,
            "property_name_above_max_length",
            f"Invalid property name in 'metadata': '{'k' * 65}' is too long. Expected a string "
            "with maximum length 64, but got a string with length 65 instead.",
        ),
        (
            {"metadata": {"count": 3}},
            "metadata.count",
            "invalid_type",
            "Invalid type for 'metadata.count': expected a string, but got an integer instead.",
        ),
        (
            {"text": {"format": {"type": "yaml"}}},
            "text.format.type",
            "invalid_value",
            "Invalid value: 'yaml'. Supported values are: 'text', 'json_schema', and 'json_object'.",
        ),
        (
            {"text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            "text.format.name",
            "missing_required_parameter",
            "Missing required parameter: 'text.format.name'.",
        ),
        (
            {"tool_choice": "sometimes"},
            "tool_choice",
            "invalid_value",
            "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'.",
        ),
    ],
)
def test_it_refuses_what_the_spec_refuses(openai_client, params, param, code, message):
    error = _refusal(openai_client, model="gpt-4o", input="hello", **params)
    assert (error.param, error.code, error.body["message"]) == (param, code, message)


def test_an_unknown_parameter_is_refused_before_anything_else(openai_client):
    error = _refusal(
        openai_client, model="gpt-4o", input="hello", temperature=3, extra_body={"colour": "red"}
    )
    assert (error.param, error.code) == ("colour", "unknown_parameter")
    assert error.body["message"] == "Unknown parameter: 'colour'."


def test_an_unknown_member_of_an_input_item_is_named_by_its_path(openai_client):
    error = _refusal(
        openai_client,
        model="gpt-4o",
        input=[{"role": "user", "content": "hi"}, {"role": "user", "content": "x", "mood": 1}],
    )
    assert (error.param, error.code) == ("input[1].mood", "unknown_parameter")


def test_a_wrong_input_type_says_what_was_expected(openai_client):
    error = _refusal(openai_client, model="gpt-4o", input=[{"role": "user", "content": 7}])
    assert error.param == "input[0].content"
    assert error.body["message"] == (
        "Invalid type for 'input[0].content': expected one of a string or array of objects, "
        "but got an integer instead."
    )


def test_an_unknown_reasoning_effort_lists_the_supported_values(openai_client):
    error = _refusal(openai_client, model="o3", input="hello", reasoning={"effort": "huge"})
    assert (error.param, error.code) == ("reasoning.effort", "invalid_value")
    assert error.body["message"].startswith("Invalid value: 'huge'. Supported values are: 'none',")


def test_a_reasoning_summary_is_refused_on_a_model_that_does_not_reason(openai_client):
    error = _refusal(openai_client, model="gpt-4.1", input="hi", reasoning={"summary": "auto"})
    assert (error.param, error.code) == ("reasoning.summary", "unsupported_parameter")


LOOSE_SCHEMA = {
    "type": "object",
    "properties": {
        "rating": {"type": "string"},
        "contact": {
            "type": "object",
            "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        },
    },
    "required": ["rating", "contact"],
}


def _format(schema: dict, strict: bool) -> dict:
    return {"format": {"type": "json_schema", "name": "lead", "schema": schema, "strict": strict}}


def test_a_strict_schema_needs_additional_properties_false_on_every_object(openai_client):
    error = _refusal(
        openai_client, model="gpt-4o", input="hi", text=_format(LOOSE_SCHEMA, strict=True)
    )
    assert (error.param, error.code) == ("text.format.schema", "invalid_json_schema")
    assert error.body["message"] == (
        "Invalid schema for response_format 'lead': In context=(), 'additionalProperties' "
        "is required to be supplied and to be false."
    )


def test_a_strict_schema_needs_every_property_required_at_every_depth(openai_client):
    schema = {**LOOSE_SCHEMA, "additionalProperties": False}
    error = _refusal(openai_client, model="gpt-4o", input="hi", text=_format(schema, strict=True))
    assert error.body["message"] == (
        "Invalid schema for response_format 'lead': In context=('properties', 'contact'), "
        "'required' is required to be supplied and to be an array including every key in "
        "properties. Missing 'email'."
    )


def test_the_same_schema_is_accepted_without_strict(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o", input="hi", text=_format(LOOSE_SCHEMA, strict=False)
    )
    assert set(json.loads(response.output_text)) == {"rating", "contact"}


def test_a_schema_must_describe_an_object(openai_client):
    error = _refusal(
        openai_client, model="gpt-4o", input="hi", text=_format({"type": "array"}, strict=False)
    )
    assert error.body["message"] == (
        "Invalid schema for response_format 'lead': schema must be a JSON Schema of "
        "'type: \"object\"', got 'type: \"array\"'."
    )


def test_a_response_format_name_is_letters_digits_underscores_and_dashes(openai_client):
    text = _format({"type": "object"}, strict=False)
    text["format"]["name"] = "lead rating"
    error = _refusal(openai_client, model="gpt-4o", input="hi", text=text)
    assert (error.param, error.code) == ("text.format.name", "invalid_value")
    assert error.body["message"] == (
        "Invalid 'text.format.name': string does not match pattern. Expected a string that "
        "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'."
    )


def test_json_object_output_needs_the_word_json_in_the_input(openai_client):
    json_object = {"format": {"type": "json_object"}}
    error = _refusal(openai_client, model="gpt-4o", input="Rate this lead", text=json_object)
    assert error.param == "input"
    assert "must contain the word 'json'" in error.body["message"]
    response = openai_client.responses.create(
        model="gpt-4o", input="Rate this lead, answer in JSON", text=json_object
    )
    assert isinstance(json.loads(response.output_text), dict)


def test_assistants_request_bodies_are_checked_too(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.beta.threads.create_and_run(
            assistant_id="asst_demoLeadQualifier0000001", temperature=3
        )
    assert caught.value.code == "decimal_above_max_value"
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.beta.threads.create(extra_body={"assistant_id": "asst_x"})
    assert (caught.value.param, caught.value.code) == ("assistant_id", "unknown_parameter")
