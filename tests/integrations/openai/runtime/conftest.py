"""OpenAI runtime tests: one simulator per session (reset before each test) and a rate
limiter on the test Redis with its own key prefix.

OpenAI is faked only by the simulator over real HTTP, so the real `openai` SDK runs.
"""

from __future__ import annotations

import uuid
import warnings
from types import SimpleNamespace

import pytest
from django.conf import settings

from marketplace.integrations.openai.limiter.window import RateLimiter
from openai_simulator.config import DEMO_KEY, DEMO_NO_QUOTA_KEY, DEMO_REVOKED_KEY
from openai_simulator.testing import running_simulator

SIXTY_RPM_KEY = "sk-test-sixtyrpm-00000000000000000000000060rpm"
SUNSET_KEY = "sk-test-rtsunset-0000000000000000000000000sunset"

KEYS = SimpleNamespace(
    demo=DEMO_KEY,
    revoked=DEMO_REVOKED_KEY,
    no_quota=DEMO_NO_QUOTA_KEY,
    sixty_rpm=SIXTY_RPM_KEY,
    sunset=SUNSET_KEY,
)

CONFIG = {
    "seed": 11,
    "hang_seconds": 3,  # a "hang" holds a request this long; our deadlines are shorter
    "keys": [
        {"key": DEMO_KEY, "name": "demo", "rpm": 100_000, "tpm": 100_000_000},
        {"key": DEMO_REVOKED_KEY, "name": "revoked", "kind": "revoked"},
        {"key": DEMO_NO_QUOTA_KEY, "name": "no-quota", "kind": "no_quota"},
        {"key": SIXTY_RPM_KEY, "name": "sixty", "rpm": 60, "tpm": 1_000_000},
        {"key": SUNSET_KEY, "name": "sunset", "sunset": True},
    ],
}

LEAD_QUALIFIER = "asst_demoLeadQualifier0000001"
STATE_FORMATTER = "asst_demoStateFormatter00002"


@pytest.fixture(scope="session")
def simulator():
    with running_simulator(CONFIG) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_simulator(request):
    if "simulator" in request.fixturenames:
        request.getfixturevalue("simulator").reset()
    # The SDK marks the Assistants API deprecated; using it is the point of these tests.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture
def sim_keys() -> SimpleNamespace:
    return KEYS


@pytest.fixture
def client(simulator):
    return simulator.client(DEMO_KEY)


@pytest.fixture
def limiter_factory():
    """RateLimiters on the test Redis, each under a fresh prefix, removed afterwards."""
    made: list[RateLimiter] = []

    def make(**kwargs) -> RateLimiter:
        kwargs.setdefault("prefix", f"test:oairt:{uuid.uuid4().hex}")
        limiter = RateLimiter.from_url(settings.REDIS_URL, **kwargs)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        for key in limiter.redis.scan_iter(match=f"{limiter.prefix}:*"):
            limiter.redis.delete(key)
        limiter.redis.close()
