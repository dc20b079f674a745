"""Token accounting a client can bill on: reasoning inside output, the output cap, caching."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("model", "effort"), [("o4-mini", "low"), ("gpt-5", "high"), ("gpt-5", "max")]
)
def test_reasoning_tokens_are_part_of_the_output_tokens(openai_client, model, effort):
    response = openai_client.responses.create(
        model=model, input="hello there", reasoning={"effort": effort}
    )
    usage = response.usage
    reasoning = usage.output_tokens_details.reasoning_tokens
    visible = -(-len(response.output_text) // 4)
    assert usage.output_tokens == reasoning + visible
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert [item.type for item in response.output] == ["reasoning", "message"]


def test_max_output_tokens_caps_reasoning_and_text_together(openai_client):
    response = openai_client.responses.create(
        model="o4-mini", input="hello there", reasoning={"effort": "low"}, max_output_tokens=70
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 70
    assert response.usage.output_tokens_details.reasoning_tokens == 64
    (message,) = [item for item in response.output if item.type == "message"]
    assert message.status == "incomplete" and len(response.output_text) == 6 * 4


def test_reasoning_can_use_up_the_whole_output_budget(openai_client):
    response = openai_client.responses.create(
        model="o3", input="hello", reasoning={"effort": "medium"}, max_output_tokens=100
    )
    assert response.status == "incomplete"
    assert response.usage.output_tokens == 100
    assert response.usage.output_tokens_details.reasoning_tokens == 100
    assert [item.type for item in response.output] == ["reasoning"]
    assert response.output_text == ""


def test_an_answer_within_the_budget_completes(openai_client):
    response = openai_client.responses.create(
        model="gpt-4o",
        instructions="Convert the US state to its two-letter code.",
        input="Ohio",
        max_output_tokens=16,
    )
    assert response.status == "completed" and response.usage.output_tokens == 1


def test_a_repeated_conversation_prefix_is_served_from_the_cache(openai_client):
    record = "Notes: " + "the customer asked about pricing and onboarding. " * 100  # ~1.3k tokens
    first = openai_client.responses.create(model="gpt-4o", input=record)
    follow_up = openai_client.responses.create(
        model="gpt-4o", previous_response_id=first.id, input="Summarise that."
    )
    cached = follow_up.usage.input_tokens_details.cached_tokens
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert cached >= 1024 and (cached - 1024) % 128 == 0
    assert cached <= follow_up.usage.input_tokens


def test_a_different_prefix_or_model_is_not_cached(openai_client):
    long_text = "word " * 1200
    openai_client.responses.create(model="gpt-4o", input=long_text)
    other_model = openai_client.responses.create(model="gpt-4.1", input=long_text)
    other_start = openai_client.responses.create(model="gpt-4o", input="x" + long_text)
    assert other_model.usage.input_tokens_details.cached_tokens == 0
    assert other_start.usage.input_tokens_details.cached_tokens == 0


def test_a_short_prompt_is_never_cached(openai_client):
    for _ in range(2):
        response = openai_client.responses.create(model="gpt-4o", input="hello")
    assert response.usage.input_tokens_details.cached_tokens == 0
