"""Where a connection's calls go: OpenAI, Azure OpenAI or an OpenAI-compatible server.

- OpenAI: the instance's `OPENAI_BASE_URL` (set by the operator), `Authorization: Bearer`.
- Azure OpenAI: the resource URL (`https://<resource>.openai.azure.com`) + `/openai/v1`,
  the key in an `api-key` header; a request's `model` is a deployment name, and the
  deployments are the connection's models.
- OpenAI-compatible server (vLLM, Ollama, LiteLLM…): its base URL, an optional key;
  models from its `/models`.

A URL a person types is checked before anything is sent to it (`endpoint_url_problem`):
https only unless OPENAI_ENDPOINT_ALLOW_HTTP; the host is resolved and every address
must be public unless OPENAI_ENDPOINT_ALLOW_PRIVATE (self-hosters running a local
model), so the connect dialog cannot be used to probe the server's network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from marketplace.integrations.openai.models import ConnectionEndpoint, EndpointKind
from marketplace.netaddress import is_public

AZURE_PATH = "/openai/v1"
# The data-plane listing of an Azure resource's deployments (the v1 path has none).
AZURE_DEPLOYMENTS = ("/openai/deployments", "2022-12-01")
URL_MAX_LENGTH = 300


@dataclass(frozen=True)
class Endpoint:
    kind: str = EndpointKind.OPENAI
    url: str = ""  # the Azure resource URL or the compatible server's base URL

    @property
    def base_url(self) -> str:
        if self.kind == EndpointKind.AZURE:
            return self.url.rstrip("/") + AZURE_PATH
        if self.kind == EndpointKind.COMPATIBLE:
            return self.url.rstrip("/")
        return str(settings.OPENAI_BASE_URL)

    @property
    def label(self) -> str:
        return str(EndpointKind(self.kind).label)

    @property
    def key_required(self) -> bool:
        return self.kind != EndpointKind.COMPATIBLE

    @property
    def cache_key(self) -> tuple[str, str]:
        return (self.kind, self.base_url)


OPENAI = Endpoint()


def endpoint_for(connection) -> Endpoint:
    """The connection's endpoint (no row: OpenAI). `connection_for_account` selects it
    with the connection, so a batch reads it without another query."""
    try:
        row = connection.openai_endpoint
    except ConnectionEndpoint.DoesNotExist:
        return OPENAI
    return Endpoint(kind=row.kind, url=row.url)


def endpoint_store(*, connection, endpoint: Endpoint) -> None:
    """Remember `endpoint` for `connection` (inside the caller's transaction)."""
    ConnectionEndpoint.objects.update_or_create(
        connection=connection, defaults={"kind": endpoint.kind, "url": endpoint.url}
    )
    # The cached reverse one-to-one would otherwise keep the old endpoint.
    connection._state.fields_cache.pop("openai_endpoint", None)


def endpoint_url_problem(url: str) -> str | Promise | None:
    """Why crmflow will not send a key to `url`, or None. Resolves the host (a network
    call: run it outside transactions)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Enter the full address, starting with https://.")
    if parts.username or parts.password:
        return _("Leave the user name and password out of the address; paste the key instead.")
    if parts.scheme == "http" and not settings.OPENAI_ENDPOINT_ALLOW_HTTP:
        return _(
            "Only https:// addresses are allowed: the key and your CRM data would travel "
            "unencrypted. Your administrator can allow http:// with OPENAI_ENDPOINT_ALLOW_HTTP."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        return _("crmflow could not find this server. Check the address and try again.")
    if settings.OPENAI_ENDPOINT_ALLOW_PRIVATE:
        return None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not is_public(address):
            return _(
                "This address points to a private, loopback or link-local network, which "
                "crmflow does not call. Your administrator can allow it with "
                "OPENAI_ENDPOINT_ALLOW_PRIVATE (for a model hosted on your own network)."
            )
    return None
