"""The notification inbox behind the bell: list, open (marks read), mark all read."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm.access import account_for, notification_for, require_account
from crm.display import notification_entries
from crm.models import Notification
from crm.notifications import mark_read
from crm.views.common import safe_next

PER_PAGE = 30


@require_GET
@require_account
def notification_list(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    notifications = Notification.objects.filter(account=account, recipient=request.user).order_by(
        "-created_at", "-id"
    )
    if request.GET.get("unread") == "1":
        notifications = notifications.filter(read_at__isnull=True)
    page = Paginator(notifications, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "crm/notification_list.html",
        {
            "page": page,
            "entries": notification_entries(page, account=account),
            "unread_only": request.GET.get("unread") == "1",
        },
    )


@require_POST
@require_account
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read, then go where it points (always a local path)."""
    notification = notification_for(request, pk)
    mark_read(request.user, [notification.pk])
    return redirect(notification.url or "crm:notification_list")


@require_POST
@require_account
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    account_for(request)
    mark_read(request.user)
    return redirect(safe_next(request, reverse("crm:notification_list")))
