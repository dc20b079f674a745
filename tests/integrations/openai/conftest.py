"""Tests of the OpenAI integration (marketplace/integrations/openai): here the app and
the "Ask OpenAI assistant" action through the ledger, the views and real Celery
workers; in runtime/ the engines, errors, rate limiter, prices and the account
assistants' listing on their own (with fixtures of their own).

These fixtures (other test folders use them too): one simulator per session (reset
before each test, crmflow pointed at it), connections of each key kind, workflows.

OpenAI is faked only by the simulator over real HTTP, so the real SDK runs; nothing of
ours is mocked.
"""

from __future__ import annotations

import os
import warnings

import pytest
import redis
from django.core.cache import cache
from django.utils import timezone

from marketplace.encryption import secret_encrypt, secret_fingerprint, secret_mask
from marketplace.integrations.openai.models import WorkspaceAssistant
from marketplace.models import Connection
from openai_simulator.config import DEMO_KEY, DEMO_NO_QUOTA_KEY, DEMO_REVOKED_KEY
from openai_simulator.testing import running_simulator
from tests.workflows.conftest import chain, contact, drain, make_workflow  # noqa: F401
from workflows import services

FLAKY_KEY = "sk-test-asst-flaky-000000000000000000000000flaky"
SLOW_KEY = "sk-test-asst-hangs-000000000000000000000000hangs"
SIXTY_KEY = "sk-test-asst-sixty-000000000000000000000000sixty"
SUNSET_KEY = "sk-test-asst-sunset-00000000000000000000000sunset"
MODELS = [
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
]

SIMULATOR_CONFIG = {
    "seed": 7,
    "hang_seconds": 4,  # longer than our deadline in these tests (2 s)
    "keys": [
        {"key": DEMO_KEY, "name": "demo", "rpm": 100_000, "tpm": 100_000_000},
        {"key": DEMO_REVOKED_KEY, "name": "revoked", "kind": "revoked"},
        {"key": DEMO_NO_QUOTA_KEY, "name": "no-quota", "kind": "no_quota"},
        {"key": FLAKY_KEY, "name": "flaky", "rpm": 100_000, "tpm": 100_000_000},
        {"key": SLOW_KEY, "name": "slow", "rpm": 100_000, "tpm": 100_000_000},
        {"key": SIXTY_KEY, "name": "sixty", "rpm": 60, "tpm": 10_000_000},
        {"key": SUNSET_KEY, "name": "sunset", "sunset": True},
    ],
}

LEAD_QUALIFIER = "asst_demoLeadQualifier0000001"
STATE_FORMATTER = "asst_demoStateFormatter00002"


@pytest.fixture(scope="session")
def simulator_session():
    with running_simulator(SIMULATOR_CONFIG) as running:
        yield running


def limiter_forget() -> None:
    """Drop the shared limiter's state and the budgets' counters (connection and budget
    ids repeat between tests)."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    with client:
        for pattern in ("crmflow:openai:rl:*", "crmflow:openai:budget:*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)


@pytest.fixture
def sim(simulator_session, settings):
    simulator_session.reset()
    settings.OPENAI_BASE_URL = simulator_session.base_url
    settings.OPENAI_TIMEOUT = 5.0
    settings.OPENAI_ASSISTANT_DEADLINE_SECONDS = 2.0
    settings.WORKFLOWS_BACKOFF_SECONDS = 0.2
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    limiter_forget()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield simulator_session


def connect(account, key: str = DEMO_KEY, *, allowed=None) -> Connection:
    """An installed OpenAI connection with `key` (as connection_install stores it)."""
    connection, _created = Connection.objects.update_or_create(
        account=account,
        app="openai",
        defaults={
            "encrypted_secret": secret_encrypt(key),
            "secret_mask": secret_mask(key),
            "secret_fingerprint": secret_fingerprint(key),
            "status": "connected",
            "available_models": MODELS,
            "allowed_models": allowed,
            "connected_at": timezone.now(),
        },
    )
    return connection


def workspace_assistant(account, **fields) -> WorkspaceAssistant:
    fields.setdefault("name", "State formatter")
    fields.setdefault("model", "gpt-4o-mini")
    fields.setdefault("instructions", "Turn the US state name into its two-letter state code.")
    return WorkspaceAssistant.objects.create(account=account, **fields)


def lead_rater(account) -> WorkspaceAssistant:
    return workspace_assistant(
        account,
        name="Lead rater",
        instructions="Rate the lead: HOT, WARM or COLD.",
        output_format="structured",
        output_fields=[
            {"name": "rating", "type": "enumeration", "options": ["HOT", "WARM", "COLD"]},
            {"name": "reason", "type": "text", "options": []},
        ],
    )


def ask_then_task(assistant_value: str, prompt: str = "{{ object.state }}", **extra) -> dict:
    return chain(
        {
            "type": "ask_openai_assistant",
            "config": {"assistant": assistant_value, "prompt": prompt, **extra},
        },
        {
            "type": "create_task",
            "config": {
                "title": "Code: {{ actions.1.response }}",
                "notes": "Model {{ actions.1.model }}",
            },
        },
    )


def rater_branch(
    rater: WorkspaceAssistant, *, hot: str = "Call first", other: str | None = "Later"
) -> dict:
    """Ask the Lead rater about the job title, then branch on its "rating": HOT → a task
    titled `hot`, anything else → a task titled `other` (None: nothing)."""
    steps: dict = {
        "1": {
            "type": "ask_openai_assistant",
            "next": 2,
            "config": {"assistant": rater.choice_value, "prompt": "{{ object.job_title }}"},
        },
        "2": {
            "type": "branch",
            "config": {
                "paths": [
                    {
                        "name": "Hot",
                        "next": 3,
                        "groups": [
                            [{"output": "1.rating", "operator": "eq_any", "values": ["HOT"]}]
                        ],
                    }
                ],
                "none_next": 4 if other is not None else None,
            },
        },
        "3": {"type": "create_task", "config": {"title": hot}},
    }
    if other is not None:
        steps["4"] = {"type": "create_task", "config": {"title": other}}
    return {"start": 1, "steps": steps}


@pytest.fixture
def workflow_factory():
    def make(account, graph, **extra):
        return make_workflow(account, graph, **extra)

    return make


__all__ = ["services"]


def settle(timeout: float = 30) -> None:
    """Run the ledger in this process until nothing is pending, making retries and
    postponed rows due at once (what worker + sweeper do, without the waits)."""
    import time

    from workflows.engine import runner
    from workflows.models import ActionExecution

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = ActionExecution.objects.filter(status="pending")
        if not pending.exists():
            return
        pending.update(due_at=timezone.now())
        for pk in list(ActionExecution.objects.due().values_list("pk", flat=True)):
            runner.execution_run(execution_id=pk)
        time.sleep(0.05)
    raise AssertionError("the ledger did not settle")
