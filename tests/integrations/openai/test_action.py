"""The "Ask OpenAI assistant" action in-process (the ledger drained in this process):
engines end to end, errors, budgets, structured output and the builder's hooks. The
same scenarios on a real Celery worker are in test_on_celery_workers.py."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from crm.models import Notification, Task
from marketplace.integrations.openai.action import AskOpenAIAssistant
from marketplace.integrations.openai.builder import connection_problem
from marketplace.integrations.openai.models import AssistantBudget, AssistantUsage
from marketplace.models import Connection
from openai_simulator.config import DEMO_NO_QUOTA_KEY, DEMO_REVOKED_KEY
from tests.integrations.openai.conftest import (
    FLAKY_KEY,
    LEAD_QUALIFIER,
    SLOW_KEY,
    ask_then_task,
    chain,
    connect,
    contact,
    drain,
    lead_rater,
    make_workflow,
    rater_branch,
    settle,
    workspace_assistant,
)
from workflows.models import ActionExecution, Enrollment
from workflows.registry import get

pytestmark = pytest.mark.django_db


def test_a_workspace_assistant_answers_through_the_responses_api_and_feeds_a_task(
    acme, admin_user, sim
):
    connect(acme)
    assistant = workspace_assistant(acme)
    make_workflow(acme, ask_then_task(assistant.choice_value))
    contact(acme, first_name="Ann", state="california")
    drain()
    task = Task.objects.get()
    assert task.title == "Code: CA"
    assert task.notes.startswith("Model gpt-4o-mini")
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.outputs["response"] == "CA"
    usage = AssistantUsage.objects.get()
    assert usage.engine == "responses" and usage.input_tokens > 0 and usage.cost_usd > 0
    assert (
        usage.execution_id == execution.pk
        and usage.total_tokens == execution.outputs["total_tokens"]
    )
    assert [r["path"] for r in sim.requests(key="demo")] == ["/v1/responses"]


def test_an_account_assistant_runs_on_assistants_v2(acme, sim):
    connect(acme)
    make_workflow(
        acme,
        ask_then_task(f"acct:{LEAD_QUALIFIER}", prompt="I want pricing and a demo this quarter"),
    )
    contact(acme, first_name="Ann")
    drain()
    assert Task.objects.get().title.startswith("Code: HOT")
    assert AssistantUsage.objects.get(execution__step_id=1).engine == "assistants"
    paths = {r["path"] for r in sim.requests(key="demo")}
    assert "/v1/threads/runs" in paths


def test_structured_output_feeds_an_if_then_branch(acme, sim):
    connect(acme)
    rater = lead_rater(acme)
    graph = rater_branch(rater, hot="Call first: {{ actions.1.reason }}")
    make_workflow(acme, graph)
    contact(acme, first_name="Hot", job_title="We need a quote and pricing, budget approved")
    contact(acme, first_name="Cold", job_title="I am a student just browsing")
    drain()
    titles = sorted(Task.objects.values_list("title", flat=True))
    assert titles[0].startswith("Call first:") and titles[1] == "Later"
    outputs = ActionExecution.objects.filter(step_id=1).values_list("outputs", flat=True)
    assert sorted(o["rating"] for o in outputs) == ["COLD", "HOT"]


def test_the_graph_knows_the_structured_outputs_of_the_chosen_assistant(acme, sim):
    connect(acme)
    rater = lead_rater(acme)
    action = get("ask_openai_assistant")
    names = [o.name for o in action.outputs_for({"assistant": rater.choice_value}, acme)]
    assert names == ["response", "model", "total_tokens", "rating", "reason"]
    with pytest.raises(ValidationError, match="no such output"):
        make_workflow(
            acme,
            chain(
                {
                    "type": "ask_openai_assistant",
                    "config": {"assistant": rater.choice_value, "prompt": "x"},
                },
                {"type": "create_task", "config": {"title": "{{ actions.1.score }}"}},
            ),
        )


def test_a_revoked_key_flags_the_connection_and_fails_the_run(acme, admin_user, sim):
    connection = connect(acme, DEMO_REVOKED_KEY)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="texas")
    drain()
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "failed" and "refused the API key" in execution.error
    connection.refresh_from_db()
    assert connection.status == "needs_attention"
    assert not Task.objects.exists()


def test_an_exhausted_quota_fails_at_once_and_tells_the_admins_once(acme, admin_user, sim):
    connect(acme, DEMO_NO_QUOTA_KEY)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="texas")
    contact(acme, first_name="Bob", state="ohio")
    drain()
    executions = ActionExecution.objects.filter(step_id=1)
    assert {e.status for e in executions} == {"failed"}
    assert all(e.attempt == 1 and "out of quota" in e.error for e in executions)
    assert Notification.objects.filter(idempotency_key__startswith="openai-quota:").count() == 1


@pytest.mark.parametrize("fault", [{"error_500": 1.0}, {"error_429": 1.0, "retry_after_ms": 50}])
def test_a_transient_error_is_retried_then_succeeds(acme, sim, fault):
    connect(acme, FLAKY_KEY)
    sim.configure(faults=[{"path_prefix": "/v1/responses", "key": "flaky", "times": 2, **fault}])
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="new york")
    settle()
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "succeeded" and execution.attempt == 3
    assert Task.objects.get().title == "Code: NY"
    assert [r["status"] for r in sim.requests(key="flaky")] == [
        *(2 * [fault.get("error_429") and 429 or 500]),
        200,
    ]


def test_a_hanging_openai_hits_our_deadline_and_is_retried(acme, sim):
    connect(acme, SLOW_KEY)
    sim.configure(faults=[{"path_prefix": "/v1/responses", "key": "slow", "hang": 1.0, "times": 1}])
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="ohio")
    settle()
    execution = ActionExecution.objects.get(step_id=1)
    assert execution.status == "succeeded" and execution.attempt == 2
    assert Task.objects.get().title == "Code: OH"


def test_no_connection_fails_with_an_actionable_message(acme, sim):
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="ohio")
    drain()
    assert "OpenAI app is not connected" in ActionExecution.objects.get(step_id=1).error


def test_a_model_no_longer_allowed_fails_naming_the_workflow(acme, sim):
    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    Connection.objects.filter(pk=connection.pk).update(allowed_models=["gpt-4.1"])
    contact(acme, first_name="Ann", state="ohio")
    drain()
    error = ActionExecution.objects.get(step_id=1).error
    assert "gpt-4o-mini" in error and "Test workflow" in error
    assert sim.requests(key="demo") == []


def test_the_token_budget_stops_calls_at_the_cap_and_raising_it_resumes(acme, admin_user, sim):
    """A hard cap: a call whose estimate does not fit is not made (test_caps.py and
    test_budget_reservations.py: the reservations themselves)."""
    from workflows.services import executions_replay

    connection = connect(acme)
    workflow = make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    AssistantBudget.objects.create(
        account=acme, connection=connection, unit="tokens", monthly_limit=1
    )
    for first_name, state in (("Ann", "ohio"), ("Bob", "utah"), ("Cy", "iowa")):
        contact(acme, first_name=first_name, state=state)
    drain()
    failed = ActionExecution.objects.filter(step_id=1, status="failed")
    assert failed.count() == 3 and all("Monthly AI budget reached" in e.error for e in failed)
    assert sim.requests(key="demo", path_prefix="/v1/responses") == []  # no call made
    assert Notification.objects.filter(idempotency_key__startswith="openai-budget:").count() == 1
    AssistantBudget.objects.filter(connection=connection).update(monthly_limit=1_000_000)
    assert executions_replay(workflow=workflow) == 3
    drain()
    assert Enrollment.objects.filter(status="completed").count() == 3


def test_review_problems_name_what_the_builder_must_fix(acme, sim):
    action = AskOpenAIAssistant()
    assistant = workspace_assistant(acme)
    config = {"assistant": assistant.choice_value, "prompt": "x"}
    assert connection_problem(acme) == "OpenAI is not connected to this account."
    assert action.review_problems(config, acme) == []
    connect(acme, allowed=["gpt-4.1"])
    assert connection_problem(acme) is None
    assistant.archived_at = assistant.created_at
    assistant.save()
    problems = action.review_problems(config, acme)
    assert any("archived" in p for p in problems) and any("gpt-4o-mini" in p for p in problems)


def test_temperature_is_validated(acme, sim):
    connect(acme)
    action = AskOpenAIAssistant()
    value = workspace_assistant(acme).choice_value
    with pytest.raises(ValidationError):
        action.validate_config(
            {"assistant": value, "prompt": "x", "temperature": "2.5"},
            account=acme,
            object_type="contact",
        )
    clean = action.validate_config(
        {"assistant": value, "prompt": "x", "temperature": "0.3"},
        account=acme,
        object_type="contact",
    )
    assert clean["temperature"] == "0.3"


def test_a_batch_of_ask_steps_makes_its_calls_at_once_and_each_ends_on_its_own(acme, sim, settings):
    from django.utils import timezone

    from workflows.engine import runner

    settings.OPENAI_ASSISTANT_DEADLINE_SECONDS = 30
    sim.configure(latency="fixed:2000")
    connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    retired = workspace_assistant(acme, name="Retired formatter")
    make_workflow(acme, ask_then_task(retired.choice_value))
    for name, state in [("Ann", "ohio"), ("Bob", "utah"), ("Cy", "iowa"), ("Dee", "texas")]:
        contact(acme, first_name=name, state=state)
    retired.archived_at = timezone.now()
    retired.save()
    first = ActionExecution.objects.filter(step_id=1).earliest("pk")

    # One wake-up for one Ask step: the worker fills its batch with the other due ones.
    results = runner.executions_run(execution_ids=[first.pk], queue="assistant", steal=True)

    assert sorted(results.values()) == 4 * ["failed"] + 4 * ["succeeded"]
    failed = ActionExecution.objects.filter(step_id=1, status="failed")
    assert all("archived or deleted" in e.error for e in failed)
    calls = sim.requests(key="demo", path_prefix="/v1/responses")
    assert len(calls) == 4
    # Made at once: every call reached OpenAI before the first one was answered.
    last_sent = max(c["time"] - c["duration_ms"] / 1000 for c in calls)
    first_answered = min(c["time"] for c in calls)
    assert last_sent < first_answered  # not a speed target: the calls overlap
    drain()
    assert sorted(Task.objects.values_list("title", flat=True)) == [
        "Code: IA",
        "Code: OH",
        "Code: TX",
        "Code: UT",
    ]
    assert AssistantUsage.objects.count() == 4


def _key_learned(connection, *, rpm: int, remaining: int) -> None:
    """The shared limiter has learned the key's limit from an answer (as after a call)."""
    from marketplace.integrations.openai import assistants as assistants_mod
    from marketplace.integrations.openai.limiter.policy import limiter

    limiter().record_response(
        assistants_mod.connection_key(connection),
        "gpt-4o-mini",
        {
            "x-ratelimit-limit-requests": str(rpm),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-limit-tokens": "1000000",
            "x-ratelimit-remaining-tokens": "1000000",
        },
    )


def test_a_step_whose_slot_is_far_goes_back_to_pending_a_little_before_it(acme, sim, settings):
    from django.utils import timezone

    from workflows.engine import runner

    settings.OPENAI_IN_CALL_WAIT_SECONDS = 4
    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="ohio")
    # A key allowed 1 request a minute, spent: the next slot is a minute away.
    _key_learned(connection, rpm=1, remaining=0)
    execution = ActionExecution.objects.get(step_id=1)

    before = timezone.now()
    assert runner.execution_run(execution_id=execution.pk) == "postponed"

    execution.refresh_from_db()
    assert execution.status == "pending" and execution.attempt == 0
    assert execution.attempts[-1]["kind"] == "rate_limited"
    # Back half an in-call wait before the slot (~61.5 s: the window and its margin), to
    # be promised the slot and wait for it in a call thread; no request was sent.
    waited = (execution.due_at - before).total_seconds()
    assert 61.5 - 2 - 1 < waited <= 61.5 - 2 + 0.5
    assert sim.requests(key="demo") == []


def test_steps_whose_slots_are_near_wait_for_them_in_place(acme, sim, settings):
    from workflows.engine import runner

    settings.OPENAI_IN_CALL_WAIT_SECONDS = 4
    settings.OPENAI_ASSISTANT_DEADLINE_SECONDS = 10
    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    for name, state in [("Ann", "ohio"), ("Bob", "utah"), ("Cy", "iowa")]:
        contact(acme, first_name=name, state=state)
    # 600 RPM, paced: at most 10 requests a second, and this second's 10 are spent.
    _key_learned(connection, rpm=600, remaining=590)
    first = ActionExecution.objects.filter(step_id=1).earliest("pk")

    results = runner.executions_run(execution_ids=[first.pk], queue="assistant", steal=True)

    # Refused at first, each was promised a slot a second away and waited for it: no
    # step went back to pending.
    assert sorted(results.values()) == 3 * ["succeeded"]
    assert all(
        not any(a["kind"] == "rate_limited" for a in e.attempts)
        for e in ActionExecution.objects.filter(step_id=1)
    )
    assert len(sim.requests(key="demo", path_prefix="/v1/responses")) == 3


def _window_spent_before_any_answer(connection) -> None:
    """The key's first calls are out and nothing is learned yet: the default limit (60
    requests a window) is spent, so the next call is refused for about a minute."""
    from marketplace.integrations.openai import assistants as assistants_mod
    from marketplace.integrations.openai.limiter.policy import limiter

    for _ in range(60):
        assert limiter().acquire(assistants_mod.connection_key(connection), "gpt-4o-mini", 1)


def test_steps_refused_before_the_limits_are_learned_ask_again_in_place(acme, sim, settings):
    import threading

    from workflows.engine import runner

    settings.OPENAI_IN_CALL_WAIT_SECONDS = 6
    settings.OPENAI_ASSISTANT_DEADLINE_SECONDS = 10
    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    for name, state in [("Ann", "ohio"), ("Bob", "utah")]:
        contact(acme, first_name=name, state=state)
    _window_spent_before_any_answer(connection)
    first = ActionExecution.objects.filter(step_id=1).earliest("pk")
    # The first calls' answers arrive a moment later and teach the key's real limit.
    answers = threading.Timer(
        1.5, _key_learned, [connection], {"rpm": 100_000, "remaining": 99_900}
    )
    answers.start()

    results = runner.executions_run(execution_ids=[first.pk], queue="assistant", steal=True)
    answers.join()

    # Refused at first, both asked again from their call threads once the limits were
    # known: neither went back to pending to be claimed again.
    assert sorted(results.values()) == 2 * ["succeeded"]
    assert all(
        not any(a["kind"] == "rate_limited" for a in e.attempts)
        for e in ActionExecution.objects.filter(step_id=1)
    )
    assert len(sim.requests(key="demo", path_prefix="/v1/responses")) == 2


def test_a_step_refused_while_nothing_is_learned_goes_back_to_pending_after_its_wait(
    acme, sim, settings
):
    from workflows.engine import runner

    settings.OPENAI_IN_CALL_WAIT_SECONDS = 2.5
    connection = connect(acme)
    make_workflow(acme, ask_then_task(workspace_assistant(acme).choice_value))
    contact(acme, first_name="Ann", state="ohio")
    _window_spent_before_any_answer(connection)
    execution = ActionExecution.objects.get(step_id=1)

    assert runner.execution_run(execution_id=execution.pk) == "postponed"

    # No answer taught anything within its in-call wait: back to pending, soon due
    # (the limits are a guess until an answer comes), and nothing was sent.
    execution.refresh_from_db()
    assert execution.status == "pending" and execution.attempts[-1]["kind"] == "rate_limited"
    assert execution.attempts[-1]["wait_seconds"] <= 2.0
    assert sim.requests(key="demo") == []


def test_a_connections_calls_take_turns_over_clients_with_their_own_http_pools(acme, sim):
    from marketplace.integrations.openai.client import CLIENT_SHARDS, connection_client

    connection = connect(acme)
    clients = [connection_client(connection) for _ in range(2 * CLIENT_SHARDS)]

    # One pool holding all of a worker's calls costs CPU per request (httpcore walks it).
    assert CLIENT_SHARDS > 1
    assert len({id(client._client) for client in clients}) == CLIENT_SHARDS
    assert clients[:CLIENT_SHARDS] == clients[CLIENT_SHARDS:]
    # A reconnect with another key gets clients of its own.
    reconnected = connect(acme, FLAKY_KEY)
    assert not {id(connection_client(reconnected)) for _ in range(CLIENT_SHARDS)} & {
        id(client) for client in clients
    }
