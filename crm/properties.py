"""Property values: validation and normalisation by type, display, and index columns.

`normalize()` turns what a person typed (form, CSV cell, API JSON) into the stored
value, or raises ValidationError with a message that says what to type instead.
`index_columns()` is the one definition of how a stored value is indexed; the record
list filters (SQL) and the per-record evaluation of criteria (Python) both use it, so
they always agree.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm.models import PropertyDefinition, PropertyType, User

TEXT_INDEX_LENGTH = 255
MAX_TEXT_LENGTH = 1_000
MAX_TEXTAREA_LENGTH = 65_535
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "yes", "1", "on", "oui", "vrai"}
_FALSE = {"false", "no", "0", "off", "non", "faux"}


def normalize(definition: PropertyDefinition, raw: Any) -> Any:
    """The stored form of `raw`, or None for "no value" (clears the property)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        # PostgreSQL cannot store NUL in text or jsonb: drop it rather than fail later.
        raw = raw.replace("\x00", "").strip()
        if raw == "":
            return None
    kind = definition.type
    label = definition.label
    if kind == PropertyType.TEXT:
        value = " ".join(str(raw).split())
        if len(value) > MAX_TEXT_LENGTH:
            raise ValidationError(
                _("%(label)s is too long (%(length)d characters; the limit is %(limit)d).")
                % {"label": label, "length": len(value), "limit": MAX_TEXT_LENGTH}
            )
        if definition.name == "email":
            try:
                validate_email(value)
            except ValidationError:
                raise ValidationError(
                    _("“%(value)s” is not a valid email address (expected name@example.com).")
                    % {"value": value[:100]}
                ) from None
            value = value.lower()
        return value
    if kind == PropertyType.TEXTAREA:
        value = str(raw).replace("\r\n", "\n")
        if len(value) > MAX_TEXTAREA_LENGTH:
            raise ValidationError(
                _("%(label)s is too long (%(length)d characters; the limit is %(limit)d).")
                % {"label": label, "length": len(value), "limit": MAX_TEXTAREA_LENGTH}
            )
        return value
    if kind == PropertyType.NUMBER:
        return _normalize_number(label, raw)
    if kind == PropertyType.DATE:
        return _normalize_date(label, raw).isoformat()
    if kind == PropertyType.DATETIME:
        moment = _normalize_datetime(label, raw).astimezone(dt.UTC)
        return moment.isoformat().replace("+00:00", "Z")
    if kind == PropertyType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError(
            _("“%(value)s” is not a yes/no value for %(label)s. Use true or false.")
            % {"value": str(raw)[:100], "label": label}
        )
    if kind == PropertyType.ENUMERATION:
        text = str(raw)
        shown = definition.shown_options
        for option, shown_option in zip(definition.options, shown, strict=True):
            if text.lower() in (
                option["value"].lower(),
                option["label"].lower(),
                shown_option["label"].lower(),
            ):
                return option["value"]
        choices = ", ".join(option["label"] for option in shown)
        raise ValidationError(
            _("“%(value)s” is not an option of %(label)s. Choose one of: %(choices)s.")
            % {"value": text[:100], "label": label, "choices": choices}
        )
    if kind == PropertyType.OWNER:
        return _normalize_owner(definition, raw)
    raise ValidationError(_("Unknown property type %(type)s.") % {"type": kind})


def _normalize_number(label: str, raw: Any) -> str:
    if isinstance(raw, bool):
        raise ValidationError(_("%(label)s must be a number.") % {"label": label})
    text = str(raw).replace(" ", "").replace("\u00a0", "")
    if isinstance(raw, str) and "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")  # "12,5" as typed in French
    if not _NUMBER.match(text):
        raise ValidationError(
            _("“%(value)s” is not a number. Use digits with a dot for decimals, e.g. 1250.50.")
            % {"value": str(raw)[:100]}
        )
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValidationError(
            _("“%(value)s” is not a number.") % {"value": str(raw)[:100]}
        ) from None
    if not number.is_finite() or abs(number) >= Decimal("1e15"):
        raise ValidationError(_("%(label)s is out of range.") % {"label": label})
    normalized = format(number.normalize(), "f")
    return normalized


def _normalize_date(label: str, raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw)
    for parse in (dt.date.fromisoformat, lambda t: dt.datetime.strptime(t, "%d/%m/%Y").date()):
        try:
            return parse(text)
        except ValueError:
            continue
    raise ValidationError(
        _("“%(value)s” is not a date for %(label)s. Use YYYY-MM-DD, e.g. 2026-03-31.")
        % {"value": text[:100], "label": label}
    )


def _normalize_datetime(label: str, raw: Any) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        moment = raw
    else:
        text = str(raw).replace("Z", "+00:00")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                _(
                    "“%(value)s” is not a date and time for %(label)s. "
                    "Use YYYY-MM-DD HH:MM, e.g. 2026-03-31 14:30."
                )
                % {"value": str(raw)[:100], "label": label}
            ) from None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=timezone.get_current_timezone())
    return moment


def _normalize_owner(definition: PropertyDefinition, raw: Any) -> int:
    users = User.objects.filter(account_id=definition.account_id, is_active=True)
    text = str(raw)
    user = None
    # Usernames and emails are at most 254 characters; longer input cannot match, and
    # SQLite refuses a LIKE pattern that long ("pattern too complex").
    if len(text) > 254:
        raise ValidationError(
            _("“%(value)s” is not a user of this account. Use a username or email of a user.")
            % {"value": text[:100]}
        )
    if text.isdigit() and len(text) <= 18:
        user = users.filter(pk=int(text)).first()
    if user is None:
        user = (
            users.filter(username__iexact=text).first() or users.filter(email__iexact=text).first()
        )
    if user is None:
        raise ValidationError(
            _("“%(value)s” is not a user of this account. Use a username or email of a user.")
            % {"value": text[:100]}
        )
    return user.pk


def index_columns(definition: PropertyDefinition, value: Any) -> dict[str, Any]:
    """The PropertyValue columns for a stored value (all None when unset)."""
    columns: dict[str, Any] = {"text_value": None, "number_value": None, "datetime_value": None}
    if value is None:
        return columns
    kind = definition.type
    if kind in (PropertyType.NUMBER, PropertyType.OWNER):
        columns["number_value"] = float(value)
    elif kind == PropertyType.DATE:
        day = dt.date.fromisoformat(value)
        columns["datetime_value"] = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    elif kind == PropertyType.DATETIME:
        columns["datetime_value"] = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif kind == PropertyType.BOOLEAN:
        columns["text_value"] = "true" if value else "false"
    else:
        columns["text_value"] = str(value).lower()[:TEXT_INDEX_LENGTH]
    return columns


def token_text(definition: PropertyDefinition, value: Any) -> str:
    """How a stored value reads in a data token: as in the UI, but dates stay ISO
    (2026-12-03, 2026-12-03 14:05) so that a token copied into a date field parses."""
    if value is not None and definition.type == PropertyType.DATETIME:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    if value is not None and definition.type == PropertyType.DATE:
        return str(value)
    return display(definition, value)


def display(
    definition: PropertyDefinition, value: Any, *, users: dict[int, Any] | None = None
) -> str:
    """How a stored value reads in the UI: an option by its label, a user by name, a
    date in the locale's format (config/formats/)."""
    if value is None:
        return ""
    kind = definition.type
    if kind == PropertyType.ENUMERATION:
        return definition.option_label(value)
    if kind == PropertyType.BOOLEAN:
        return _("Yes") if value else _("No")
    if kind == PropertyType.OWNER:
        if users is not None and value in users:
            return str(users[value])
        user = User.objects.filter(pk=value).first()
        return str(user) if user else ""
    if kind == PropertyType.DATETIME:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    if kind == PropertyType.DATE:
        return formats.date_format(dt.date.fromisoformat(str(value)), "DATE_FORMAT")
    return str(value)
