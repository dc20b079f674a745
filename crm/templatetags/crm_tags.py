"""Template helpers for CRM pages: property labels, values, inputs, and the bell."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import formats, timezone
from django.utils.translation import pgettext

from crm import display
from crm import properties as props
from crm.models import PropertyDefinition, PropertyType

register = template.Library()


@register.filter
def usd(amount: Any) -> str:
    """A US-dollar amount as the page's language writes it: "$0.000027" in English,
    "0,000027 $" in French. `amount`: a number, or one already formatted (floatformat)."""
    if amount is None or amount == "":
        return ""
    text = amount if isinstance(amount, str) else formats.localize(amount)
    return pgettext("money", "$%(amount)s") % {"amount": text}


@register.filter
def property_label(definition: PropertyDefinition) -> str:
    return display.property_label(definition)


@register.simple_tag
def property_display(definition: PropertyDefinition, value: Any, users: dict | None = None) -> str:
    try:
        return props.display(definition, value, users=users if users is not None else {})
    except (ValueError, TypeError):
        return str(value)


@register.filter
def input_value(value: Any, definition: PropertyDefinition) -> str:
    """The stored value as an <input> expects it."""
    if value is None:
        return ""
    if definition.type == PropertyType.DATETIME:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")
    if definition.type == PropertyType.BOOLEAN:
        return "true" if value else "false"
    return str(value)


@register.inclusion_tag("crm/_property_input.html")
def property_input(
    definition: PropertyDefinition,
    value: Any,
    users,
    input_id: str = "",
    raw: Any = None,
    field_name: str = "value",
) -> dict:
    shown = raw if raw is not None else input_value(value, definition)
    return {
        "definition": definition,
        "value": shown,
        "users": users.values() if isinstance(users, dict) else users,
        "input_id": input_id or f"field-{definition.name}",
        "field_name": field_name,
    }


@register.inclusion_tag("crm/_notifications_bell.html", takes_context=True)
def notifications_bell(context) -> dict:
    """One COUNT on the (recipient, read_at) index per page."""
    request = context.get("request")
    user = getattr(request, "user", None)
    count = 0
    if user is not None and user.is_authenticated and getattr(user, "account_id", None):
        from crm.notifications import unread_count

        count = unread_count(user)
    return {"unread_count": count}


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    if mapping is None:
        return None
    return mapping.get(key)
