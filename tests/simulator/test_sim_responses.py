import json
import time

import openai
import pytest

LEAD_SCHEMA = {
    "type": "json_schema",
    "name": "lead_rating",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "rating": {"type": "string", "enum": ["HOT", "WARM", "COLD"]},
            "reason": {"type": "string"},
        },
        "required": ["rating", "reason"],
        "additionalProperties": False,
    },
}


def test_it_answers_a_plain_request(openai_client):
    response = openai_client.responses.create(
        model="gpt-4.1-mini",
        instructions="Convert the US state to its two-letter code. Answer with the code only.",
        input="New York",
        temperature=0.2,
        metadata={"workflow": "42"},
    )
    assert response.status == "completed"
    assert response.output_text == "NY"
    assert response.metadata == {"workflow": "42"}
    assert response.temperature == 0.2
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_it_accepts_a_list_of_input_messages(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o",
        input=[
            {"role": "developer", "content": "Convert the US state to its two-letter code."},
            {"role": "user", "content": [{"type": "input_text", "text": "tex."}]},
        ],
    )
    assert response.output_text == "TX"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("california", "CA"),
        ("New York", "NY"),
        ("tex.", "TX"),
        ("WA", "WA"),
        ("Atlantis", "UNKNOWN"),
    ],
)
def test_it_converts_state_names_to_codes(openai_client, value, code):
    response = openai_client.responses.create(
        model="gpt-4o-mini",
        instructions="Return the two-letter code of this US state.",
        input=value,
    )
    assert response.output_text == code


def test_it_returns_json_matching_a_structured_output_schema(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o-mini",
        instructions="Rate the lead.",
        input="I'm a student just browsing for my homework",
        text={"format": LEAD_SCHEMA},
    )
    answer = json.loads(response.output_text)
    assert answer["rating"] == "COLD"
    assert set(answer) == {"rating", "reason"} and answer["reason"]
    assert response.text.format.type == "json_schema"


def test_a_reasoning_model_reports_reasoning_tokens(openai_client):
    low = openai_client.responses.create(
        model="o4-mini", input="hello", reasoning={"effort": "low"}
    )
    high = openai_client.responses.create(
        model="gpt-5", input="hello", reasoning={"effort": "high"}
    )
    assert (
        0
        < low.usage.output_tokens_details.reasoning_tokens
        < high.usage.output_tokens_details.reasoning_tokens
    )
    assert low.output_text
    assert low.reasoning.effort == "low"


def test_it_refuses_temperature_on_a_reasoning_model(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="o3", input="hello", temperature=0.5)
    assert caught.value.code == "unsupported_parameter"
    assert caught.value.param == "temperature"
    assert (
        caught.value.body["message"]
        == "Unsupported parameter: 'temperature' is not supported with this model."
    )


def test_it_refuses_reasoning_effort_on_a_non_reasoning_model(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4o", input="hello", reasoning={"effort": "low"})
    assert caught.value.code == "unsupported_parameter"


def test_it_refuses_a_non_chat_model(openai_client):
    with pytest.raises(openai.BadRequestError):
        openai_client.responses.create(model="text-embedding-3-small", input="hello")


def test_it_does_not_know_an_unknown_model(openai_client):
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.responses.create(model="gpt-9", input="hello")
    assert caught.value.code == "model_not_found"


def test_a_background_response_completes_over_the_latency(simulator, openai_client):
    simulator.configure(latency="fixed:300")
    response = openai_client.responses.create(model="gpt-4o", input="hello", background=True)
    assert response.status in ("queued", "in_progress")
    assert response.usage is None and response.output == []
    deadline = time.monotonic() + 5
    while response.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.05)
        response = openai_client.responses.retrieve(response.id)
    assert response.status == "completed"
    assert response.output_text and response.usage.total_tokens > 0


def test_an_unstored_response_cannot_be_retrieved(openai_client):
    response = openai_client.responses.create(model="gpt-4o", input="hello", store=False)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(response.id)


def test_another_key_cannot_retrieve_a_response(simulator, openai_client, keys):
    response = openai_client.responses.create(model="gpt-4o-mini", input="hello")
    with pytest.raises(openai.NotFoundError):
        simulator.client(keys.narrow).responses.retrieve(response.id)


def test_a_response_can_be_made_to_fail(simulator, openai_client):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", "response_outcome": "failed"}])
    response = openai_client.responses.create(model="gpt-4o", input="hello")
    assert response.status == "failed"
    assert response.error.code == "server_error"
    assert response.output == []


def test_a_response_can_end_incomplete(simulator, openai_client):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", "response_outcome": "incomplete"}])
    response = openai_client.responses.create(model="gpt-4o", input="hello there, tell me more")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"


def test_a_small_max_output_tokens_makes_the_response_incomplete(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o", input="please tell me about your pricing", max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert response.usage.output_tokens == 16


def test_a_repeated_long_prefix_reports_cached_tokens(openai_client):
    instructions = "Be helpful. " * 500  # ~1500 tokens by the chars/4 rule
    first = openai_client.responses.create(model="gpt-4o", instructions=instructions, input="hello")
    second = openai_client.responses.create(
        model="gpt-4o", instructions=instructions, input="hello again"
    )
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert second.usage.input_tokens_details.cached_tokens == 1408


def test_a_broken_json_schema_is_a_bad_request(openai_client):
    broken = {
        **LEAD_SCHEMA,
        "schema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4o", input="hello", text={"format": broken})
    assert caught.value.code == "invalid_json_schema"


def test_the_flex_tier_serves_the_models_that_offer_it_and_says_so(openai_client):
    instructions = "Convert the US state to its two-letter code."
    response = openai_client.responses.create(
        model="o4-mini", instructions=instructions, input="ohio", service_tier="flex"
    )
    assert response.output_text == "OH" and response.service_tier == "flex"
    plain = openai_client.responses.create(model="o4-mini", instructions=instructions, input="ohio")
    assert plain.service_tier == "default"
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(
            model="gpt-4o-mini", instructions=instructions, input="ohio", service_tier="flex"
        )
    assert refused.value.body["param"] == "service_tier"
    assert "flex is not available for model 'gpt-4o-mini'" in refused.value.message
