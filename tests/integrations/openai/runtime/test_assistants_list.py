"""Listing the account's assistants: every page, the sunset marker, the brief cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from marketplace.integrations.openai.assistants_list import (
    cached_account_assistants,
    list_account_assistants,
)
from marketplace.integrations.openai.errors import AuthFailed


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def many_assistants(count: int) -> list[dict]:
    return [
        {
            "id": f"asst_bulk{i:019d}",
            "name": f"Bulk {i}",
            "model": "gpt-4o-mini",
            "created_at": 1_740_000_000 + i,
        }
        for i in range(count)
    ]


def test_it_lists_every_page_of_more_than_100_assistants(client, simulator):
    simulator.configure(assistants=many_assistants(130))

    listing = list_account_assistants(client)

    ids = [a.id for a in listing.assistants]
    assert listing.available
    assert len(ids) == 135 == len(set(ids))  # the 130 plus the 5 demo assistants
    assert {f"asst_bulk{i:019d}" for i in range(130)} <= set(ids)
    assert len(simulator.requests(key="demo", path_prefix="/v1/assistants")) == 2  # 100 + 35


def test_assistants_carry_what_the_dropdown_shows(client):
    listing = list_account_assistants(client)

    qualifier = next(a for a in listing.assistants if a.id == "asst_demoLeadQualifier0000001")
    assert qualifier.name == "Lead qualifier"
    assert qualifier.model and qualifier.instructions


def test_after_the_sunset_the_listing_is_unavailable_not_an_error(simulator, sim_keys):
    listing = list_account_assistants(simulator.client(sim_keys.sunset))

    assert not listing.available
    assert listing.assistants == []
    assert "shut down" in listing.reason


def test_a_revoked_key_still_raises(simulator, sim_keys):
    with pytest.raises(AuthFailed):
        list_account_assistants(simulator.client(sim_keys.revoked))


def test_the_listing_is_cached_per_connection_until_refreshed(client, simulator):
    first = cached_account_assistants(client, "conn-1")
    simulator.configure(assistants=many_assistants(3))

    again = cached_account_assistants(client, "conn-1")
    other = cached_account_assistants(client, "conn-2")
    refreshed = cached_account_assistants(client, "conn-1", refresh=True)

    assert again == first and len(first.assistants) == 5
    assert len(other.assistants) == 8 and len(refreshed.assistants) == 8
    assert len(simulator.requests(key="demo", path_prefix="/v1/assistants")) == 3


def test_the_unavailable_marker_is_cached_too(simulator, sim_keys):
    sunset = simulator.client(sim_keys.sunset)

    cached_account_assistants(sunset, "conn-sunset")
    listing = cached_account_assistants(sunset, "conn-sunset")

    assert not listing.available
    assert len(simulator.requests(key="sunset")) == 1
