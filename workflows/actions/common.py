"""Helpers shared by built-in actions: recipients and assignees."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import Account, Record, User

OWNER = "owner"


def users_check(account: Account, values: list[Any]) -> list[int | str]:
    """Validate a list of user ids and/or "owner" (the record owner) for an account."""
    ids = [v for v in values if str(v) != OWNER]
    if any(not str(v).isdigit() for v in ids):
        raise ValidationError(_("Pick users of this account or the record owner."))
    found = set(
        User.objects.filter(
            account=account, pk__in=[int(v) for v in ids], is_active=True
        ).values_list("pk", flat=True)
    )
    if len(found) != len({int(v) for v in ids}):
        raise ValidationError(_("Pick users of this account or the record owner."))
    return [OWNER if str(v) == OWNER else int(v) for v in values]


def users_resolve(account: Account, record: Record, values: list[Any]) -> list[User]:
    """The active users the config names, "owner" replaced by the record's owner."""
    wanted = (record.owner_id if str(v) == OWNER else int(v) for v in values)
    ids = {pk for pk in wanted if pk is not None}
    return list(User.objects.filter(account=account, pk__in=ids, is_active=True).order_by("pk"))
