"""Fixtures for the seed's use cases end to end: the OpenAI simulator (one per session,
reset per test), a real Celery worker pointed at it, a roomy browser page, and the
fault mix the issue asks for."""

from __future__ import annotations

import pytest

from tests.accessibility import audited_context, close_checked
from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)
from tests.integrations.openai.conftest import sim, simulator_session  # noqa: F401  (fixtures)

# Short engine timings for the worker subprocess (a retry is due in well under a second).
FAST = {
    "WORKFLOWS_SWEEP_SECONDS": "1",
    "WORKFLOWS_RESEND_AFTER_SECONDS": "2",
    "WORKFLOWS_BACKOFF_SECONDS": "0.5",
    "OPENAI_ASSISTANT_DEADLINE_SECONDS": "20",
}

# 20 % 429s and 5 % 500s on the model endpoint. The first call is refused with a 429 and
# the second with a 500 so that every run shows both kinds of retry in its history,
# whatever the random draw; the rest is the random mix.
FAULTS = [
    {"path_prefix": "/v1/responses", "error_429": 1.0, "times": 1, "retry_after_ms": 300},
    {"path_prefix": "/v1/responses", "error_500": 1.0, "times": 1},
    {"path_prefix": "/v1/responses", "error_429": 0.2, "error_500": 0.05, "retry_after_ms": 300},
]


@pytest.fixture(params=["clean", "faults"])
def openai_mode(request, sim):  # noqa: F811  (the fixture)
    """Run the use case against a healthy simulator, then one that injects faults."""
    if request.param == "faults":
        sim.configure(faults=FAULTS)
    return request.param


@pytest.fixture
def worker(celery_worker, sim, openai_mode):  # noqa: F811  (fixtures)
    # Enough attempts that a run of random faults after the two forced ones still ends well.
    extra = {"WORKFLOWS_MAX_ATTEMPTS": "10"} if openai_mode == "faults" else {}
    return celery_worker(beat=True, env={**FAST, **extra, "OPENAI_BASE_URL": sim.base_url})


@pytest.fixture
def wide_page(browser, live_server):
    context = audited_context(
        browser, base_url=live_server.url, locale="en-US", viewport={"width": 1440, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(30_000)  # a shared, loaded machine
    yield page
    close_checked(context)  # fails on serious/critical axe-core violations
