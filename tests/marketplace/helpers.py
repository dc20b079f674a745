"""Keys of each kind the simulator knows, and small request helpers."""

from __future__ import annotations

from django.test import Client

from openai_simulator.config import (
    DEMO_KEY,
    DEMO_MISSING_SCOPES_KEY,
    DEMO_NO_QUOTA_KEY,
    DEMO_REVOKED_KEY,
)

VALID_KEY = DEMO_KEY
REVOKED_KEY = DEMO_REVOKED_KEY
MISSING_SCOPES_KEY = DEMO_MISSING_SCOPES_KEY
NO_QUOTA_KEY = DEMO_NO_QUOTA_KEY
SECOND_KEY = "sk-proj-second-key-for-reconnecting-00000000abcd"
UNKNOWN_KEY = "sk-proj-this-key-does-not-exist-anywhere-000000zzzz"

ORGANIZATION = "org-crmflowdemo000000000000"
PROJECT = "proj_crmflowdemo0000000000"

SIMULATOR_CONFIG = {
    "keys": [
        {"key": VALID_KEY, "name": "demo"},
        {"key": REVOKED_KEY, "name": "revoked", "kind": "revoked"},
        {"key": MISSING_SCOPES_KEY, "name": "missing-scopes", "kind": "missing_scopes"},
        {"key": NO_QUOTA_KEY, "name": "no-quota", "kind": "no_quota"},
        {
            "key": SECOND_KEY,
            "name": "second",
            "organization": "org-secondorg0000000000000",
            "project": "proj_second000000000000000",
        },
    ],
    "hang_seconds": 5,
}

TEXT_MODELS = [
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-5",
    "gpt-5-mini",
    "o3",
    "o4-mini",
]


def htmx(client: Client) -> Client:
    client.defaults["HTTP_HX_REQUEST"] = "true"
    return client
