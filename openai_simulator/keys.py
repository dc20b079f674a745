"""API keys: who is calling, and what that key is allowed to see."""

from __future__ import annotations

from .config import KeySpec
from .errors import incorrect_api_key, insufficient_quota, missing_api_key, missing_scope


class KeyRegistry:
    """Looks keys up by their secret; updated at run time through the admin endpoint."""

    def __init__(self, keys: list[KeySpec]) -> None:
        self._by_secret: dict[str, KeySpec] = {}
        for spec in keys:
            self.upsert(spec)

    def upsert(self, spec: KeySpec, *, replacing: KeySpec | None = None) -> None:
        if replacing is not None and replacing.key != spec.key:
            self._by_secret.pop(replacing.key, None)
        self._by_secret[spec.key] = spec

    def by_name_or_secret(self, value: str) -> KeySpec | None:
        if value in self._by_secret:
            return self._by_secret[value]
        return next((k for k in self._by_secret.values() if k.name == value), None)

    def all(self) -> list[KeySpec]:
        return list(self._by_secret.values())

    def authenticate(self, authorization: str | None, scope: str) -> KeySpec:
        """Return the calling key or raise the ApiError OpenAI would answer with.

        Order matters and follows the real API: no key, unknown/revoked key, missing
        scope, exhausted quota.
        """
        if not authorization:
            raise missing_api_key()
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise missing_api_key()
        spec = self._by_secret.get(secret)
        if spec is None or spec.kind == "revoked":
            raise incorrect_api_key(secret)
        if spec.kind == "missing_scopes" and (
            spec.missing_scopes is None or scope in spec.missing_scopes
        ):
            raise missing_scope(scope)
        if spec.kind == "no_quota":
            raise insufficient_quota()
        return spec


def can_see_model(spec: KeySpec, model_id: str) -> bool:
    return spec.models is None or "*" in spec.models or model_id in spec.models


def can_see_assistant(spec: KeySpec, assistant_id: str) -> bool:
    return spec.assistants is None or "*" in spec.assistants or assistant_id in spec.assistants


def key_headers(spec: KeySpec) -> dict[str, str]:
    headers = {}
    if spec.organization:
        headers["openai-organization"] = spec.organization
    if spec.project:
        headers["openai-project"] = spec.project
    return headers
