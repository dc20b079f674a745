"""Per-user time zones: every date a page shows is in its reader's time zone.

A user's own choice (Settings › General), else the account's, else settings.TIME_ZONE;
the middleware activates it for the request, so Django's `date` filter, `localtime` and
crm/display all follow it. The format of a date is the locale's (config/formats/):
templates use the named formats ("DATE_FORMAT", "DATETIME_FORMAT"), never a
hand-written pattern. A time zone name that is no longer known reads as the default,
never as an error.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA names a user can pick, sorted (UTC first)."""
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n and "Etc/" not in n)
    return ("UTC", *names)


def time_zone_for(user: Any) -> zoneinfo.ZoneInfo:
    """The zone `user`'s pages show dates in."""
    account = getattr(user, "account", None)
    for name in (getattr(user, "time_zone", ""), getattr(account, "time_zone", "")):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class TimeZoneMiddleware:
    """Activates the signed-in user's time zone for the request (after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(time_zone_for(user))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
