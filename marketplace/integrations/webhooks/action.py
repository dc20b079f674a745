"""The "Send a webhook" workflow action (section "Webhooks").

One execution per Celery message (not batchable): the request runs outside any
transaction, with the worker's database connection released, within
WEBHOOKS_TIMEOUT_SECONDS. What its answer means for the execution:

- 2xx: Success, with `status`, `body` (truncated) and the response fields the step
  declares, read from the JSON answer;
- 429, 5xx, no answer (timeout, connection refused or broken, DNS): Retry, after the
  answer's Retry-After if it gives one, else the ledger's backoff;
- other 4xx, a redirect, a refused address: Failure, with the status and the answer's
  first lines.

Every request carries `X-Crmflow-Delivery: <context.idempotency_key>`, the same for
every attempt of one execution: delivery is at least once (a worker lost after sending
retries it), so receivers dedupe on it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace.integrations.webhooks import delivery as transport
from marketplace.integrations.webhooks.addresses import AddressRefused, HostUnresolved
from marketplace.integrations.webhooks.builder import SECTION_KEY
from marketplace.integrations.webhooks.forms import (
    SendWebhookForm,
    config_clean,
    headers_parse,
    response_fields_parse,
    url_problems,
)
from marketplace.integrations.webhooks.services import connection_for_account
from workflows.context import ExecutionContext
from workflows.outcomes import (
    Failure,
    Outcome,
    PermanentError,
    Retry,
    Success,
    TransientError,
    outcome_of,
)
from workflows.registry import ActionType, CanvasText, Output, OutputType
from workflows.tokens import TokenResolver

KEY = "send_webhook"
# The `body` output keeps this many characters of the answer.
BODY_OUTPUT_CHARS = 10_000
# A 4xx failure quotes this much of the answer.
FAILURE_LINES = 3
FAILURE_CHARS = 300
# Longest Retry-After honoured; a longer one waits this long.
MAX_RETRY_AFTER_SECONDS = 3600.0
# Header names whose values the run history masks.
SECRET_HEADER_WORDS = ("authorization", "token", "secret", "key", "cookie", "password")

BASE_OUTPUTS = (
    Output("status", gettext_lazy("Status code"), OutputType.NUMBER),
    Output("body", gettext_lazy("Response body"), OutputType.TEXT),
)


def not_connected_message() -> str:
    return _(
        "The Webhooks app is not installed. A super admin can install it from the App "
        "Marketplace, then replay the failed runs."
    )


class SendWebhook(ActionType):
    key = KEY
    label = gettext_lazy("Send a webhook")
    description = gettext_lazy("Call an HTTP endpoint with a signed JSON request.")
    section = SECTION_KEY
    config_form = SendWebhookForm
    outputs = BASE_OUTPUTS
    raw_config_keys = frozenset({"method", "headers", "body", "response_fields"})

    # --- The builder ----------------------------------------------------------------

    def token_fields(
        self, config: dict[str, Any], *, definitions: dict[str, Any]
    ) -> dict[str, str]:
        return {"url": "text", "headers": "text", "body": "text"}

    def validate_config(
        self, config: dict[str, Any], *, account: Any, object_type: str
    ) -> dict[str, Any]:
        super().validate_config(config, account=account, object_type=object_type)
        return config_clean(config)

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        method = escape(str(config.get("method") or "POST"))
        return f"{method} {canvas.chips(str(config.get('url') or ''))}"

    def outputs_for(self, config: dict[str, Any], account: Any) -> tuple[Output, ...]:
        fields = response_fields_parse(
            str((config or {}).get("response_fields") or ""), strict=False
        )
        return BASE_OUTPUTS + tuple(Output(f.name, f.name, f.type) for f in fields)

    def describe_inputs(self, config: dict[str, Any], *, account: Any) -> list[tuple[str, str]]:
        """As the base does, with secret-looking header values masked."""
        shown = dict(config)
        if isinstance(config.get("headers"), str):
            shown["headers"] = "\n".join(_masked(line) for line in config["headers"].splitlines())
        return super().describe_inputs(shown, account=account)

    # --- The run --------------------------------------------------------------------

    def resolve_config(self, config: dict[str, Any], resolver: TokenResolver) -> dict[str, Any]:
        """The URL as text; a header's value with its line breaks removed (a value never
        adds a header); the body's tokens inside its JSON strings, escaped for JSON. The
        result is what is sent, and what the run history shows."""
        resolved = super().resolve_config(config, resolver)
        headers = [
            (name, " ".join(resolver.render(value).splitlines()))
            for name, value in headers_parse(str(config.get("headers") or ""))
        ]
        resolved["headers"] = "\n".join(f"{name}: {value}" for name, value in headers)
        resolved["body"] = _body(str(config.get("body") or ""), resolver).decode()
        return resolved

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        """One request (the builder's test runs): outputs, or the error it ended with."""
        outcome = self._deliver(context)
        if isinstance(outcome, Success):
            return outcome.outputs
        if isinstance(outcome, Failure):
            raise PermanentError(outcome.message)
        if not isinstance(outcome, Retry):  # never a hand-back: one request, not awaited
            raise TypeError(outcome)
        raise TransientError(outcome.message, retry_after=outcome.after, kind=outcome.kind)

    def execute_many(self, contexts: list[ExecutionContext]) -> Iterator[list[tuple[int, Outcome]]]:
        """One group per execution, as each request ends."""
        for index, context in enumerate(contexts):
            try:
                outcome = self._deliver(context)
            except Exception as error:  # noqa: BLE001 - a bug or the database: outcome_of retries it
                outcome = outcome_of(error)
            yield [(index, outcome)]

    def _deliver(self, context: ExecutionContext) -> Outcome:
        connection = connection_for_account(context.account)
        if connection is None or not connection.encrypted_secret:
            return Failure(not_connected_message())
        config = context.config
        method = str(config.get("method") or "POST")
        url = str(config.get("url") or "").strip()
        problems = url_problems(url)
        if problems:  # a token made it so
            return Failure(
                _("The URL “%(url)s”: %(problem)s") % {"url": url, "problem": problems[0]}
            )
        headers = headers_parse(str(config.get("headers") or ""))
        body = str(config.get("body") or "").encode()
        request = transport.Delivery(method, url, headers, body, context.idempotency_key)
        secret = connection.secret()
        context.release_db_connection()  # none is held while the receiver thinks
        try:
            answer = transport.send(request, secret=secret)
        except AddressRefused as error:
            return Failure(error.message)
        except (HostUnresolved, transport.DeliveryFailed) as error:
            return Retry(error.message)
        return self._outcome(context, answer)

    def _outcome(self, context: ExecutionContext, answer: transport.Answer) -> Outcome:
        status = answer.status
        if 200 <= status < 300:
            return Success(self._outputs(context, answer))
        quoted = _first_lines(answer.text)
        message = _("The server answered %(status)d %(reason)s.") % {
            "status": status,
            "reason": answer.reason,
        }
        if quoted:
            message += " " + quoted
        if status == 429 or status >= 500:
            return Retry(message, after=_retry_after(answer.headers.get("Retry-After")))
        if 300 <= status < 400:
            return Failure(
                _(
                    "The server answered %(status)d, a redirect to %(location)s: webhooks do not "
                    "follow redirects. Use the final address."
                )
                % {"status": status, "location": answer.headers.get("Location", "—")}
            )
        return Failure(message)

    def _outputs(self, context: ExecutionContext, answer: transport.Answer) -> dict[str, Any]:
        text = answer.text
        outputs: dict[str, Any] = {"status": answer.status, "body": text[:BODY_OUTPUT_CHARS]}
        fields = response_fields_parse(
            str(context.raw_config.get("response_fields") or ""), strict=False
        )
        if not fields or answer.truncated:
            return outputs
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            return outputs
        if not isinstance(document, dict):
            return outputs
        for field in fields:
            value = _typed(document.get(field.name), field.type)
            if value is not None:
                outputs[field.name] = value
        return outputs


def _body(raw: str, resolver: TokenResolver) -> bytes:
    """The JSON body with the tokens inside its strings resolved: a value holding
    quotes or line breaks stays valid JSON."""
    if not raw.strip():
        return b""
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValidationError(
            _("The JSON body is not valid JSON: %(error)s") % {"error": error.msg}
        ) from None
    return json.dumps(
        resolver.resolve(document), ensure_ascii=False, separators=(",", ":")
    ).encode()


def _typed(value: Any, kind: str) -> Any:
    """A JSON value as the declared type, or None when it is absent or not of that type
    (the output is then unknown: empty in tokens, "is unknown" in branches)."""
    if value is None:
        return None
    if kind == OutputType.NUMBER:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        if not number.is_finite():
            return None
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == OutputType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text == "true" else False if text == "false" else None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _first_lines(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    quoted = " / ".join(lines[:FAILURE_LINES])
    return quoted[:FAILURE_CHARS] + ("…" if len(quoted) > FAILURE_CHARS else "")


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), at most an hour; None when
    absent or unreadable (the ledger's backoff then)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - timezone.now()).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _masked(line: str) -> str:
    name, sep, value = line.partition(":")
    if sep and value.strip() and any(word in name.lower() for word in SECRET_HEADER_WORDS):
        return f"{name}: ••••"
    return line
