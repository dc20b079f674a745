"""Every JSON body the simulator returns validates against openapi.yaml and the SDK types."""

from __future__ import annotations

import httpx
import pytest
from openai.types import Model
from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Message, Run
from openai.types.responses import Response

LEAD_QUALIFIER = "asst_demoLeadQualifier0000001"


def _body(simulator, method: str, path: str, json: dict | None = None, key: str | None = None):
    response = httpx.request(
        method,
        f"{simulator.base_url}{path}",
        json=json,
        headers={"Authorization": f"Bearer {key or simulator.api_key}"},
        trust_env=False,
    )
    return response.json()


def _strict(model_class, body: dict):
    """Parse with the SDK's pydantic type and check nothing was left unparsed."""
    parsed = model_class.model_validate(body)
    unknown = set(body) - set(model_class.model_fields)
    assert not unknown, f"{model_class.__name__} has no fields {unknown}"
    return parsed


def test_models_match_the_spec(simulator, spec_validator):
    body = _body(simulator, "GET", "/models")
    spec_validator(body, "ListModelsResponse")
    for item in body["data"]:
        _strict(Model, item)


def test_assistants_match_the_spec(simulator, spec_validator):
    body = _body(simulator, "GET", "/assistants?limit=3")
    spec_validator(body, "ListAssistantsResponse")
    for item in body["data"]:
        spec_validator(item, "AssistantObject")
        _strict(Assistant, item)
    spec_validator(_body(simulator, "GET", f"/assistants/{LEAD_QUALIFIER}"), "AssistantObject")


def test_threads_runs_and_messages_match_the_spec(simulator, spec_validator):
    simulator.configure(latency="fixed:50")
    thread = _body(
        simulator, "POST", "/threads", {"messages": [{"role": "user", "content": "pricing please"}]}
    )
    spec_validator(thread, "ThreadObject")
    _strict(Thread, thread)
    run = _body(
        simulator, "POST", f"/threads/{thread['id']}/runs", {"assistant_id": LEAD_QUALIFIER}
    )
    spec_validator(run, "RunObject")
    _strict(Run, run)
    created = _body(
        simulator,
        "POST",
        "/threads/runs",
        {
            "assistant_id": LEAD_QUALIFIER,
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
        },
    )
    spec_validator(created, "RunObject")
    import time

    time.sleep(0.1)
    finished = _body(simulator, "GET", f"/threads/{thread['id']}/runs/{run['id']}")
    assert finished["status"] == "completed"
    spec_validator(finished, "RunObject")
    _strict(Run, finished)
    messages = _body(simulator, "GET", f"/threads/{thread['id']}/messages")
    spec_validator(messages, "ListMessagesResponse")
    for item in messages["data"]:
        spec_validator(item, "MessageObject")
        _strict(Message, item)


def test_failed_runs_match_the_spec(simulator, spec_validator):
    simulator.configure(faults=[{"path_prefix": "/v1/threads", "run_outcome": "failed"}])
    run = _body(
        simulator,
        "POST",
        "/threads/runs",
        {
            "assistant_id": LEAD_QUALIFIER,
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
        },
    )
    failed = _body(simulator, "GET", f"/threads/{run['thread_id']}/runs/{run['id']}")
    assert failed["status"] == "failed"
    spec_validator(failed, "RunObject")


@pytest.mark.parametrize(
    "request_body",
    [
        {"model": "gpt-4o", "input": "hello", "metadata": {"a": "b"}},
        {"model": "o3", "input": "hello", "reasoning": {"effort": "high"}},
        {
            "model": "gpt-4.1",
            "instructions": "Rate the lead.",
            "input": [{"role": "user", "content": "pricing"}],
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "rating",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "rating": {"type": "string", "enum": ["HOT", "WARM", "COLD"]}
                        },
                        "required": ["rating"],
                        "additionalProperties": False,
                    },
                }
            },
        },
        {"model": "gpt-4o", "input": "hello", "background": True},
        {"model": "gpt-4o", "input": "hello", "max_output_tokens": 16},
        {"model": "o3", "input": "hello", "max_output_tokens": 100},
        {
            "model": "gpt-4o-mini",
            "input": "Use lookup_contact.\nemail: jane@example.com",
            "tools": [
                {
                    "type": "function",
                    "name": "lookup_contact",
                    "parameters": {
                        "type": "object",
                        "properties": {"email": {"type": "string"}},
                        "required": ["email"],
                        "additionalProperties": False,
                    },
                }
            ],
            "tool_choice": "required",
        },
    ],
)
def test_responses_match_the_spec(simulator, spec_validator, request_body):
    body = _body(simulator, "POST", "/responses", request_body)
    spec_validator(body, "Response")
    _strict(Response, body)
    spec_validator(_body(simulator, "GET", f"/responses/{body['id']}"), "Response")


def test_a_continued_round_trip_matches_the_spec(simulator, spec_validator):
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}]
    first = _body(
        simulator, "POST", "/responses", {"model": "gpt-4o", "input": "call f", "tools": tools}
    )
    output = {"type": "function_call_output", "call_id": first["output"][0]["call_id"]}
    second = _body(
        simulator,
        "POST",
        "/responses",
        {
            "model": "gpt-4o",
            "previous_response_id": first["id"],
            "input": [output | {"output": "done"}],
            "tools": tools,
        },
    )
    for body in (first, second):
        spec_validator(body, "Response")
        _strict(Response, body)
    assert second["previous_response_id"] == first["id"]


def test_failed_responses_match_the_spec(simulator, spec_validator):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", "response_outcome": "failed"}])
    body = _body(simulator, "POST", "/responses", {"model": "gpt-4o", "input": "hello"})
    assert body["status"] == "failed"
    spec_validator(body, "Response")


@pytest.mark.parametrize(
    ("method", "path", "json", "key"),
    [
        ("GET", "/models", None, "sk-unknown-000000000000000000000000"),
        ("GET", "/assistants/asst_nope", None, None),
        ("GET", "/assistants?limit=0", None, None),
        ("POST", "/responses", {"model": "gpt-9", "input": "x"}, None),
        ("POST", "/responses", {"model": "o3", "input": "x", "temperature": 1}, None),
        ("POST", "/responses", {"model": "gpt-4o", "input": "x", "temperature": 9}, None),
        (
            "POST",
            "/responses",
            {"model": "gpt-4o", "input": "x", "previous_response_id": "r"},
            None,
        ),
        ("GET", "/nope", None, None),
    ],
)
def test_errors_match_the_spec(simulator, spec_validator, method, path, json, key):
    body = _body(simulator, method, path, json, key)
    spec_validator(body, "ErrorResponse")
    assert set(body["error"]) == {"message", "type", "param", "code"}
