"""Login throttling (django-axes): per user name and per client address, at /login/ and
/admin/, with a message that says how long to wait, and signing in again after it."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # A slow hasher on a shared machine turns 20 sign-ins into a minute; the throttle
    # counts attempts, not hashing time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _fail(client: Client, username: str, times: int, address: str = "10.0.0.1"):
    """`times` failed sign-ins; the one that reaches the limit is already answered 429."""
    for _ in range(times):
        client.post("/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address)


def _sign_in(client: Client, username: str, address: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": PASSWORD}, REMOTE_ADDR=address)


def test_five_failures_for_a_user_name_pause_its_sign_in_with_the_wait(admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    _fail(client, "admin", 4)
    assert _sign_in(Client(), "admin", address="10.0.0.2").status_code == 302
    client.post("/logout/")
    _fail(client, "admin", 4)
    response = client.post(
        "/login/", {"username": "admin", "password": "wrong"}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 429
    # Even the right password is refused now, from another address too.
    response = _sign_in(Client(), "admin", address="10.9.9.9")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed sign-ins" in text and "try again in 15 minutes" in text
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60


def test_failures_from_one_address_pause_every_user_name_from_it(admin_user, rep_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for name in ("alice", "bob", "carol"):
        _fail(client, name, 1, address="192.0.2.7")
    assert _sign_in(client, "rep", address="192.0.2.7").status_code == 429
    # Another address is not affected.
    assert _sign_in(Client(), "rep", address="192.0.2.8").status_code == 302


def test_the_address_is_the_client_behind_a_trusted_proxy(admin_user, rep_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = [__import__("ipaddress").ip_network("10.1.0.0/16")]
    client = Client()
    for name in ("alice", "bob", "carol"):
        client.post(
            "/login/",
            {"username": name, "password": "wrong"},
            REMOTE_ADDR="10.1.0.5",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )
    # The spammer behind the proxy is paused; another visitor behind the same proxy is not.
    blocked = client.post(
        "/login/",
        {"username": "rep", "password": PASSWORD},
        REMOTE_ADDR="10.1.0.5",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert blocked.status_code == 429
    other = Client().post(
        "/login/",
        {"username": "rep", "password": PASSWORD},
        REMOTE_ADDR="10.1.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.4",
    )
    assert other.status_code == 302
    assert AccessAttempt.objects.filter(ip_address="203.0.113.9").exists()


def test_signing_in_works_again_after_the_wait(admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    _fail(client, "admin", 2)
    assert client.post("/login/", {"username": "admin", "password": "x"}).status_code == 429
    assert _sign_in(client, "admin").status_code == 429
    # The 15 minutes pass.
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    response = _sign_in(client, "admin")
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_admin_sign_in_is_throttled_too(db, settings):
    from crm.models import User

    User.objects.create_superuser("operator", "op@example.com", PASSWORD)
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/admin/login/", {"username": "operator", "password": "wrong"})
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "operator", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "try again in 15 minutes" in response.content.decode()


def test_the_message_is_in_french(admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 1
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.post("/login/", {"username": "admin", "password": "wrong"})
    response = _sign_in(client, "admin")
    assert response.status_code == 429
    assert "réessayez dans 15\u00a0minutes" in response.content.decode()
