"""What builders type: the "Send a webhook" step's fields (checked on save, before any
token is resolved) and the "Webhook received" mapping rows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace.integrations.webhooks.addresses import address_allowed, literal_address
from workflows.registry import OutputType
from workflows.tokens import TOKEN

METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE")
# RFC 9110 field names.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Set by crmflow, never by the builder.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "x-crmflow-signature",
        "x-crmflow-delivery",
    }
)
MAX_HEADERS = 30
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
FIELD_TYPES = {
    "text": OutputType.TEXT,
    "number": OutputType.NUMBER,
    "boolean": OutputType.BOOLEAN,
}
BASE_OUTPUT_NAMES = frozenset({"status", "body"})
MAX_FIELDS = 20
# A dotted path into an inbound JSON body: `email`, `data.object.email`.
PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
MAX_MAPPING_ROWS = 50


class SendWebhookForm(forms.Form):
    method = forms.ChoiceField(
        label=gettext_lazy("Method"), choices=[(m, m) for m in METHODS], initial="POST"
    )
    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=2000,
        help_text=gettext_lazy("The full address, starting with https:// (or http://)."),
    )
    headers = forms.CharField(
        label=gettext_lazy("Headers"),
        required=False,
        widget=forms.Textarea,
        max_length=8000,
        help_text=gettext_lazy("One per line, as Name: value."),
    )
    body = forms.CharField(
        label=gettext_lazy("JSON body"),
        required=False,
        widget=forms.Textarea,
        max_length=65535,
        help_text=gettext_lazy(
            'Data tokens go inside quoted strings, e.g. {"name": "…"}; their values are '
            "escaped for JSON."
        ),
    )
    response_fields = forms.CharField(
        label=gettext_lazy("Response fields"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "score: number"}),
        max_length=4000,
        help_text=gettext_lazy(
            "Fields of the JSON answer to use in later actions and branches, one per line: "
            "name: text, number or boolean."
        ),
    )


# The builder's token editor puts a space after each data token it inserts (right for
# prose): in a URL, and before the quote closing a JSON string, it is never wanted.
_SPACE_AFTER_TOKEN = re.compile(r"(\{\{[^{}]*\}\}) ")
_SPACE_BEFORE_QUOTE = re.compile(r'(\{\{[^{}]*\}\}) (?=")')


def _without_tokens(text: str) -> str:
    return TOKEN.sub("x", text)


def url_problems(url: str) -> list[str]:
    """Why `url` (tokens read as plain text) is not an absolute http(s) URL webhooks may
    call; a literal IP address is checked like the resolved ones are at run time."""
    try:
        parts = urlsplit(_without_tokens(url.strip()))
        port = parts.port
    except ValueError:
        return [_("The URL is not valid.")]
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return [_("Enter a full URL starting with https:// or http://.")]
    if parts.username is not None or parts.password is not None:
        return [_("Put credentials in a header (Authorization), not in the URL.")]
    if port == 0:
        return [_("The URL is not valid.")]
    address = literal_address(parts.hostname)
    if address is not None and not address_allowed(address):
        return [
            _("%(address)s is a private or reserved address: webhooks only reach public servers.")
            % {"address": address}
        ]
    return []


def headers_parse(text: str) -> list[tuple[str, str]]:
    """`Name: value` lines as pairs; raises ValidationError naming each bad line."""
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not HEADER_NAME.match(name):
            problems.append(_("Headers, line %(n)d: write it as Name: value.") % {"n": number})
        elif name.lower() in RESERVED_HEADERS:
            problems.append(
                _("Headers, line %(n)d: crmflow sets %(name)s itself.")
                % {"n": number, "name": name}
            )
        else:
            pairs.append((name, value.strip()))
    if len(pairs) > MAX_HEADERS:
        problems.append(_("At most %(n)d headers.") % {"n": MAX_HEADERS})
    if problems:
        raise ValidationError(problems)
    return pairs


def body_problems(body: str, method: str) -> list[str]:
    if not (body or "").strip():
        return []
    if method == "GET":
        return [_("A GET request has no body: empty the JSON body or choose another method.")]
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        message = _(
            "The JSON body is not valid JSON: %(error)s (line %(line)d, column %(col)d)."
        ) % {
            "error": error.msg,
            "line": error.lineno,
            "col": error.colno,
        }
        if "{{" in body:
            message += " " + _('Put data tokens inside quotes, e.g. "name": "{{ … }}".')
        return [message]
    return []


@dataclass(frozen=True)
class ResponseField:
    name: str
    type: str  # an OutputType


def response_fields_parse(text: str, *, strict: bool = True) -> list[ResponseField]:
    """`name: type` lines. Strict (on save): raises ValidationError naming each bad line;
    otherwise the well-formed lines only (what the picker and the run use)."""
    found: list[ResponseField] = []
    problems: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, _sep, kind = line.partition(":")
        name, kind = name.strip(), (kind.strip().lower() or "text")
        if not FIELD_NAME.match(name) or kind not in FIELD_TYPES:
            problems.append(
                _(
                    "Response fields, line %(n)d: write it as name: text, number or boolean "
                    "(a name of letters, digits and _)."
                )
                % {"n": number}
            )
        elif name in BASE_OUTPUT_NAMES or any(f.name == name for f in found):
            problems.append(
                _("Response fields, line %(n)d: “%(name)s” is already an output.")
                % {"n": number, "name": name}
            )
        else:
            found.append(ResponseField(name, FIELD_TYPES[kind]))
    if len(found) > MAX_FIELDS:
        problems.append(_("At most %(n)d response fields.") % {"n": MAX_FIELDS})
    if problems and strict:
        raise ValidationError(problems)
    return found[:MAX_FIELDS]


def config_clean(config: dict[str, Any]) -> dict[str, Any]:
    """The step's config as saved, or ValidationError with every problem at once."""
    method = str(config.get("method") or "POST").upper()
    clean = {
        "method": method,
        "url": _SPACE_AFTER_TOKEN.sub(r"\1", str(config.get("url") or "").strip()),
        "headers": str(config.get("headers") or ""),
        "body": _SPACE_BEFORE_QUOTE.sub(r"\1", str(config.get("body") or "")),
        "response_fields": str(config.get("response_fields") or ""),
    }
    problems = url_problems(clean["url"])
    for check in (
        lambda: headers_parse(clean["headers"]),
        lambda: response_fields_parse(clean["response_fields"]),
    ):
        try:
            check()
        except ValidationError as error:
            problems += error.messages
    problems += body_problems(clean["body"], method)
    if problems:
        raise ValidationError(problems)
    return clean


# --- The inbound mapping ------------------------------------------------------------


@dataclass
class MappingRow:
    field: str
    property: str
    match: bool = False


def mapping_rows_from_post(post: Any) -> list[MappingRow]:
    """The trigger panel's rows as posted (`wh-field-<i>`, `wh-property-<i>`, the radio
    `wh-match` = i), blank ones included: the panel shows what was typed."""
    count = str(post.get("wh-rows", ""))
    rows = []
    for index in range(min(int(count) if count.isdigit() else 0, MAX_MAPPING_ROWS)):
        rows.append(
            MappingRow(
                field=str(post.get(f"wh-field-{index}", "")).strip()[:200],
                property=str(post.get(f"wh-property-{index}", ""))[:100],
                match=post.get("wh-match") == str(index),
            )
        )
    return rows


def mapping_clean(
    rows: list[MappingRow], definitions: dict[str, Any]
) -> tuple[list[dict[str, str]], str, list[str]]:
    """(mapping, match property, problems) from the panel's rows: blank and half-filled
    rows are left out; the record is found by the chosen row's property, or the first's."""
    mapping: list[dict[str, str]] = []
    match = ""
    problems: list[str] = []
    for number, row in enumerate(rows, start=1):
        if not row.field or not row.property:
            continue
        if not PATH.match(row.field):
            problems.append(
                _("Row %(n)d: a JSON field is a name, or names joined by dots (data.email).")
                % {"n": number}
            )
            continue
        if row.property not in definitions:
            problems.append(_("Row %(n)d: choose a property.") % {"n": number})
            continue
        if any(item["property"] == row.property for item in mapping):
            problems.append(_("Row %(n)d: this property is already mapped.") % {"n": number})
            continue
        mapping.append({"field": row.field, "property": row.property})
        if row.match:
            match = row.property
    if mapping and not match:
        match = mapping[0]["property"]
    return mapping, match, problems
