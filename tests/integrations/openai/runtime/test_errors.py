"""Every error class, produced by the simulator and seen through the real SDK."""

from __future__ import annotations

import logging

import httpx2
import openai
import pytest

from marketplace.integrations.openai.engines import AssistantsEngine, ResponsesEngine, _run_failure
from marketplace.integrations.openai.errors import (
    AssistantError,
    AssistantTimeout,
    AuthFailed,
    BadRequest,
    ErrorKind,
    NotFound,
    QuotaExceeded,
    RateLimited,
    RunFailed,
    ServerError,
    classify,
    redact,
)
from marketplace.integrations.openai.specs import (
    AssistantRequest,
    AssistantSpec,
    FieldType,
    OutputField,
    Overrides,
    parse_structured,
)

from .conftest import STATE_FORMATTER

STATES = AssistantSpec(
    model="gpt-4o-mini", instructions="Turn the US state into its two-letter code."
)
ACCOUNT_STATES = AssistantSpec(openai_assistant_id=STATE_FORMATTER)


def ask(
    client, spec: AssistantSpec = STATES, prompt: str = "california", deadline: float = 10
) -> None:
    engine = AssistantsEngine() if spec.openai_assistant_id else ResponsesEngine()
    engine.run(client, AssistantRequest(spec, prompt), deadline=deadline)


def test_a_revoked_key_is_an_auth_error(simulator, sim_keys):
    with pytest.raises(AuthFailed) as caught:
        ask(simulator.client(sim_keys.revoked))

    assert caught.value.kind == ErrorKind.AUTH and not caught.value.transient
    assert "OpenAI refused the API key" in str(caught.value)


def test_an_account_without_quota_fails_at_once(simulator, sim_keys):
    with pytest.raises(QuotaExceeded) as caught:
        ask(simulator.client(sim_keys.no_quota))

    assert caught.value.kind == ErrorKind.QUOTA and not caught.value.transient
    assert str(caught.value).startswith("Your OpenAI account is out of quota")


def test_error_messages_are_in_the_active_language(simulator, sim_keys):
    from django.utils import translation

    with translation.override("fr"), pytest.raises(QuotaExceeded) as caught:
        ask(simulator.client(sim_keys.no_quota))

    assert str(caught.value).startswith("Votre compte OpenAI n’a plus de quota")


def test_a_429_is_rate_limited_with_the_servers_retry_after(client, simulator):
    simulator.configure(
        faults=[{"path_prefix": "/v1/responses", "error_429": 1.0, "retry_after_ms": 2500}]
    )

    with pytest.raises(RateLimited) as caught:
        ask(client)

    assert caught.value.kind == ErrorKind.RATE_LIMITED and caught.value.transient
    assert caught.value.retry_after == 2.5


def test_a_real_rate_limit_carries_the_limit_headers(simulator, sim_keys):
    simulator.configure(keys=[{"name": "sixty", "rpm": 1}])
    limited = simulator.client(sim_keys.sixty_rpm)
    ask(limited)

    with pytest.raises(RateLimited) as caught:
        ask(limited)

    assert 0 < caught.value.retry_after <= 60
    assert caught.value.rate_limit_headers["x-ratelimit-limit-requests"] == "1"


@pytest.mark.parametrize("fault", ["error_500", "error_503"])
def test_server_errors_are_transient(client, simulator, fault):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", fault: 1.0}])

    with pytest.raises(ServerError) as caught:
        ask(client)

    assert caught.value.kind == ErrorKind.SERVER and caught.value.transient
    assert caught.value.status_code == int(fault[-3:])


def test_a_hanging_server_hits_our_deadline(client, simulator):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", "hang": 1.0}])

    with pytest.raises(AssistantTimeout) as caught:
        ask(client, deadline=1.0)

    assert caught.value.kind == ErrorKind.SERVER and caught.value.transient
    assert [r["status"] for r in simulator.requests(key="demo")] == [0]  # logged as a hang


def test_a_run_past_our_deadline_is_cancelled(client, simulator):
    simulator.configure(latency="fixed:5000")

    with pytest.raises(AssistantTimeout):
        ask(client, ACCOUNT_STATES, deadline=1.0)

    paths = [(r["method"], r["path"]) for r in simulator.requests(key="demo")]
    assert paths[-1][0] == "POST" and paths[-1][1].endswith("/cancel")


def test_a_truncated_body_is_a_server_error(client, simulator):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", "truncated": 1.0}])

    with pytest.raises(ServerError) as caught:
        ask(client)

    assert caught.value.transient
    assert "incomplete answer" in str(caught.value)


@pytest.mark.parametrize(
    ("outcome", "reason", "transient"),
    [
        ("failed", "server_error", True),
        ("incomplete", "max_prompt_tokens", False),
        ("expired", "expired", True),
        ("cancelled", "cancelled", False),
    ],
)
def test_runs_that_end_badly_are_run_failed_with_the_reason(
    client, simulator, outcome, reason, transient
):
    simulator.configure(faults=[{"path_prefix": "/v1/threads", "run_outcome": outcome}])

    with pytest.raises(RunFailed) as caught:
        ask(client, ACCOUNT_STATES)

    assert caught.value.kind == ErrorKind.RUN_FAILED
    assert caught.value.status == outcome
    if outcome != "incomplete":  # the simulator's incomplete reason is its own choice
        assert caught.value.reason == reason
    assert caught.value.transient is transient
    assert str(caught.value).endswith(".") or str(caught.value).endswith("retried.")


def test_a_failed_run_names_its_error_code(client, simulator):
    simulator.configure(
        faults=[
            {
                "path_prefix": "/v1/threads",
                "run_outcome": "failed",
                "run_error_code": "invalid_prompt",
            }
        ]
    )

    with pytest.raises(RunFailed) as caught:
        ask(client, ACCOUNT_STATES)

    assert caught.value.reason == "invalid_prompt" and not caught.value.transient
    assert "invalid_prompt" in str(caught.value)


@pytest.mark.parametrize("outcome", ["failed", "incomplete"])
def test_responses_that_end_badly_are_run_failed(client, simulator, outcome):
    simulator.configure(faults=[{"path_prefix": "/v1/responses", "response_outcome": outcome}])

    with pytest.raises(RunFailed) as caught:
        ask(client)

    assert caught.value.status == outcome
    assert caught.value.reason in ("server_error", "max_output_tokens")


def test_a_run_that_asks_for_a_tool_is_a_clear_error():
    # The simulator has no tools, so requires_action never happens there; the SDK's own
    # Run type carries the status.
    from openai.types.beta.threads import Run

    run = Run.construct(id="run_1", thread_id="thread_1", status="requires_action")

    error = _run_failure(run)

    assert error.status == "requires_action" and not error.transient
    assert "asked to call a tool" in str(error)


def test_an_unknown_assistant_is_not_found(client):
    with pytest.raises(NotFound) as caught:
        ask(client, AssistantSpec(openai_assistant_id="asst_doesNotExist000000000"))

    assert caught.value.kind == ErrorKind.NOT_FOUND and not caught.value.route_missing
    assert "asst_doesNotExist000000000" in str(caught.value)


def test_an_unknown_model_is_not_found(client):
    with pytest.raises(NotFound) as caught:
        ask(client, AssistantSpec(model="gpt-2-turbo"))

    assert caught.value.code == "model_not_found"


def test_the_assistants_api_after_its_sunset_is_not_found(simulator, sim_keys):
    with pytest.raises(NotFound) as caught:
        ask(simulator.client(sim_keys.sunset), ACCOUNT_STATES)

    assert caught.value.route_missing
    assert "shut down" in str(caught.value)


def test_a_refused_parameter_is_a_bad_request_naming_it(client):
    with pytest.raises(BadRequest) as caught:
        ask(client, AssistantSpec(model="text-embedding-3-small"))

    assert caught.value.kind == ErrorKind.BAD_REQUEST and not caught.value.transient
    assert caught.value.param == "model" and "'model'" in str(caught.value)


def test_a_parameter_out_of_range_fails_at_once_saying_what_to_change(client):
    """The simulator refuses what OpenAI refuses (temperature above 2): a configuration
    error, never retried, that tells the builder where to fix it."""
    request = AssistantRequest(
        AssistantSpec(model="gpt-4o-mini", instructions="Rate."),
        "hi",
        overrides=Overrides(temperature=2.5),
    )
    with pytest.raises(BadRequest) as caught:
        ResponsesEngine().run(client, request, deadline=10)

    assert caught.value.kind == ErrorKind.BAD_REQUEST and not caught.value.transient
    assert caught.value.param == "temperature"
    assert "between 0 and 2" in str(caught.value) and "Advanced API parameters" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("CA", "did not answer with JSON"),
        ('["CA"]', "not an object"),
        ('{"state": "CA"}', "field 'score'"),
        ('{"state": "CA", "score": "high", "hot": true}', "'score' is not a valid number"),
        ('{"state": "CA", "score": 3, "hot": "yes"}', "'hot' is not a valid boolean"),
        ('{"state": "XX", "score": 3, "hot": true}', "'state' is not a valid enumeration"),
        ('{"state": "CA", "score": true, "hot": true}', "'score' is not a valid number"),
    ],
)
def test_an_answer_that_breaks_the_output_format_is_run_failed(answer, problem):
    fields = (
        OutputField("state", FieldType.ENUMERATION, choices=("CA", "NY")),
        OutputField("score", FieldType.NUMBER),
        OutputField("hot", FieldType.BOOLEAN),
    )

    with pytest.raises(RunFailed) as caught:
        parse_structured(answer, fields)

    assert caught.value.status == "invalid_output"
    assert problem in str(caught.value)


def test_a_valid_structured_answer_keeps_its_types():
    fields = (OutputField("summary", FieldType.TEXT), OutputField("score", FieldType.NUMBER))

    assert parse_structured('{"summary": "ok", "score": 4, "extra": 1}', fields) == {
        "summary": "ok",
        "score": 4,
    }


def test_classify_reraises_programming_errors():
    with pytest.raises(KeyError):
        classify(KeyError("oops"))
    assert isinstance(classify(ValueError("Expecting value")), ServerError)
    request = httpx2.Request("POST", "https://api.openai.com/v1/responses")
    assert isinstance(classify(openai.APIConnectionError(request=request)), ServerError)


def test_no_error_message_log_line_or_repr_contains_the_api_key(simulator, sim_keys, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[AssistantError] = []
    cases = [
        (k, spec)
        for k in (sim_keys.revoked, sim_keys.no_quota)
        for spec in (STATES, ACCOUNT_STATES)
    ]
    cases.append((sim_keys.sunset, ACCOUNT_STATES))
    for key, spec in cases:
        with pytest.raises(AssistantError) as caught:
            ask(simulator.client(key), spec)
        errors.append(caught.value)
    simulator.configure(faults=[{"error_500": 1.0}])
    with pytest.raises(AssistantError) as caught:
        ask(simulator.client(sim_keys.demo))
    errors.append(caught.value)

    keys = (sim_keys.revoked, sim_keys.no_quota, sim_keys.sunset, sim_keys.demo)
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [str(e.__dict__) for e in errors]
    texts.append(caplog.text)
    for key in keys:
        for text in texts:
            assert key not in text
            assert key[3:20] not in text  # not even a prefix of it


def test_redact_masks_anything_that_looks_like_a_key():
    assert redact("bad key sk-proj-abcdefghijklmnop1234 here") == "bad key sk-…1234 here"
