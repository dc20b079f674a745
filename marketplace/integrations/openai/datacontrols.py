"""What an AI call may send of the CRM (Settings › AI data; docs/data-controls.md).

- **Blocked properties**: a property marked sensitive (`PropertyDefinition.sensitive`)
  is never sent. A data token naming it resolves to WITHHELD (workflows.tokens) and a
  CRM tool shows WITHHELD as its value (tools/); a tool refuses to filter on it.
- **Masking** (`Account.ai_mask_text`): email addresses, phone numbers and card-like
  numbers in the prompt text and in tool results are replaced by placeholders before
  they leave. It is a pattern match on text, not a guarantee: see `mask_text`.
- **Retention** (`Account.ai_retention_days`): retention.py.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from crm.models import WITHHELD, Account, PropertyDefinition
from workflows.tokens import TOKEN

__all__ = ["WITHHELD", "mask_text", "masking_on", "sent_definitions", "withheld_tokens_problems"]

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
CARD_MASK = "[card number]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# 13 to 19 digits, optionally grouped by spaces or dashes (payment card lengths).
_CARD = re.compile(r"(?<![\d])(?:\d[ \-]?){12,18}\d(?![\d])")
# A phone number: an optional + or (, then 7 to 15 digits separated by at most two of
# space, dot, dash or parentheses. ISO dates (2026-12-03) are left alone.
_PHONE = re.compile(r"(?<![\w+])(?!\d{4}-\d{2}-\d{2})[+(]?\d(?:[\s().\-]{0,2}\d){6,14}(?![\w])")


def mask_text(text: str) -> str:
    """Email addresses, card-like numbers (13-19 digits), then phone-like numbers (7-15
    digits) replaced by placeholders. It does not catch what does not look like one:
    an address written "jane at acme dot com", a number spelled out or split by
    letters, a phone number of fewer than 7 digits, names, street addresses; and it
    also masks other long numbers (an order number of 7+ digits reads as a phone)."""
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _CARD.sub(CARD_MASK, text)
    return _PHONE.sub(PHONE_MASK, text)


def masking_on(account: Account) -> bool:
    return bool(account.ai_mask_text)


def sent_definitions(
    definitions: dict[str, PropertyDefinition],
) -> tuple[dict[str, PropertyDefinition], set[str]]:
    """(the properties that may be sent, the names of those withheld)."""
    allowed = {name: d for name, d in definitions.items() if not d.sensitive}
    return allowed, set(definitions) - set(allowed)


def withheld_tokens_problems(prompt: str, account: Account) -> list[str]:
    """The builder's review warning for a prompt whose data tokens name sensitive
    properties (sent as WITHHELD). `object.<name>` is checked against every object's
    properties of that name (the review does not say which object the step runs on)."""
    names: set[tuple[str | None, str]] = set()
    for match in TOKEN.finditer(prompt):
        root, path = match.group("root"), match.group("path")
        if root == "object":
            names.add((None, path.split(".")[0]))
        elif root == "associated" and "." in path:
            object_type, name = path.split(".", 1)
            names.add((object_type, name))
    if not names:
        return []
    sensitive = set(
        PropertyDefinition.objects.filter(
            account=account, sensitive=True, name__in={name for _o, name in names}
        ).values_list("object_type", "name")
    )
    blocked = sorted(
        name
        for object_type, name in names
        if any(n == name and (object_type is None or o == object_type) for o, n in sensitive)
    )
    if not blocked:
        return []
    return [
        _(
            "The prompt uses sensitive properties (%(names)s): OpenAI is sent “[withheld]” "
            "instead. An admin can allow them in Settings › AI data."
        )
        % {"names": ", ".join(blocked)}
    ]
