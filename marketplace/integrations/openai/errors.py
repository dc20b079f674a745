"""What went wrong when calling OpenAI, in terms the ledger and a person can act on.

Every failure of an engine call ends up as one `AssistantError` with a `kind`. The
action's run (run.py) makes it the step's outcome: a `transient` one is retried (after
`retry_after` when OpenAI said how long to wait), the others fail. People see
`str(error)`, a sentence that must never contain the API key: text copied from OpenAI
goes through `redact()` first.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    # Imported where it is used: the SDK costs a process ~30 MB and ~1 s to load, and
    # the web, beat and default workers never call OpenAI.
    import openai


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # transient: wait retry_after seconds
    SERVER = "server"  # transient: 5xx, connection, timeout, truncated body; back off
    QUOTA = "quota"  # permanent: the account has no credit
    AUTH = "auth"  # permanent: the connection needs attention (new key)
    NOT_FOUND = "not_found"  # permanent: assistant or model gone
    BAD_REQUEST = "bad_request"  # permanent: e.g. unsupported parameter
    RUN_FAILED = "run_failed"  # a run/response ended failed, incomplete, expired…


# Anything that looks like a secret key (sk-…, sess-…) loses all but its last 4 characters.
_KEY_PATTERN = re.compile(r"\b(sk|sess)-[A-Za-z0-9_\-]{6,}")


def redact(text: str | None) -> str:
    """Text from OpenAI or an SDK exception, safe to show and log."""
    if not text:
        return ""
    return _KEY_PATTERN.sub(lambda m: f"{m.group(1)}-…{m.group(0)[-4:]}", text)


class AssistantError(Exception):
    kind: ErrorKind = ErrorKind.SERVER
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.retry_after = retry_after
        self.status_code = status_code
        self.code = code
        self.param = param
        self.request_id = request_id
        # x-ratelimit-* headers of the failed answer (a 429 carries them): for the limiter.
        self.rate_limit_headers: dict[str, str] = {}
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind.value!r}, message={self.message!r})"


class RateLimited(AssistantError):
    kind = ErrorKind.RATE_LIMITED
    transient = True


class ServerError(AssistantError):
    kind = ErrorKind.SERVER
    transient = True


class AssistantTimeout(ServerError):
    """Our own deadline fired (or the HTTP read timed out): retry later."""


class QuotaExceeded(AssistantError):
    kind = ErrorKind.QUOTA


class AuthFailed(AssistantError):
    kind = ErrorKind.AUTH


class NotFound(AssistantError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, message: str, *, route_missing: bool = False, **kwargs) -> None:
        super().__init__(message, **kwargs)
        # True when OpenAI no longer serves the endpoint at all ("Invalid URL …"):
        # what the Assistants API answers since its sunset.
        self.route_missing = route_missing


class BadRequest(AssistantError):
    kind = ErrorKind.BAD_REQUEST


class RunFailed(AssistantError):
    """A run or response reached a terminal status other than `completed`."""

    kind = ErrorKind.RUN_FAILED

    def __init__(
        self,
        message: str,
        *,
        status: str,
        reason: str | None = None,
        transient: bool = False,
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        self.status = status
        self.reason = reason
        self.transient = transient


# Messages are stored on the execution in the language active when they are made (the
# site's language in a worker, the user's in the builder's Test).
QUOTA_MESSAGE = gettext_lazy(
    "Your OpenAI account is out of quota. Add credit or raise the limit in the OpenAI "
    "billing settings, then run the action again."
)


def retry_after_seconds(headers) -> float | None:
    """`retry-after-ms` (OpenAI's precise header) or `retry-after` (whole seconds)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None


def _error_body(exc: openai.APIStatusError) -> dict:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return body if isinstance(body, dict) else {}


def classify(exc: BaseException) -> AssistantError:
    """Turn an exception raised while calling the SDK into an `AssistantError`.

    Programming errors (anything that is neither an OpenAI error nor a ValueError from
    a body cut short) are re-raised unchanged: retrying them would only hide a bug.
    """
    import openai

    if isinstance(exc, AssistantError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return AssistantTimeout(_("OpenAI did not answer in time. The call will be retried."))
    if isinstance(exc, openai.APIConnectionError):
        return ServerError(
            _("Could not reach OpenAI (connection failed). The call will be retried.")
        )
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc)
    if isinstance(exc, (json.JSONDecodeError, ValueError)):
        # The SDK parses the body after the status: a body cut mid-JSON surfaces as a
        # ValueError, not an APIError.
        return ServerError(_("OpenAI sent an incomplete answer. The call will be retried."))
    if isinstance(exc, openai.OpenAIError):
        return ServerError(_("The OpenAI call failed: %(error)s") % {"error": redact(str(exc))})
    raise exc


def _classify_status(exc: openai.APIStatusError) -> AssistantError:
    result = _error_for_status(exc)
    result.rate_limit_headers = {
        k: v for k, v in exc.response.headers.items() if k.startswith("x-ratelimit-")
    }
    return result


def _error_for_status(exc: openai.APIStatusError) -> AssistantError:
    error = _error_body(exc)
    code = exc.code if isinstance(exc.code, str) else error.get("code")
    param = exc.param if isinstance(exc.param, str) else error.get("param")
    server_message = redact(error.get("message") or exc.message)
    status = exc.status_code
    common: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "param": param,
        "request_id": exc.request_id,
    }
    if status == 429:
        if code == "insufficient_quota" or error.get("type") == "insufficient_quota":
            return QuotaExceeded(str(QUOTA_MESSAGE), **common)
        wait = retry_after_seconds(exc.response.headers)
        message = (
            _("OpenAI's rate limit was reached; the call will be retried in %(seconds).1f s.")
            % {"seconds": wait}
            if wait is not None
            else _("OpenAI's rate limit was reached; the call will be retried shortly.")
        )
        return RateLimited(
            message,
            retry_after=wait,
            **common,
        )
    if status in (401, 403):
        return AuthFailed(
            _(
                "OpenAI refused the API key (it was revoked or lacks permissions). "
                "Enter a valid key on the OpenAI app's page."
            ),
            **common,
        )
    if status in (404, 410):
        if server_message.startswith("Invalid URL") or status == 410:
            return NotFound(
                _(
                    "OpenAI no longer offers this API "
                    "(the Assistants API was shut down on 26 Aug 2026)."
                ),
                route_missing=True,
                **common,
            )
        if code == "model_not_found":
            return NotFound(
                _("The model is not available to this OpenAI account: %(error)s")
                % {"error": server_message},
                **common,
            )
        return NotFound(
            _("OpenAI could not find it: %(error)s Choose another assistant.")
            % {"error": server_message},
            **common,
        )
    if status >= 500 or status in (408, 409):
        return ServerError(
            _("OpenAI had a server error (%(status)s). The call will be retried.")
            % {"status": status},
            **common,
        )
    if param:
        message = _("OpenAI rejected the request (parameter '%(param)s'): %(error)s") % {
            "param": param,
            "error": server_message,
        }
    else:
        message = _("OpenAI rejected the request: %(error)s") % {"error": server_message}
    advice = _fix_advice(param or "", code or "")
    return BadRequest(f"{message} {advice}" if advice else message, **common)


def _fix_advice(param: str, code: str) -> str:
    """What the builder can change for a 400 (a configuration error: never retried)."""
    root = param.split(".")[0].split("[")[0]
    if root == "temperature":
        return str(
            _(
                "Set the temperature between 0 and 2 in the step's Advanced API parameters "
                "(or leave it empty); reasoning models take none."
            )
        )
    if root == "reasoning" or param == "reasoning_effort":
        return str(
            _(
                "Reasoning effort applies to reasoning models only: clear it in the step's "
                "Advanced API parameters or choose a reasoning model."
            )
        )
    if root == "text" or code == "invalid_json_schema":
        return str(
            _(
                "Check the assistant's output fields on its page (names of letters, digits, "
                "_ or -; choices for choice fields)."
            )
        )
    if root == "model":
        return str(_("Choose another model in the step or on the assistant."))
    if code == "unknown_parameter":
        return str(
            _(
                "The endpoint does not accept this parameter: if the connection points at an "
                "OpenAI-compatible server, it may not support it."
            )
        )
    return ""
