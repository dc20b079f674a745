"""One simulator per test session, reset before every test.

Every key a test needs is in the start config, so `reset()` gives each test the same
known state (fresh rate windows, no faults, empty log, seeded RNGs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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


REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT.parent / "shared/openai-openapi/openapi.yaml"


def _nullable_to_anyof(node):
    """OpenAPI 3.0's `nullable: true` (still used in parts of this 3.1 spec) as JSON Schema."""
    if isinstance(node, list):
        return [_nullable_to_anyof(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_anyof(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="session")
def spec_validator():
    if not SPEC_PATH.exists():
        pytest.skip(
            f"OpenAPI spec not found at {SPEC_PATH} (it lives in the shared folder next to the repo)"
        )
    import jsonschema

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open(encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=loader)
    components = _nullable_to_anyof(spec["components"])

    def validate(body: dict, schema_name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
        jsonschema.Draft202012Validator(schema).validate(body)

    return validate
