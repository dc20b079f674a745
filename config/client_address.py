"""The client's address, read correctly behind trusted reverse proxies.

`REMOTE_ADDR` is the peer that opened the connection: behind nginx or a load balancer,
the proxy. The proxy appends the address it saw to `X-Forwarded-For`, after whatever
the client wrote there itself — so only the hops added by proxies we trust can be
believed. Reading from the right, every hop that is a trusted proxy is skipped; the
first one that is not is the client (the "rightmost untrusted hop"). A visitor who
writes `X-Forwarded-For: 1.2.3.4` only adds a hop on the left, which is never read
while a proxy's own hop stands to its right.

`ClientAddressMiddleware` puts that address in `REMOTE_ADDR` (the peer stays in
`META["crmflow.peer_addr"]`), so every reader — the public forms' and the API's rate
limits, login throttling, the audit log, Django's request logs — sees the client.
Without `TRUSTED_PROXIES` (the default) `X-Forwarded-For` is ignored entirely.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_KEY = "crmflow.peer_addr"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]):
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str, forwarded_for: str, proxies: Sequence[Network]) -> str:
    """The client's address given the TCP peer, the X-Forwarded-For header(s) joined by
    commas, and the trusted proxies' networks."""
    current = _address(peer)
    if current is None:
        return peer
    if not proxies or not _trusted(current, proxies):
        return str(current)
    for hop in reversed([item for item in forwarded_for.split(",") if item.strip()]):
        address = _address(hop)
        if address is None:  # garbage: believe nothing further left
            break
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


def request_client_address(request: HttpRequest) -> str | None:
    """The client address of a request (after the middleware ran: REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR") or None


class ClientAddressMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = request.META.get("REMOTE_ADDR", "")
        request.META[PEER_KEY] = peer
        proxies = settings.TRUSTED_PROXIES
        if peer and proxies:
            # Several X-Forwarded-For headers arrive joined by ", " in one META value.
            forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
            request.META["REMOTE_ADDR"] = client_address(peer, forwarded, proxies)
        return self.get_response(request)
