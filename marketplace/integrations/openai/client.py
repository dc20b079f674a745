"""OpenAI clients and the live key check.

CLIENT_SHARDS clients per connection per process, built from the decrypted key with
explicit timeouts and SDK retries off (the execution ledger owns retries), pointed at
the connection's endpoint (endpoints.py: OpenAI, Azure OpenAI, an OpenAI-compatible
server). The key check lists the key's models (an Azure resource's deployments) before
anything is stored and turns each SDK failure into one outcome a person can act on.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx2
from django.conf import settings
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from marketplace.encryption import secret_fingerprint
from marketplace.integrations.openai.endpoints import (
    AZURE_DEPLOYMENTS,
    OPENAI,
    Endpoint,
    endpoint_for,
)
from marketplace.integrations.openai.limiter.policy import request_leaving
from marketplace.integrations.openai.models import EndpointKind

if TYPE_CHECKING:
    # Imported where it is used: the SDK costs a process ~30 MB and ~1 s to load, and
    # the web, beat and default workers never call OpenAI.
    import openai

logger = logging.getLogger(__name__)

# Model ids that are not text generation (what an assistant action can run).
_NOT_TEXT_GENERATION = (
    "embedding",
    "whisper",
    "dall-e",
    "tts",
    "moderation",
    "gpt-image",
    "transcribe",
    "realtime",
    "audio",
    "davinci",
    "babbage",
    "sora",
)


def is_text_generation_model(model_id: str) -> bool:
    lowered = model_id.lower()
    return not any(marker in lowered for marker in _NOT_TEXT_GENERATION)


# The SDK insists on a key; a compatible server without one gets no Authorization header.
_NO_KEY = "no-key"


def _azure_auth(request: httpx2.Request) -> None:
    """Azure OpenAI reads the key from `api-key`, not `Authorization: Bearer`."""
    authorization = request.headers.pop("Authorization", None)
    if authorization:
        request.headers["api-key"] = authorization.removeprefix("Bearer ")


def _no_auth(request: httpx2.Request) -> None:
    request.headers.pop("Authorization", None)


@sensitive_variables("api_key")
def openai_client(
    api_key: str,
    *,
    endpoint: Endpoint = OPENAI,
    timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> openai.OpenAI:
    """The SDK client for `endpoint`. Its httpx hook tells the rate limiter when each
    request leaves (limiter/policy.py `request_leaving`; a no-op outside a `sending`
    block). `ssl_context`: one already loaded (loading the CA bundle takes ~30 ms a
    client)."""
    import openai

    hooks: list = [request_leaving]
    if endpoint.kind == EndpointKind.AZURE:
        hooks.append(_azure_auth)
    elif not api_key:
        hooks.append(_no_auth)
    http_options: dict = {"event_hooks": {"request": hooks}}
    if ssl_context is not None:
        http_options["verify"] = ssl_context
    return openai.OpenAI(
        api_key=api_key or _NO_KEY,
        base_url=endpoint.base_url,
        timeout=timeout if timeout is not None else settings.OPENAI_TIMEOUT,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(**http_options),
    )


# A connection's calls are spread over this many clients, each with its own HTTP
# connection pool. httpcore walks every connection of a pool for each request it
# places and each response it releases, so one pool holding all of a worker's calls in
# flight (hundreds) cost 0.7-1.5 ms of CPU per call (benchmarks/openai_call.py).
CLIENT_SHARDS = 16

_clients: dict[tuple[int, str, tuple[str, str]], tuple[list[openai.OpenAI], itertools.count]] = {}
_clients_lock = threading.Lock()


@sensitive_variables("api_key")
def connection_client(connection) -> openai.OpenAI:
    """One of the process-wide clients of `connection`, in turn (CLIENT_SHARDS); a
    reconnect (new key or endpoint) gets new ones."""
    endpoint = endpoint_for(connection)
    cache_key = (connection.pk, connection.secret_fingerprint, endpoint.cache_key)
    with _clients_lock:
        shards = _clients.get(cache_key)
        if shards is None:
            api_key, context = connection.secret(), httpx2.create_ssl_context()
            shards = _clients[cache_key] = (
                [
                    openai_client(api_key, endpoint=endpoint, ssl_context=context)
                    for _ in range(CLIENT_SHARDS)
                ],
                itertools.count(),
            )
    clients, turns = shards
    return clients[next(turns) % CLIENT_SHARDS]


class KeyOutcome(enum.Enum):
    VALID = "valid"
    QUOTA_EXHAUSTED = "quota_exhausted"
    INVALID = "invalid"
    MISSING_SCOPES = "missing_scopes"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    UNEXPECTED = "unexpected"
    ADDRESS_REFUSED = "address_refused"  # endpoints.endpoint_url_problem: nothing was sent

    @property
    def connectable(self) -> bool:
        return self in {KeyOutcome.VALID, KeyOutcome.QUOTA_EXHAUSTED}


OUTCOME_MESSAGES = {
    KeyOutcome.QUOTA_EXHAUSTED: _(
        "OpenAI says this key's quota is exhausted. The app is connected, but actions "
        "will fail until you add credit or raise the limit in your OpenAI billing settings."
    ),
    KeyOutcome.INVALID: _(
        "OpenAI rejected this API key: it is incorrect, revoked or expired. Copy a valid "
        "key from your OpenAI API keys page and try again."
    ),
    KeyOutcome.MISSING_SCOPES: _(
        "This API key does not have the permissions crmflow needs (at least reading "
        "models). Give the key API permissions in your OpenAI project, or use another key."
    ),
    KeyOutcome.RATE_LIMITED: _(
        "OpenAI is rate limiting this key right now. Nothing was saved; wait a minute and "
        "try again."
    ),
    KeyOutcome.TIMEOUT: _(
        "OpenAI did not answer in time. Nothing was saved; try again in a moment."
    ),
    KeyOutcome.UNREACHABLE: _(
        "crmflow could not reach OpenAI. Nothing was saved; check the network and try again."
    ),
    KeyOutcome.UNEXPECTED: _(
        "OpenAI answered with an unexpected error. Nothing was saved; try again later."
    ),
}


# The same outcomes for an endpoint that is not OpenAI itself (%(service)s: its name).
OTHER_ENDPOINT_MESSAGES = {
    KeyOutcome.QUOTA_EXHAUSTED: _(
        "%(service)s says this key's quota is exhausted. The app is connected, but actions "
        "will fail until the quota is raised."
    ),
    KeyOutcome.INVALID: _(
        "%(service)s rejected this API key: it is incorrect, revoked or expired. Copy a "
        "valid key and try again."
    ),
    KeyOutcome.MISSING_SCOPES: _(
        "This API key does not have the permissions crmflow needs (at least listing "
        "models). Give the key access, or use another key."
    ),
    KeyOutcome.RATE_LIMITED: _(
        "%(service)s is rate limiting this key right now. Nothing was saved; wait a minute "
        "and try again."
    ),
    KeyOutcome.TIMEOUT: _(
        "%(service)s did not answer in time. Nothing was saved; try again in a moment."
    ),
    KeyOutcome.UNREACHABLE: _(
        "crmflow could not reach %(service)s. Nothing was saved; check the address and "
        "the network, and try again."
    ),
    KeyOutcome.UNEXPECTED: _(
        "%(service)s answered with an unexpected error. Nothing was saved; check the "
        "address (it must serve the OpenAI API) and try again."
    ),
}
SERVICE_NAMES = {
    EndpointKind.AZURE: _("Azure OpenAI"),
    EndpointKind.COMPATIBLE: _("the OpenAI-compatible server"),
}
KEY_NEEDED = _("%(service)s asks for an API key. Paste the server's key and try again.")


@dataclass(frozen=True)
class KeyCheck:
    outcome: KeyOutcome
    fingerprint: str
    model_ids: tuple[str, ...] = field(default=())
    organization: str = ""
    project: str = ""
    status_code: int | None = None
    endpoint: Endpoint = OPENAI
    detail: str | Promise = ""  # ADDRESS_REFUSED: why
    keyless: bool = False  # no key was given (a compatible server)

    @property
    def message(self) -> str:
        if self.detail:
            return str(self.detail)
        if self.endpoint.kind == EndpointKind.OPENAI:
            return str(OUTCOME_MESSAGES.get(self.outcome, ""))
        template = OTHER_ENDPOINT_MESSAGES.get(self.outcome)
        if self.keyless and self.outcome is KeyOutcome.INVALID:
            template = KEY_NEEDED
        if template is None:
            return ""
        text, service = str(template), str(SERVICE_NAMES[EndpointKind(self.endpoint.kind)])
        if text.startswith("%(service)s"):
            service = str(capfirst(service))
        return text % {"service": service}


def _model_ids(client: openai.OpenAI, endpoint: Endpoint) -> tuple[Any, list[str]]:
    """The raw answer and the model ids: an Azure resource's deployment names (what a
    request names as its model there), else the `/models` list."""
    import openai

    if endpoint.kind == EndpointKind.AZURE:
        path, version = AZURE_DEPLOYMENTS
        answer = client.get(
            endpoint.url.rstrip("/") + path,
            cast_to=httpx2.Response,
            options={"params": {"api-version": version}},
        )
        rows = answer.json().get("data")
        if not isinstance(rows, list):
            raise openai.APIResponseValidationError(answer, rows)
        return answer, [str(row["id"]) for row in rows if isinstance(row, dict) and "id" in row]
    raw = client.models.with_raw_response.list()
    return raw, [model.id for model in raw.parse().data]


@sensitive_variables("api_key")
def key_check(api_key: str, endpoint: Endpoint = OPENAI) -> KeyCheck:
    """List the key's models with the real SDK and classify the answer.

    Exceptions are not logged with their text: the SDK's messages can echo part of
    the key back.
    """
    fingerprint = secret_fingerprint(api_key)
    check = _key_check(api_key, endpoint, fingerprint)
    return dataclasses.replace(check, endpoint=endpoint, keyless=not api_key)


@sensitive_variables("api_key")
def _key_check(api_key: str, endpoint: Endpoint, fingerprint: str) -> KeyCheck:
    import openai

    client = openai_client(api_key, endpoint=endpoint)
    try:
        raw, model_ids = _model_ids(client, endpoint)
    except openai.APITimeoutError:
        return KeyCheck(KeyOutcome.TIMEOUT, fingerprint)
    except openai.APIConnectionError:
        return KeyCheck(KeyOutcome.UNREACHABLE, fingerprint)
    except openai.AuthenticationError as error:
        body_message = str(getattr(error, "message", "")).lower()
        if error.code != "invalid_api_key" and (
            "scope" in body_message or "permission" in body_message
        ):
            return KeyCheck(KeyOutcome.MISSING_SCOPES, fingerprint, status_code=401)
        return KeyCheck(KeyOutcome.INVALID, fingerprint, status_code=401)
    except openai.PermissionDeniedError:
        return KeyCheck(KeyOutcome.MISSING_SCOPES, fingerprint, status_code=403)
    except openai.RateLimitError as error:
        headers = error.response.headers
        outcome = (
            KeyOutcome.QUOTA_EXHAUSTED
            if error.code == "insufficient_quota"
            else KeyOutcome.RATE_LIMITED
        )
        return KeyCheck(
            outcome,
            fingerprint,
            organization=headers.get("openai-organization", ""),
            project=headers.get("openai-project", ""),
            status_code=429,
        )
    except openai.APIStatusError as error:
        logger.warning("OpenAI key check answered HTTP %s", error.status_code)
        return KeyCheck(KeyOutcome.UNEXPECTED, fingerprint, status_code=error.status_code)
    except (openai.APIError, ValueError, KeyError, AttributeError):
        logger.warning("OpenAI key check got an answer the SDK could not read")
        return KeyCheck(KeyOutcome.UNEXPECTED, fingerprint)
    finally:
        client.close()
    return KeyCheck(
        KeyOutcome.VALID,
        fingerprint,
        model_ids=tuple(sorted(set(model_ids))),
        organization=raw.headers.get("openai-organization", ""),
        project=raw.headers.get("openai-project", ""),
        status_code=raw.status_code,
    )
