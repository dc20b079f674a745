"""Per-step hard caps of the Ask step: max input characters (the prompt is cut with a
note the run detail shows) and max output tokens (sent to OpenAI; an answer that
reaches it fails the step with the reason)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace.integrations.openai.builder import config_form
from marketplace.integrations.openai.models import AssistantUsage
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    contact,
    drain,
    make_workflow,
    workspace_assistant,
)
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db

FILLER = " and more words about the state" * 40  # ~1,250 characters


def test_a_long_prompt_is_cut_to_the_max_input_characters_and_the_run_detail_says_so(
    acme, sim, admin_client
):
    connect(acme)
    assistant = workspace_assistant(acme)
    prompt = "{{ object.state }}" + FILLER
    capped = make_workflow(
        acme, ask_then_task(assistant.choice_value, prompt=prompt, max_input_chars=200)
    )
    contact(acme, first_name="Ann", state="california")
    drain()

    execution = ActionExecution.objects.get(step_id=1, enrollment__workflow=capped)
    cut = len("california" + FILLER) - 200
    assert execution.outputs["input_note"] == (
        f"The prompt was cut to the step's 200 characters: {cut} left out."
    )
    capped_tokens = AssistantUsage.objects.get(execution=execution).input_tokens

    capped.is_enabled = False
    capped.save()
    uncapped = make_workflow(acme, ask_then_task(assistant.choice_value, prompt=prompt))
    contact(acme, first_name="Bob", state="california")
    drain()
    full = ActionExecution.objects.get(step_id=1, enrollment__workflow=uncapped)
    assert "input_note" not in full.outputs
    full_tokens = AssistantUsage.objects.get(execution=full).input_tokens
    # The simulator counts ceil(characters / 4): ~1,060 characters fewer were sent.
    assert full_tokens - capped_tokens > 200

    enrollment = Enrollment.objects.get(workflow=capped)
    page = admin_client.get(reverse("history:run", args=[capped.pk, enrollment.pk]))
    text = page.content.decode()
    assert "Prompt cut" in text
    assert f"The prompt was cut to the step&#x27;s 200 characters: {cut} left out." in text


def test_max_output_tokens_is_sent_and_an_answer_reaching_it_fails_with_the_reason(acme, sim):
    connect(acme)
    reasoner = workspace_assistant(acme, name="Researcher", model="o4-mini")
    workflow = make_workflow(acme, ask_then_task(reasoner.choice_value, max_output_tokens=16))
    contact(acme, first_name="Ann", state="texas")
    drain()

    execution = ActionExecution.objects.get(step_id=1, enrollment__workflow=workflow)
    assert execution.status == "failed"
    assert "max_output_tokens" in execution.error
    assert not AssistantUsage.objects.exists()


def test_a_short_answer_under_the_cap_succeeds(acme, sim):
    connect(acme)
    assistant = workspace_assistant(acme)
    make_workflow(acme, ask_then_task(assistant.choice_value, max_output_tokens=16))
    contact(acme, first_name="Ann", state="texas")
    drain()
    assert ActionExecution.objects.get(step_id=1).outputs["response"] == "TX"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_output_tokens", "5", "Ensure this value is greater than or equal to 16."),
        ("max_input_chars", "10", "Ensure this value is greater than or equal to 100."),
        ("max_input_chars", "lots", "Enter a whole number."),
    ],
)
def test_the_caps_are_checked_when_the_step_is_saved(acme, sim, field, value, message):
    connect(acme)
    assistant = workspace_assistant(acme)
    form = config_form({}, account=acme)
    form = type(form)(
        data={"assistant": assistant.choice_value, "prompt": "x", field: value},
    )
    assert not form.is_valid()
    assert form.errors[field] == [message]
