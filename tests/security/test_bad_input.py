"""Input that used to answer 500 now answers 4xx with a message: ids that are no ids,
numbers beyond 64 bits, bodies over the upload limit, CSV files over the row limit."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crm.ids import IdConverter, parse_id
from crm.models import ApiToken
from marketplace.integrations.openai.models import ModelPrice
from tests.crm.test_import import upload
from tests.integrations.openai.conftest import connect
from tests.workflows.conftest import chain, make_workflow

pytestmark = pytest.mark.django_db

NOT_IDS = ["abc", "²", "١٢", "-1", "1.5", "99999999999999999999999", ""]


def test_parse_id_takes_ascii_ids_that_fit_64_bits_only():
    assert [parse_id(value) for value in NOT_IDS] == [None] * len(NOT_IDS)
    assert parse_id(" 42 ") == 42
    assert parse_id("9" * 18) == int("9" * 18)


def _patterns(resolver: URLResolver):
    for entry in resolver.url_patterns:
        # The API's ids are bounded by its schema (Path(le=MAX_ID)): a 422, tested below.
        if isinstance(entry, URLResolver) and str(entry.pattern) != "api/v1/":
            yield from _patterns(entry)
        elif isinstance(entry, URLPattern):
            yield entry


def test_no_url_takes_unbounded_integers():
    """Every numeric segment uses `<id:…>`, which stops at 64 bits; `<int:…>` does not."""
    unbounded = [
        str(pattern.pattern)
        for pattern in _patterns(get_resolver())
        if any(
            type(converter).__name__ == "IntConverter"
            for converter in getattr(pattern.pattern, "converters", {}).values()
        )
    ]
    assert unbounded == []
    assert any(
        isinstance(converter, IdConverter)
        for pattern in _patterns(get_resolver())
        for converter in getattr(pattern.pattern, "converters", {}).values()
    )


def test_ids_beyond_64_bits_in_urls_are_404(admin_client, acme):
    workflow = make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    huge = "9" * 25
    for url in (
        f"/objects/contacts/{huge}/",
        f"/workflows/{huge}/",
        f"/workflows/{huge}/history/",
        f"/workflows/{workflow.pk}/history/runs/{huge}/",
        f"/settings/forms/{2**63}/",
    ):
        assert admin_client.get(url).status_code == 404, url


def test_api_ids_beyond_64_bits_are_refused(acme, admin_user):
    _row, token = ApiToken.issue(account=acme, name="Site", created_by=admin_user)
    response = Client().get(
        f"/api/v1/objects/contacts/{'9' * 25}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("token_id", NOT_IDS)
def test_revoking_a_token_with_a_malformed_id_is_404(admin_client, acme, admin_user, token_id):
    token, _plaintext = ApiToken.issue(account=acme, name="Site", created_by=admin_user)
    response = admin_client.post(reverse("intake:api_tokens"), {"revoke": "1", "token": token_id})
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("price_id", NOT_IDS)
def test_deleting_a_price_with_a_malformed_id_says_so(admin_client, acme, price_id):
    connect(acme)
    ModelPrice.objects.create(
        account=acme, model="gpt-4o-mini", input=1, cached_input=1, output=1, as_of="2026-01-01"
    )
    response = admin_client.post(
        reverse("marketplace:openai_usage"), {"delete_price": price_id}, follow=True
    )
    assert response.status_code == 200
    assert "This price is already gone: reload the page." in response.content.decode()
    assert ModelPrice.objects.filter(account=acme).count() == 1


def test_a_replay_of_an_enrollment_beyond_64_bits_selects_nothing(builder_client, acme):
    workflow = make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    url = reverse("history:replay", args=[workflow.pk])
    for value in ("9" * 25, "²", "abc"):
        response = builder_client.get(f"{url}?enrollment={value}")
        assert response.status_code == 200
        response = builder_client.post(url, {"enrollment": value, "replay": "1"})
        assert response.status_code in (200, 302)


def test_an_api_body_over_the_upload_limit_is_413_with_a_message(acme, admin_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    _row, token = ApiToken.issue(account=acme, name="Site", created_by=admin_user)
    body = json.dumps({"properties": {"notes": "x" * (2 * 1024 * 1024)}})
    response = Client().post(
        "/api/v1/objects/contacts",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "The request body is over 1 MB; send less data per request."
    )


def test_a_csv_over_the_row_limit_is_refused_while_counting(admin_client, settings):
    """The file is refused at the first row over the limit (the benchmark
    benchmarks/csv_import_memory.py measures the memory of 5 million rows)."""
    content = b"email\n" + b"x\n" * 200_001
    response = upload(admin_client, content)
    assert response.status_code == 200
    assert "The file has more than 200000 rows, the limit." in response.content.decode()
