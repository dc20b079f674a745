"""The Approvals inbox, one request's page, its signed link, and the decisions.
Every view loads requests from the user's account (another account's is a 404)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from crm.access import account_for
from crm.models import User
from marketplace.integrations.approvals.models import ApprovalRequest
from marketplace.integrations.approvals.services import (
    LINK_GRACE,
    approval_decide,
    approval_from_link,
    approvals_bulk_approve,
)

Status = ApprovalRequest.Status
VIEWS = ("mine", "team", "all")
GONE = "marketplace_approvals/gone.html"


class UserRequest(HttpRequest):
    user: User


def approval_for(request: UserRequest, pk: int) -> ApprovalRequest:
    found = (
        ApprovalRequest.objects.filter(account=account_for(request), pk=pk)
        .select_related("record", "workflow", "approver", "decided_by")
        .first()
    )
    if found is None:
        raise Http404
    return found


def _inbox(user: User, view: str, status: str) -> QuerySet[ApprovalRequest]:
    requests = ApprovalRequest.objects.filter(account_id=user.account_id)
    if view == "mine":
        requests = requests.filter(approver=user)
    elif view == "team":
        requests = requests.filter(Q(approver=user) | Q(approver_role=user.role))
    if status == "pending":
        requests = requests.filter(status=Status.PENDING, expires_at__gt=timezone.now())
    elif status == "decided":
        requests = requests.exclude(status=Status.PENDING)
    return requests.select_related("record", "workflow", "approver", "decided_by").order_by(
        "-created_at", "-pk"
    )


@require_GET
def inbox(request: UserRequest) -> HttpResponse:
    view = request.GET.get("view", "mine")
    view = view if view in VIEWS else "mine"
    status = request.GET.get("status", "pending")
    status = status if status in ("pending", "decided", "all") else "pending"
    requests = list(_inbox(request.user, view, status)[:200])
    return render(
        request,
        "marketplace_approvals/inbox.html",
        {"requests": requests, "view": view, "status": status},
    )


@require_POST
def bulk_approve(request: UserRequest) -> HttpResponse:
    if not request.user.is_super_admin:
        raise PermissionDenied(_("Only super admins can approve several requests at once."))
    ids = [int(pk) for pk in request.POST.getlist("request") if pk.isdigit() and len(pk) < 19]
    decided = approvals_bulk_approve(user=request.user, request_ids=ids)
    messages.success(
        request,
        ngettext("%(n)d request approved.", "%(n)d requests approved.", decided) % {"n": decided},
    )
    return redirect(f"{reverse('marketplace:approvals_inbox')}?view=all")


@require_GET
def detail(request: UserRequest, pk: int) -> HttpResponse:
    approval = approval_for(request, pk)
    return _detail_page(request, approval)


def _detail_page(request: UserRequest, approval: ApprovalRequest) -> HttpResponse:
    open_now = approval.status == Status.PENDING and approval.expires_at > timezone.now()
    return render(
        request,
        "marketplace_approvals/detail.html",
        {
            "approval": approval,
            "open": open_now,
            "can_decide": open_now and approval.can_decide(request.user),
        },
    )


@require_GET
def link(request: UserRequest, token: str) -> HttpResponse:
    """The email's signed link: the request's page, or a clear 404 when the link is for
    another account, altered, or expired (undecided past its time-out)."""
    found = approval_from_link(token, max_age=dt.timedelta(days=61))
    account = account_for(request)
    if found is None or found[0] != account.pk:
        return render(request, GONE, {"reason": "unknown"}, status=404)
    approval = approval_for(request, found[1])
    expired = approval.status == Status.EXPIRED or (
        approval.status == Status.PENDING and approval.expires_at + LINK_GRACE < timezone.now()
    )
    if expired:
        return render(request, GONE, {"reason": "expired", "approval": approval}, status=404)
    return _detail_page(request, approval)


@require_POST
def decide(request: UserRequest, pk: int) -> HttpResponse:
    approval = approval_for(request, pk)
    if not approval.can_decide(request.user):
        raise PermissionDenied(_("This request asks someone else to decide."))
    approve = request.POST.get("decision") == "approve"
    text = request.POST.get("text")
    if approve and text is not None and not text.strip():
        messages.error(request, _("The text to send is empty: write it, or reject the request."))
        return redirect("marketplace:approval_detail", pk=approval.pk)
    if approval_decide(
        request=approval,
        user=request.user,
        approve=approve,
        text=text.replace("\r\n", "\n") if text is not None else None,
        reason=request.POST.get("reason", "").strip(),
    ):
        messages.success(request, _("Approved.") if approve else _("Rejected."))
    else:
        approval.refresh_from_db()
        messages.error(
            request,
            _("Someone else decided first: %(who)s.") % {"who": approval.decided_by or "—"}
            if approval.decided_by
            else _("This request can no longer be decided."),
        )
    return redirect("marketplace:approval_detail", pk=approval.pk)
