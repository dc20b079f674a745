"""Idle session timeout: a signed-in session unused for SESSION_IDLE_TIMEOUT_MINUTES is
signed out at its next request (the sign-in page follows, through
LoginRequiredMiddleware). The last activity is written at most once a minute, not on
every request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LAST_SEEN = "crmflow_last_seen"


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        minutes = settings.SESSION_IDLE_TIMEOUT_MINUTES
        user = getattr(request, "user", None)
        if minutes > 0 and user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            if isinstance(last, int) and now - last > minutes * 60:
                logout(request)
            elif not isinstance(last, int) or now - last >= 60:
                request.session[LAST_SEEN] = now
        return self.get_response(request)
