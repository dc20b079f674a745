"""The System status page (super admins): workers, queues, sweeper lag, rate limiter,
failures in the last hour. Queues and workers are shared by every account; failures are
the viewer's account's only."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.access import account_for, super_admin_required
from workflows import health


@require_GET
@super_admin_required
def system_status(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    context = {
        "health": health.health_read(),
        "limiters": health.rate_limiter_states(),
        "failures": health.failures_last_hour(account.pk),
        "lag_warning_seconds": health.SWEEPER_LAG_WARNING_SECONDS,
        "heartbeat_ttl": health.HEARTBEAT_TTL_SECONDS,
        "title": _("System status"),
    }
    if request.htmx:
        return render(request, "history/status.html#status", context)
    return render(request, "history/status.html", context)
