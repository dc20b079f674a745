"""Responses state: background lifecycles, stored conversations, cancelled runs."""

from __future__ import annotations

import time

import openai
import pytest

STATE_RULE = "Convert the US state to its two-letter code. Answer with the code only."


def _wait_until_done(client, response, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    seen = [response.status]
    while response.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.02)
        response = client.responses.retrieve(response.id)
        seen.append(response.status)
    return response, seen


def test_a_background_response_is_queued_even_at_zero_latency(openai_client):
    response = openai_client.responses.create(model="gpt-4o", input="hello", background=True)
    assert response.status == "queued"
    assert response.output == [] and response.usage is None
    done, _ = _wait_until_done(openai_client, response)
    assert done.status == "completed" and done.output_text


def test_a_background_response_goes_queued_in_progress_completed(simulator, openai_client):
    simulator.configure(latency="fixed:500")
    response = openai_client.responses.create(model="o4-mini", input="hello", background=True)
    done, seen = _wait_until_done(openai_client, response)
    assert seen[0] == "queued" and "in_progress" in seen and seen[-1] == "completed"
    assert seen.index("in_progress") > 0
    assert done.usage.output_tokens > 0


def test_a_cancelled_background_response_stays_cancelled(simulator, openai_client):
    simulator.configure(latency="fixed:5000")
    response = openai_client.responses.create(model="gpt-4o", input="hello", background=True)
    cancelled = openai_client.responses.cancel(response.id)
    assert cancelled.status == "cancelled" and cancelled.output == []
    assert openai_client.responses.retrieve(response.id).status == "cancelled"


def test_a_run_cancelled_while_queued_never_started(simulator, openai_client):
    simulator.configure(latency="fixed:5000")
    with pytest.warns(DeprecationWarning):
        run = openai_client.beta.threads.create_and_run(
            assistant_id="asst_demoLeadQualifier0000001",
            thread={"messages": [{"role": "user", "content": "hello"}]},
        )
        cancelling = openai_client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
        cancelled = openai_client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert cancelling.started_at is None
    assert cancelled.status == "cancelled" and cancelled.started_at is None
    assert cancelled.cancelled_at is not None


def test_previous_response_id_continues_the_stored_conversation(openai_client):
    first = openai_client.responses.create(model="gpt-4o", instructions=STATE_RULE, input="Ohio")
    second = openai_client.responses.create(
        model="gpt-4o",
        instructions=STATE_RULE,  # instructions are not carried over: sent again
        previous_response_id=first.id,
        input="and New Mexico?",
    )
    assert (first.output_text, second.output_text) == ("OH", "NM")
    assert second.previous_response_id == first.id
    # The second round reads (and bills) the whole conversation.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens


def test_an_unknown_previous_response_is_a_bad_request(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(
            model="gpt-4o", input="hi", previous_response_id="resp_000000000000000000000000"
        )
    assert caught.value.param == "previous_response_id"
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.body["message"] == (
        "Previous response with id 'resp_000000000000000000000000' not found."
    )


def test_an_unstored_response_cannot_be_continued(openai_client):
    unstored = openai_client.responses.create(model="gpt-4o", input="hello", store=False)
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(
            model="gpt-4o", input="again", previous_response_id=unstored.id
        )
    assert caught.value.code == "previous_response_not_found"


def test_another_keys_response_cannot_be_continued(simulator, openai_client, keys):
    mine = openai_client.responses.create(model="gpt-4o-mini", input="hello")
    with pytest.raises(openai.BadRequestError):
        simulator.client(keys.narrow).responses.create(
            model="gpt-4o-mini", input="again", previous_response_id=mine.id
        )
