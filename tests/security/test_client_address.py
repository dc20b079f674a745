"""The client address behind reverse proxies: read from X-Forwarded-For only when the
peer is a trusted proxy, rightmost untrusted hop first; used by the forms' rate limit
and stored with submissions."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.cache import cache

from config.client_address import client_address
from crm.models import FormSubmission
from crm.submissions import RATE_LIMIT
from tests.crm.test_forms import contact_form, public_url  # noqa: F401  (fixture)

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No trusted proxy in front: the header is the visitor's own writing.
        ("198.51.100.7", "1.2.3.4", "198.51.100.7"),
        # Behind the proxy: the hop it appended.
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        # A visitor who writes the header only adds hops on the left.
        ("10.0.0.2", "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        # Two trusted proxies in a row are skipped.
        ("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.9", "203.0.113.5"),
        # Garbage to the right of a trusted hop: stop at the last believable one.
        ("10.0.0.2", "203.0.113.5, not-an-ip", "10.0.0.2"),
        # Everything trusted (an internal health check): the leftmost.
        ("10.0.0.2", "10.1.1.1", "10.1.1.1"),
        # No header at all: the peer.
        ("10.0.0.2", "", "10.0.0.2"),
        # IPv6 peer, port suffixes, IPv4-mapped addresses.
        ("::1", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.2", "203.0.113.5:5555", "203.0.113.5"),
        ("::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5"),
    ],
)
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("10.0.0.2", "203.0.113.5", []) == "10.0.0.2"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _submit(client, form, n, **meta):
    return client.post(public_url(form), {"email": f"v{n}@example.com"}, **meta)


def test_behind_a_trusted_proxy_each_visitor_has_its_own_rate_limit(client, contact_form, settings):
    settings.TRUSTED_PROXIES = PROXIES
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(RATE_LIMIT + 1):
        response = _submit(client, contact_form, n, HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy)
    assert response.status_code == 429
    # Another visitor through the same proxy is not blocked by the spammer.
    other = _submit(client, contact_form, 99, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)
    assert other.status_code == 200
    assert FormSubmission.objects.filter(ip_address="198.51.100.1").count() == 1
    # The spammer cannot escape by writing the header: its real hop stays rightmost.
    spoofed = _submit(
        client, contact_form, 100, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.5", **proxy
    )
    assert spoofed.status_code == 429


def test_an_untrusted_peer_cannot_choose_its_address(client, contact_form, settings):
    settings.TRUSTED_PROXIES = PROXIES
    for n in range(RATE_LIMIT + 1):
        response = _submit(
            client,
            contact_form,
            n,
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert response.status_code == 429
    assert set(FormSubmission.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_a_malformed_trusted_proxy_names_the_variable(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config import env as envmod

    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1/32, proxy.example.com")
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES: 'proxy.example.com'"):
        envmod.env_networks("TRUSTED_PROXIES")
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert [str(n) for n in envmod.env_networks("TRUSTED_PROXIES")] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
    ]
