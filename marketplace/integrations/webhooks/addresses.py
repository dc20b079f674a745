"""Outbound requests reach public servers only, so no one can use a workflow to call
the server's own network (a database, a cloud metadata service, an admin port).

Before each request the host is resolved and every address it resolves to is checked:
one that is not globally routable (private, loopback, link-local, reserved, shared,
unspecified) or is multicast is refused, unless a network of the setting
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES (comma-separated, e.g. "127.0.0.1/32,10.1.0.0/16";
read at call time) contains it. The request then goes to a checked address itself
(delivery.py pins it; the Host header and the TLS name stay the host's), so a DNS answer
that changes between the check and the connection cannot send it elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from marketplace.netaddress import is_public
from workflows.conf import tunable

SETTING = "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(Exception):
    """The host is, or resolves to, an address webhooks may not reach."""

    def __init__(self, host: str, address: str) -> None:
        self.message = _(
            "%(host)s is a private or reserved address (%(address)s): webhooks only reach "
            "public servers."
        ) % {"host": host, "address": address}
        super().__init__(self.message)


class HostUnresolved(Exception):
    """DNS gave no address (perhaps for a moment): worth trying again."""

    def __init__(self, host: str) -> None:
        self.message = _("The host %(host)s could not be resolved.") % {"host": host}
        super().__init__(self.message)


def allowed_networks() -> list[IPNetwork]:
    networks = []
    for item in str(tunable(SETTING, "")).split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{SETTING}: {item.strip()!r} is not a network (e.g. 127.0.0.1/32)"
            ) from None
    return networks


def address_allowed(address: IPAddress, networks: list[IPNetwork] | None = None) -> bool:
    if is_public(address):
        return True
    networks = allowed_networks() if networks is None else networks
    return any(address.version == net.version and address in net for net in networks)


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address when it is one (the builder checks those on save)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def addresses_check(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, once each; raises
    AddressRefused if any is refused (a host that also resolves to a private address
    is refused whole) or HostUnresolved."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostUnresolved(host) from None
    networks = allowed_networks()
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in found:
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id is not part of it
        if text in addresses:
            continue
        if not address_allowed(ipaddress.ip_address(text), networks):
            raise AddressRefused(host, text)
        addresses.append(text)
    if not addresses:
        raise HostUnresolved(host)
    return addresses
