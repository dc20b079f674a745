"""Asking and deciding. A decision is recorded once: a conditional UPDATE from
`pending` (and not past its time-out); whoever matches no row lost the race and is
told who decided. The winner resumes the waiting step in the same transaction
(`workflows.services.executions_resume`), which then runs again and reads it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from crm.models import Record, Role, User
from crm.notifications import Message, notify
from marketplace.integrations.approvals.models import ApprovalRequest
from workflows.models import Workflow
from workflows.services import executions_resume

Status = ApprovalRequest.Status
SALT = "crmflow.approvals.link"
OWNER = "owner"
ROLE_PREFIX = "role:"
# How long a request's link keeps working after the request's own time-out.
LINK_GRACE = dt.timedelta(days=1)


def approval_link_path(request: ApprovalRequest) -> str:
    token = signing.TimestampSigner(salt=SALT).sign_object([request.account_id, request.pk])
    return reverse("marketplace:approval_link", args=[token])


def approval_from_link(token: str, *, max_age: dt.timedelta) -> tuple[int, int] | None:
    """(account id, request id) a link names, or None (forged, altered, too old)."""
    try:
        account_id, pk = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return int(account_id), int(pk)


def approvers_of(request: ApprovalRequest) -> list[User]:
    users = User.objects.filter(account_id=request.account_id, is_active=True)
    if request.approver_id:
        return list(users.filter(pk=request.approver_id))
    return list(users.filter(role=request.approver_role).order_by("pk")[:50])


@transaction.atomic  # the request and its in-app notification appear together
def approval_request_create(
    *,
    execution_id: int,
    workflow: Workflow,
    record: Record,
    approver: str,
    text: str,
    instructions: str,
    timeout_days: int,
) -> ApprovalRequest:
    """The step's request (created once per execution) and its notifications: in-app
    and an email with the request's signed link, each once per approver."""
    existing = (
        ApprovalRequest.objects.filter(execution_id=execution_id)
        .select_related("decided_by")
        .first()
    )
    if existing is not None:
        return existing
    user_id, role = None, ""
    if approver == OWNER:
        user_id = record.owner_id
    elif approver.startswith(ROLE_PREFIX):
        role = approver.removeprefix(ROLE_PREFIX)
    elif approver.isdigit():
        user_id = int(approver)
    if user_id is None and not role:
        role = Role.SUPER_ADMIN  # no owner to ask: the account's super admins decide
    try:
        with transaction.atomic():
            request = ApprovalRequest.objects.create(
                account_id=workflow.account_id,
                execution_id=execution_id,
                workflow=workflow,
                record=record,
                approver_id=user_id,
                approver_role=role,
                instructions=instructions,
                original_text=text,
                text=text,
                expires_at=timezone.now() + dt.timedelta(days=timeout_days),
            )
    except IntegrityError:
        return ApprovalRequest.objects.get(execution_id=execution_id)
    notify(
        account=workflow.account,
        recipients=approvers_of(request),
        title=Message(
            gettext_noop("Approval requested: %(record)s (%(workflow)s)"),
            {"record": record, "workflow": workflow.name},
        ),
        body=instructions or text[:500],
        url=approval_link_path(request),
        idempotency_key=f"approval:{request.pk}",
        email=True,
    )
    return request


def approval_decide(
    *,
    request: ApprovalRequest,
    user: User,
    approve: bool,
    text: str | None = None,
    reason: str = "",
) -> bool:
    """Record `user`'s decision unless someone decided first (or it timed out): True
    when this call decided. Approving may replace the text (the edited draft)."""
    now = timezone.now()
    values: dict[str, object] = {
        "status": Status.APPROVED if approve else Status.REJECTED,
        "decided_by": user,
        "decided_at": now,
        "reason": reason[:5000],
    }
    if approve and text is not None:
        values["text"] = text
    with transaction.atomic():
        decided = ApprovalRequest.objects.filter(
            pk=request.pk, status=Status.PENDING, expires_at__gt=now
        ).update(**values)
        if decided:
            executions_resume(execution_ids=[request.execution_id])
    return bool(decided)


def approvals_bulk_approve(*, user: User, request_ids: Iterable[int]) -> int:
    """Approve the chosen pending requests of `user`'s account as they are (super
    admins), set-based whatever their number: one conditional UPDATE decides them all
    (a request decided or timed out meanwhile is left as it is), one SELECT reads back
    the steps this call decided (stamped with this call's `decided_at`), and one resume
    wakes them. Returns how many this call decided."""
    now = timezone.now()
    with transaction.atomic():
        decided = ApprovalRequest.objects.filter(
            account_id=user.account_id,
            pk__in=list(request_ids),
            status=Status.PENDING,
            expires_at__gt=now,
        ).update(status=Status.APPROVED, decided_by=user, decided_at=now, reason="")
        if decided:
            execution_ids = list(
                ApprovalRequest.objects.filter(
                    account_id=user.account_id,
                    status=Status.APPROVED,
                    decided_by=user,
                    decided_at=now,
                ).values_list("execution_id", flat=True)
            )
            executions_resume(execution_ids=execution_ids)
    return decided


def approval_expire(*, request: ApprovalRequest) -> bool:
    """No decision in time: the step takes its time-out path (unless someone decided)."""
    return bool(
        ApprovalRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(
            status=Status.EXPIRED, decided_at=timezone.now()
        )
    )


def site_url(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"
