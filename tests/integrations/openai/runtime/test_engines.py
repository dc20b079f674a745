"""Both engines end to end against the simulator, through the real SDK."""

from __future__ import annotations

import time

import pytest

from marketplace.integrations.openai.engines import AssistantsEngine, ResponsesEngine, engine_for
from marketplace.integrations.openai.specs import (
    AssistantRequest,
    AssistantSpec,
    FieldType,
    OutputField,
    Overrides,
    is_reasoning_model,
)

from .conftest import LEAD_QUALIFIER, STATE_FORMATTER

LEAD_FIELDS = (
    OutputField("rating", FieldType.ENUMERATION, choices=("HOT", "WARM", "COLD")),
    OutputField("reason", FieldType.TEXT),
    OutputField("score", FieldType.NUMBER),
    OutputField("qualified", FieldType.BOOLEAN),
)
LEAD_RATER = AssistantSpec(
    name="Lead rater",
    model="gpt-4o-mini",
    instructions="Rate the lead as HOT, WARM or COLD and give a reason.",
    temperature=0.2,
    output_fields=LEAD_FIELDS,
)


def test_responses_engine_parses_structured_output_into_typed_fields(client):
    request = AssistantRequest(
        LEAD_RATER, "We need pricing and a demo this quarter.", metadata={"workflow": "7"}
    )

    result = ResponsesEngine().run(client, request, deadline=10)

    assert result.structured["rating"] == "HOT"
    assert isinstance(result.structured["reason"], str) and result.structured["reason"]
    assert isinstance(result.structured["score"], float | int)
    assert result.structured["qualified"] is True
    assert result.model == "gpt-4o-mini"
    assert result.engine == "responses" and result.response_id.startswith("resp_")
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.rate_limit_headers["x-ratelimit-limit-requests"] == "100000"


def test_responses_engine_answers_plain_text(client):
    spec = AssistantSpec(
        model="gpt-4.1-mini", instructions="Turn the US state into its two-letter code."
    )

    result = ResponsesEngine().run(client, AssistantRequest(spec, "california"), deadline=10)

    assert result.text == "CA"
    assert result.structured is None


def test_reasoning_model_gets_effort_and_no_temperature(client, simulator):
    spec = AssistantSpec(
        model="o4-mini",
        instructions="Summarise the record.",
        temperature=0.7,
        reasoning_effort="low",
    )
    request = AssistantRequest(spec, "name: Jane\ncompany: Acme")

    params = ResponsesEngine().build_params(request)
    result = ResponsesEngine().run(client, request, deadline=10)

    assert "temperature" not in params and params["reasoning"] == {"effort": "low"}
    # The simulator refuses temperature on reasoning models with a 400: this answered.
    assert result.model == "o4-mini"
    assert result.usage.reasoning_tokens == 64  # the simulator's "low" effort
    assert simulator.requests(key="demo")[-1]["status"] == 200


def test_effort_is_dropped_for_models_that_do_not_reason(client):
    spec = AssistantSpec(
        model="gpt-4o-mini", instructions="Summarise.", temperature=1.1, reasoning_effort="high"
    )

    params = ResponsesEngine().build_params(AssistantRequest(spec, "hello"))
    result = ResponsesEngine().run(client, AssistantRequest(spec, "hello"), deadline=10)

    assert params["temperature"] == 1.1 and "reasoning" not in params
    assert result.usage.reasoning_tokens == 0


def test_model_override_is_the_model_used(client, simulator):
    request = AssistantRequest(
        LEAD_RATER,
        "Just browsing.",
        overrides=Overrides(model="gpt-5-mini", reasoning_effort="minimal"),
    )

    result = ResponsesEngine().run(client, request, deadline=10)

    assert result.model == "gpt-5-mini"
    assert result.usage.reasoning_tokens == 16
    assert result.structured["rating"] in ("HOT", "WARM", "COLD")
    assert simulator.requests(key="demo")[-1]["model"] == "gpt-5-mini"


def test_assistants_engine_runs_an_account_assistant(client, simulator):
    request = AssistantRequest(AssistantSpec(openai_assistant_id=STATE_FORMATTER), "New York")

    result = engine_for(request).run(client, request, deadline=10)

    assert isinstance(engine_for(request), AssistantsEngine)
    assert result.text == "NY"
    assert result.engine == "assistants"
    assert result.run_id.startswith("run_") and result.thread_id.startswith("thread_")
    assert result.model == "gpt-4.1-mini"  # the assistant's own model
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.http_requests == len(simulator.requests(key="demo"))
    assert "x-ratelimit-remaining-requests" in result.rate_limit_headers


def test_assistants_engine_waits_for_a_slow_run(client, simulator):
    simulator.configure(latency="fixed:400")
    request = AssistantRequest(AssistantSpec(openai_assistant_id=STATE_FORMATTER), "tex.")

    result = AssistantsEngine().run(client, request, deadline=10)

    assert result.text == "TX"
    assert result.http_requests >= 3  # create, at least one poll, messages


def test_assistants_engine_structured_output_and_model_override(client):
    spec = AssistantSpec(
        name="Lead rater", openai_assistant_id=LEAD_QUALIFIER, output_fields=LEAD_FIELDS
    )
    request = AssistantRequest(
        spec, "Can you send a quote? Budget approved.", overrides=Overrides(model="gpt-4.1")
    )

    result = AssistantsEngine().run(client, request, deadline=10)

    assert result.model == "gpt-4.1"
    assert result.structured["rating"] == "HOT"
    assert isinstance(result.structured["qualified"], bool)


def test_assistants_engine_sends_effort_only_to_reasoning_models(client):
    spec = AssistantSpec(openai_assistant_id=LEAD_QUALIFIER, model="gpt-4o-mini")
    reasoning = AssistantRequest(
        spec, "hi", overrides=Overrides(model="o3", reasoning_effort="high", temperature=0.5)
    )
    plain = AssistantRequest(
        spec, "hi", overrides=Overrides(temperature=0.5, reasoning_effort="high")
    )

    assert AssistantsEngine().build_params(reasoning)["reasoning_effort"] == "high"
    assert "temperature" not in AssistantsEngine().build_params(reasoning)
    assert AssistantsEngine().build_params(plain)["temperature"] == 0.5
    assert "reasoning_effort" not in AssistantsEngine().build_params(plain)
    # Through the SDK against the simulator, which refuses what OpenAI refuses: the
    # effort goes on a run of a thread made first, never on create-and-run.
    result = AssistantsEngine().run(client, reasoning, deadline=10)
    assert result.model == "o3" and result.http_requests >= 3


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("o1", True),
        ("o3", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-mini-2025-08-07", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o", False),
        ("gpt-4.1-mini", False),
        ("omni-moderation-latest", False),
        ("", False),
    ],
)
def test_it_knows_which_models_reason(model, reasoning):
    assert is_reasoning_model(model) is reasoning


def ours(simulator, settings):
    """crmflow's own client (client.py): its httpx hook tells the limiter each request."""
    from marketplace.integrations.openai.client import openai_client
    from openai_simulator.config import DEMO_KEY

    settings.OPENAI_BASE_URL = simulator.base_url
    return openai_client(DEMO_KEY)


def test_an_assistants_call_counts_every_request_it_makes_against_the_limit(
    simulator, limiter_factory, settings
):
    from marketplace.integrations.openai.limiter.policy import sending

    client = ours(simulator, settings)
    simulator.configure(latency="fixed:2500")  # create, two polls, another, messages
    limiter = limiter_factory(default_requests=100)
    request = AssistantRequest(AssistantSpec(openai_assistant_id=STATE_FORMATTER), "tex.")
    permit = limiter.acquire("conn", "assistant", 10, requests=3)

    with sending(limiter, permit, deadline=time.monotonic() + 20):
        result = AssistantsEngine().run(client, request, deadline=20)

    assert result.http_requests == len(simulator.requests(key="demo")) > 3
    # The requests beyond the 3 the permit took each took a permit of their own.
    assert limiter.state("conn").connection.requests_used == result.http_requests


def test_an_assistants_call_never_polls_past_the_limit(simulator, limiter_factory, settings):
    from marketplace.integrations.openai.errors import AssistantError
    from marketplace.integrations.openai.limiter.policy import sending

    client = ours(simulator, settings)
    simulator.configure(latency="fixed:2500")
    limiter = limiter_factory(default_requests=3)  # a key with room for 3 requests a minute
    request = AssistantRequest(AssistantSpec(openai_assistant_id=STATE_FORMATTER), "tex.")
    permit = limiter.acquire("conn", "assistant", 10, requests=3)

    with (
        pytest.raises(AssistantError) as raised,
        sending(limiter, permit, deadline=time.monotonic() + 8),
    ):
        AssistantsEngine().run(client, request, deadline=8)

    # The 4th request had no permit before our deadline: not sent, the call is retried
    # later; the cancel is not sent either (no permit for it).
    assert raised.value.transient
    assert len(simulator.requests(key="demo")) == 3
