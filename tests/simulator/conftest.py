"""One simulator per test session, reset before every test.

Every key a test needs is in the start config, so `reset()` gives each test the same
known state (fresh rate windows, no faults, empty log, seeded RNGs).
"""

from __future__ import annotations

import pytest

from openai_simulator.config import (
    DEMO_KEY,
    DEMO_MISSING_SCOPES_KEY,
    DEMO_NO_QUOTA_KEY,
    DEMO_REVOKED_KEY,
)
from openai_simulator.testing import running_simulator

LIMITED_KEY = "sk-test-limited-0000000000000000000000000005"
TOKEN_LIMITED_KEY = "sk-test-tokens-00000000000000000000000000050"
NARROW_KEY = "sk-test-narrow-000000000000000000000000000nar"
SUNSET_KEY = "sk-test-sunset-000000000000000000000000000sun"

TEST_CONFIG = {
    "seed": 7,
    "hang_seconds": 3,
    "keys": [
        {"key": DEMO_KEY, "name": "demo", "rpm": 100_000, "tpm": 100_000_000},
        {"key": DEMO_REVOKED_KEY, "name": "revoked", "kind": "revoked"},
        {"key": DEMO_MISSING_SCOPES_KEY, "name": "missing-scopes", "kind": "missing_scopes"},
        {"key": DEMO_NO_QUOTA_KEY, "name": "no-quota", "kind": "no_quota"},
        {"key": LIMITED_KEY, "name": "limited", "rpm": 5, "organization": "org-limited"},
        {"key": TOKEN_LIMITED_KEY, "name": "token-limited", "tpm": 50},
        {
            "key": NARROW_KEY,
            "name": "narrow",
            "models": ["gpt-4o-mini"],
            "assistants": ["asst_demoLeadQualifier0000001"],
            "organization": "org-narrow",
            "project": "proj_narrow",
        },
        {"key": SUNSET_KEY, "name": "sunset", "sunset": True},
    ],
}


@pytest.fixture(scope="session")
def simulator():
    with running_simulator(TEST_CONFIG) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_simulator(request):
    if "simulator" in request.fixturenames:
        request.getfixturevalue("simulator").reset()


@pytest.fixture
def openai_client(simulator):
    return simulator.client(DEMO_KEY)


@pytest.fixture
def keys():
    """The test keys by role (imported through a fixture: test modules must not import
    conftest, which other conftest.py files in the project would shadow)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        demo=DEMO_KEY,
        revoked=DEMO_REVOKED_KEY,
        missing_scopes=DEMO_MISSING_SCOPES_KEY,
        no_quota=DEMO_NO_QUOTA_KEY,
        limited=LIMITED_KEY,
        token_limited=TOKEN_LIMITED_KEY,
        narrow=NARROW_KEY,
        sunset=SUNSET_KEY,
    )
