import time

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LEAD_QUALIFIER = "asst_demoLeadQualifier0000001"
STATE_FORMATTER = "asst_demoStateFormatter00002"
EMAIL_DRAFTER = "asst_demoEmailDrafter0000003"


def _thread(text):
    return {"messages": [{"role": "user", "content": text}]}


def test_a_run_completes_with_an_assistant_message(openai_client):
    run = openai_client.beta.threads.create_and_run_poll(
        assistant_id=STATE_FORMATTER, thread=_thread("california")
    )
    assert run.status == "completed"
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens > 0
    messages = openai_client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id)
    (message,) = messages.data
    assert message.role == "assistant"
    assert message.run_id == run.id
    assert message.assistant_id == STATE_FORMATTER
    assert message.content[0].text.value == "CA"
    assert message.content[0].text.annotations == []


def test_a_run_moves_from_queued_to_completed_over_the_latency(simulator, openai_client):
    simulator.configure(latency="fixed:600")
    raw = openai_client.beta.threads.with_raw_response.create_and_run(
        assistant_id=LEAD_QUALIFIER, thread=_thread("pricing?")
    )
    run = raw.parse()
    assert run.status == "queued"
    assert run.usage is None
    assert 10 <= int(raw.headers["openai-poll-after-ms"]) <= 1000
    seen = set()
    deadline = time.monotonic() + 5
    while run.status not in ("completed", "failed") and time.monotonic() < deadline:
        raw = openai_client.beta.threads.runs.with_raw_response.retrieve(
            run.id, thread_id=run.thread_id
        )
        assert "openai-poll-after-ms" in raw.headers
        run = raw.parse()
        seen.add(run.status)
        if run.status != "completed":
            assert run.usage is None
        time.sleep(0.05)
    assert run.status == "completed"
    assert "in_progress" in seen
    assert run.usage is not None and run.completed_at is not None


def test_the_lead_qualifier_rates_a_buyer_hot(openai_client):
    run = openai_client.beta.threads.create_and_run_poll(
        assistant_id=LEAD_QUALIFIER,
        thread=_thread("We have budget and need pricing and a demo this quarter."),
    )
    answer = (
        openai_client.beta.threads.messages.list(thread_id=run.thread_id)
        .data[0]
        .content[0]
        .text.value
    )
    assert answer.startswith("HOT")


def test_the_email_drafter_uses_the_names_in_the_prompt(openai_client):
    run = openai_client.beta.threads.create_and_run_poll(
        assistant_id=EMAIL_DRAFTER,
        thread=_thread("First name: Jane\nCompany: Acme Corp\nOwner: Bob Martin"),
    )
    answer = (
        openai_client.beta.threads.messages.list(thread_id=run.thread_id)
        .data[0]
        .content[0]
        .text.value
    )
    assert "Hi Jane," in answer and answer.rstrip().endswith("Bob Martin") and "Acme Corp" in answer


def test_a_run_on_an_existing_thread_answers_the_latest_message(openai_client):
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "New York"}])
    run = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=STATE_FORMATTER
    )
    openai_client.beta.threads.messages.create(thread_id=thread.id, role="user", content="tex.")
    second = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=STATE_FORMATTER
    )
    messages = openai_client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    assert [m.content[0].text.value for m in messages] == ["New York", "NY", "tex.", "TX"]
    assert [m.run_id for m in messages] == [None, run.id, None, second.id]


def test_messages_paginate_with_limit_and_after(openai_client):
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{n}"} for n in range(5)]
    )
    first = openai_client.beta.threads.messages.list(thread_id=thread.id, order="asc", limit=2)
    assert [m.content[0].text.value for m in first.data] == ["m0", "m1"] and first.has_more
    rest = openai_client.beta.threads.messages.list(
        thread_id=thread.id, order="asc", after=first.data[-1].id
    )
    assert [m.content[0].text.value for m in rest.data] == ["m2", "m3", "m4"] and not rest.has_more


def test_a_run_can_be_cancelled(simulator, openai_client):
    simulator.configure(latency="fixed:5000")
    run = openai_client.beta.threads.create_and_run(
        assistant_id=LEAD_QUALIFIER, thread=_thread("hello there friend")
    )
    cancelling = openai_client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    assert cancelling.status == "cancelling"
    assert (
        openai_client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status
        == "cancelled"
    )


def test_a_second_run_on_a_busy_thread_is_refused(simulator, openai_client):
    simulator.configure(latency="fixed:5000")
    run = openai_client.beta.threads.create_and_run(
        assistant_id=LEAD_QUALIFIER, thread=_thread("hello")
    )
    with pytest.raises(openai.BadRequestError, match="already has an active run"):
        openai_client.beta.threads.runs.create(thread_id=run.thread_id, assistant_id=LEAD_QUALIFIER)


@pytest.mark.parametrize("code", ["server_error", "rate_limit_exceeded", "invalid_prompt"])
def test_a_run_can_be_made_to_fail(simulator, openai_client, code):
    simulator.configure(
        faults=[{"path_prefix": "/v1/threads", "run_outcome": "failed", "run_error_code": code}]
    )
    run = openai_client.beta.threads.create_and_run_poll(
        assistant_id=LEAD_QUALIFIER, thread=_thread("hello")
    )
    assert run.status == "failed"
    assert run.last_error.code == code
    assert run.last_error.message
    assert run.failed_at is not None
    assert (
        openai_client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data == []
    )


def test_a_run_can_end_incomplete_or_expired(simulator, openai_client):
    simulator.configure(
        faults=[
            {"path_prefix": "/v1/threads", "run_outcome": "incomplete", "times": 1},
            {"path_prefix": "/v1/threads", "run_outcome": "expired", "times": 1},
        ]
    )
    incomplete = openai_client.beta.threads.create_and_run_poll(
        assistant_id=LEAD_QUALIFIER, thread=_thread("hello")
    )
    assert incomplete.status == "incomplete"
    assert incomplete.incomplete_details.reason == "max_completion_tokens"
    expired = openai_client.beta.threads.create_and_run_poll(
        assistant_id=LEAD_QUALIFIER, thread=_thread("hello")
    )
    assert expired.status == "expired"
    normal = openai_client.beta.threads.create_and_run_poll(
        assistant_id=LEAD_QUALIFIER, thread=_thread("hello")
    )
    assert normal.status == "completed"


def test_a_run_refuses_temperature_on_a_reasoning_model(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.beta.threads.create_and_run(
            assistant_id="asst_demoReasoningHelper0005", thread=_thread("hi"), temperature=0.3
        )
    assert caught.value.code == "unsupported_parameter"


def test_an_unknown_thread_is_not_found(openai_client):
    with pytest.raises(openai.NotFoundError):
        openai_client.beta.threads.messages.list(thread_id="thread_nope")
