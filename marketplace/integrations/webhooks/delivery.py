"""One outbound request: the address check, the signed request to a checked address,
and the answer read up to a cap. No database access here: it runs outside any
transaction, with the worker's database connection released.

Redirects are not followed (the next address would escape the check) and proxies from
the environment are not used (they would make the check meaningless).
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass

import httpx2
from django.utils.translation import gettext as _

from marketplace.integrations.webhooks.addresses import addresses_check
from marketplace.integrations.webhooks.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from workflows.conf import tunable

# Seconds for the whole request (connect, send, read). Setting or environment
# WEBHOOKS_TIMEOUT_SECONDS; a slow receiver holds a `default` worker thread this long.
DEFAULT_TIMEOUT_SECONDS = 10.0
# Read at most this much of an answer; the rest is dropped (and the JSON not parsed).
MAX_RESPONSE_BYTES = 256 * 1024
# A host resolving to several addresses: try this many before giving up on connecting.
MAX_ADDRESSES_TRIED = 3
USER_AGENT = "crmflow-webhooks/1.0"


@dataclass(frozen=True)
class Delivery:
    """What to send. `headers` are the builder's, checked by forms.headers_parse."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    delivery_id: str


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: httpx2.Headers
    content: bytes
    truncated: bool

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class DeliveryFailed(Exception):
    """No answer: could not connect, timed out, or the connection broke."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def timeout_seconds() -> float:
    return float(tunable("WEBHOOKS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _verify() -> ssl.SSLContext:
    """One certificate store per process (loading it costs more than a local request)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx2.create_ssl_context()
        return _ssl_context


def send(delivery: Delivery, *, secret: str) -> Answer:
    """Send `delivery` signed with `secret`. Raises AddressRefused, HostUnresolved
    (addresses.py) or DeliveryFailed."""
    url = httpx2.URL(delivery.url)
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = addresses_check(host, port)
    headers = httpx2.Headers(delivery.headers)
    headers["Host"] = url.netloc.decode("ascii")
    headers.setdefault("User-Agent", USER_AGENT)
    if delivery.body:
        headers.setdefault("Content-Type", "application/json")
    headers[SIGNATURE_HEADER] = signature_header(secret, delivery.body)
    headers[DELIVERY_HEADER] = delivery.delivery_id
    seconds = timeout_seconds()
    deadline = time.monotonic() + seconds
    refused: Exception | None = None
    with httpx2.Client(
        verify=_verify(), trust_env=False, follow_redirects=False, timeout=seconds
    ) as client:
        for address in addresses[:MAX_ADDRESSES_TRIED]:
            request = client.build_request(
                delivery.method,
                url.copy_with(host=address),
                headers=headers,
                content=delivery.body or None,
                # TLS checks the certificate against the host, not the pinned address.
                extensions={"sni_hostname": host},
            )
            try:
                response = client.send(request, stream=True)
            except httpx2.ConnectError as error:
                refused = error
                continue
            except httpx2.TimeoutException:
                raise DeliveryFailed(_timed_out(host, seconds)) from None
            except httpx2.HTTPError as error:
                raise DeliveryFailed(_broken(host, error)) from None
            try:
                content, truncated = _read_capped(response, deadline)
            except httpx2.TimeoutException:
                raise DeliveryFailed(_timed_out(host, seconds)) from None
            except httpx2.HTTPError as error:
                raise DeliveryFailed(_broken(host, error)) from None
            finally:
                response.close()
            return Answer(
                status=response.status_code,
                reason=response.reason_phrase,
                headers=response.headers,
                content=content,
                truncated=truncated,
            )
    raise DeliveryFailed(
        _("Could not connect to %(host)s: %(error)s") % {"host": host, "error": refused or "—"}
    )


def _read_capped(response: httpx2.Response, deadline: float) -> tuple[bytes, bool]:
    """The answer's first MAX_RESPONSE_BYTES; True when there was more. A server that
    drips its answer slower than our deadline times out like one that says nothing."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise httpx2.ReadTimeout("deadline passed while reading the answer")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return b"".join(chunks)[:MAX_RESPONSE_BYTES], True
    return b"".join(chunks), False


def _timed_out(host: str, seconds: float) -> str:
    return _("No answer from %(host)s within %(seconds)g s.") % {"host": host, "seconds": seconds}


def _broken(host: str, error: Exception) -> str:
    return _("The request to %(host)s failed: %(error)s") % {
        "host": host,
        "error": str(error) or type(error).__name__,
    }
