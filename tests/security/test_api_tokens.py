"""API tokens: scopes, expiry, last use, revocation when the creator loses the role,
and the API's rate limit (429 with Retry-After)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm.models import ApiToken, Role, User
from tests.crm.test_api import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def issue(account, user, **extra) -> tuple[ApiToken, ApiClient]:
    row, plaintext = ApiToken.issue(account=account, name="Site", created_by=user, **extra)
    return row, ApiClient(plaintext)


def test_a_token_of_a_deactivated_admin_gets_401_and_is_revoked(acme, admin_user):
    row, api = issue(acme, admin_user)
    assert api.get("/properties/contacts").status_code == 200
    admin_user.is_active = False
    admin_user.save()
    assert api.get("/properties/contacts").status_code == 401
    row.refresh_from_db()
    assert row.is_revoked
    # Reactivating the admin does not bring the token back.
    admin_user.is_active = True
    admin_user.save()
    assert api.get("/properties/contacts").status_code == 401


def test_a_token_of_a_demoted_admin_gets_401(acme, admin_user):
    row, api = issue(acme, admin_user)
    admin_user.role = Role.WORKFLOW_BUILDER
    admin_user.save()
    assert api.get("/properties/contacts").status_code == 401
    row.refresh_from_db()
    assert row.is_revoked


def test_the_role_is_checked_even_when_changed_without_save(acme, admin_user):
    _row, api = issue(acme, admin_user)
    User.objects.filter(pk=admin_user.pk).update(is_active=False)
    assert api.get("/properties/contacts").status_code == 401


def test_other_users_changes_leave_the_token_alone(acme, admin_user, rep_user):
    _row, api = issue(acme, admin_user)
    rep_user.is_active = False
    rep_user.save()
    admin_user.first_name = "Alexandra"
    admin_user.save()
    assert api.get("/properties/contacts").status_code == 200


def test_an_expired_token_gets_401(acme, admin_user):
    row, api = issue(acme, admin_user, expires_at=timezone.now() + dt.timedelta(days=1))
    assert api.get("/properties/contacts").status_code == 200
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert api.get("/properties/contacts").status_code == 401


def test_a_read_only_token_reads_and_searches_but_cannot_write(acme, admin_user):
    _row, api = issue(acme, admin_user, scope=ApiToken.Scope.READ)
    assert api.get("/properties/contacts").status_code == 200
    assert api.post("/objects/contacts/search", {"filters": []}).status_code == 200
    response = api.post("/objects/contacts", {"properties": {"email": "ana@example.com"}})
    assert response.status_code == 403
    assert "This token is read-only." in response.json()["detail"]


def test_use_is_recorded(acme, admin_user):
    row, api = issue(acme, admin_user)
    assert row.last_used_at is None
    api.get("/properties/contacts")
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_over_the_rate_limit_the_api_answers_429_with_retry_after(acme, admin_user, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    _row, api = issue(acme, admin_user)
    statuses = [api.get("/properties/contacts").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get("/properties/contacts")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert "the limit is 3 a minute" in response.json()["detail"]
    # Another token has its own count.
    _other, other_api = issue(acme, admin_user)
    assert other_api.get("/properties/contacts").status_code == 200


def test_guessing_tokens_is_rate_limited_per_address(db, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    guesser = ApiClient("crm_guess")
    statuses = [guesser.get("/properties/contacts").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_the_settings_page_creates_a_scoped_expiring_token(acme, admin_client):
    response = admin_client.post(
        reverse("intake:api_tokens"),
        {"create": "", "name": "Reporting", "scope": "read", "expires_in": "30"},
    )
    assert response.status_code == 200
    row = ApiToken.objects.get()
    assert row.scope == ApiToken.Scope.READ
    assert 29 <= (row.expires_at - timezone.now()).days <= 30
    html = response.content.decode()
    assert "Read only" in html and "data-select-on-click" in html
    refused = admin_client.post(
        reverse("intake:api_tokens"),
        {"create": "", "name": "Other", "scope": "admin", "expires_in": "30"},
    )
    assert "Choose a scope and an expiry from the lists." in refused.content.decode()
    assert ApiToken.objects.count() == 1
