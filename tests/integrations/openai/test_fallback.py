"""The Ask step's fallback model, each trigger through the simulator (real SDK, real
HTTP): the chosen model answers 404, keeps failing with 5xx until the attempts run
out, or is rate limited for longer than the setting; the run detail says so."""

from __future__ import annotations

import pytest

from crm.models import Task
from marketplace.integrations.openai.models import AssistantUsage
from tests.integrations.openai.conftest import (
    ask_then_task,
    connect,
    contact,
    make_workflow,
    settle,
    workspace_assistant,
)
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = "sk-demo-crmflow-0000000000000000000000000000"


def run_one(acme, **config) -> ActionExecution:
    connect(acme)
    assistant = workspace_assistant(acme)
    make_workflow(
        acme,
        ask_then_task(
            assistant.choice_value,
            **{"model": "gpt-4.1", "fallback_model": "gpt-4o-mini", **config},
        ),
    )
    contact(acme, first_name="Ann", state="texas")
    settle(timeout=60)
    return ActionExecution.objects.get(step_id=1)


def models_sent(sim) -> list[str]:
    return [r["model"] for r in sim.requests(path_prefix="/v1/responses")]


def test_a_model_that_is_gone_runs_the_step_on_the_fallback(acme, sim):
    sim.configure(keys=[{"key": DEMO, "models": ["gpt-4o-mini"]}])  # gpt-4.1: 404
    step = run_one(acme)
    assert step.status == "succeeded"
    assert step.outputs["model"].startswith("gpt-4o-mini")
    assert step.outputs["fallback_note"] == (
        "Ran on gpt-4o-mini instead of gpt-4.1: the model was not found or is deprecated."
    )
    assert models_sent(sim) == ["gpt-4.1", "gpt-4o-mini"]
    assert Task.objects.get().title == "Code: TX"
    assert AssistantUsage.objects.get().model.startswith("gpt-4o-mini")


def test_server_errors_go_to_the_fallback_once_the_attempts_run_out(acme, sim, settings):
    settings.OPENAI_FALLBACK_AFTER_ATTEMPTS = 3
    sim.configure(faults=[{"path_prefix": "/v1/responses", "error_500": 1.0, "times": 3}])
    step = run_one(acme)
    assert step.status == "succeeded" and step.attempt == 3
    assert models_sent(sim) == ["gpt-4.1", "gpt-4.1", "gpt-4.1", "gpt-4o-mini"]
    assert "kept failing with server errors (3 attempts)" in step.outputs["fallback_note"]


def test_a_long_rate_limit_goes_to_the_fallback_a_short_one_is_waited(acme, sim, settings):
    settings.OPENAI_FALLBACK_RATE_LIMIT_SECONDS = 30
    sim.configure(
        faults=[
            {
                "path_prefix": "/v1/responses",
                "error_429": 1.0,
                "times": 1,
                "retry_after_ms": 120_000,
            }
        ]
    )
    step = run_one(acme)
    assert step.status == "succeeded"
    assert models_sent(sim) == ["gpt-4.1", "gpt-4o-mini"]
    assert "its rate limit asked to wait 120 s" in step.outputs["fallback_note"]


def test_a_short_rate_limit_is_retried_on_the_chosen_model(acme, sim, settings):
    settings.OPENAI_FALLBACK_RATE_LIMIT_SECONDS = 30
    sim.configure(
        faults=[
            {"path_prefix": "/v1/responses", "error_429": 1.0, "times": 1, "retry_after_ms": 100}
        ]
    )
    step = run_one(acme)
    assert step.status == "succeeded" and "fallback_note" not in step.outputs
    assert models_sent(sim) == ["gpt-4.1", "gpt-4.1"]


def test_without_a_fallback_a_missing_model_fails_the_step(acme, sim):
    sim.configure(keys=[{"key": DEMO, "models": ["gpt-4o-mini"]}])
    step = run_one(acme, fallback_model="")
    assert step.status == "failed" and "gpt-4.1" in step.error


def test_the_fallback_model_is_one_of_the_models_allowed_for_workflows(acme, sim):
    from django.core.exceptions import ValidationError

    from workflows.registry import get

    connect(acme, allowed=["gpt-4.1", "gpt-4o-mini"])
    assistant = workspace_assistant(acme)
    action = get("ask_openai_assistant")
    config = {"assistant": assistant.choice_value, "prompt": "x", "fallback_model": "gpt-4o"}
    with pytest.raises(ValidationError, match="“gpt-4o” is not allowed for workflows"):
        action.validate_config(config, account=acme, object_type="contact")
    clean = action.validate_config(
        {**config, "fallback_model": "gpt-4o-mini"}, account=acme, object_type="contact"
    )
    assert clean["fallback_model"] == "gpt-4o-mini"
    form = action.builder_form(clean, account=acme, object_type="contact")
    assert form.fields["fallback_model"].label == "Fallback model"
    assert "fallback_model" in form.advanced_fields
