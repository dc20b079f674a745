"""The OpenAI account's own assistants (Assistants v2), for the assistant dropdown.

OpenAI shut the Assistants API down on 26 Aug 2026: a 404 "Invalid URL" or a 410 on
the listing means "this account has no account assistants any more", which is not an
error for the user — the group is hidden and admins are told once (by the caller).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .errors import NotFound, classify

if TYPE_CHECKING:
    # Imported where it is used: the SDK costs a process ~30 MB and ~1 s to load, and
    # the web, beat and default workers never call OpenAI.
    import openai

CACHE_SECONDS = 60
_LIST_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class AccountAssistant:
    id: str
    name: str
    model: str
    instructions: str = ""
    description: str = ""
    created_at: int = 0


@dataclass(frozen=True)
class AccountAssistants:
    available: bool  # False: the Assistants API is gone for this account
    assistants: list[AccountAssistant] = field(default_factory=list)
    reason: str = ""  # why unavailable, a sentence for admins


UNAVAILABLE_REASON = (
    "OpenAI no longer serves the Assistants API for this account (it was shut down on "
    "26 Aug 2026), so its account assistants are hidden. Workspace assistants still work."
)


def list_account_assistants(client: openai.OpenAI) -> AccountAssistants:
    """Every assistant of the account, all pages. Raises AssistantError for anything
    other than the API being gone (e.g. AuthFailed for a revoked key)."""
    import openai

    try:
        page = client.with_options(timeout=_LIST_TIMEOUT_S, max_retries=0).beta.assistants.list(
            limit=100
        )
        assistants = [
            AccountAssistant(
                id=a.id,
                name=a.name or a.id,
                model=a.model,
                instructions=a.instructions or "",
                description=a.description or "",
                created_at=a.created_at,
            )
            for a in page  # the SDK follows `after` cursors through every page
        ]
    except (openai.OpenAIError, ValueError) as exc:
        error = classify(exc)
        if isinstance(error, NotFound):
            return AccountAssistants(available=False, reason=UNAVAILABLE_REASON)
        raise error from None
    return AccountAssistants(available=True, assistants=assistants)


def _cache_key(connection_key: str) -> str:
    return f"openai:account-assistants:{connection_key}"


def cached_account_assistants(
    client: openai.OpenAI, connection_key: str, *, refresh: bool = False, ttl: int = CACHE_SECONDS
) -> AccountAssistants:
    """`list_account_assistants`, kept briefly per connection (Django cache);
    `refresh=True` is the dropdown's refresh button. Errors are not cached."""
    from django.core.cache import cache

    if not refresh:
        cached = cached_listing(connection_key)
        if cached is not None:
            return cached
    listing = list_account_assistants(client)
    cache.set(_cache_key(connection_key), asdict(listing), ttl)
    return listing


def cached_listing(connection_key: str) -> AccountAssistants | None:
    """The listing kept in the cache, if any: no request to OpenAI (a page that only
    names assistants must not wait for one)."""
    from django.core.cache import cache

    cached = cache.get(_cache_key(connection_key))
    if cached is None:
        return None
    return AccountAssistants(
        available=cached["available"],
        assistants=[AccountAssistant(**a) for a in cached["assistants"]],
        reason=cached["reason"],
    )
