"""One request for a person's decision, made by a "Wait for approval" step (one per
execution): what the step waits for while its ledger row is `waiting`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import User


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a decision")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("No decision in time")

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    # The waiting step's ActionExecution id: one request per execution, so a re-run of
    # the step (after a lost worker) finds its request instead of asking twice.
    execution_id = models.BigIntegerField(unique=True)
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="+")
    record = models.ForeignKey("crm.Record", on_delete=models.CASCADE, related_name="+")
    # Who may decide: a user (a chosen one, or the record's owner when asked), or
    # anyone with `approver_role`. Super admins may always decide.
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    approver_role = models.CharField(max_length=20, blank=True)
    instructions = models.TextField(blank=True)
    # The draft as the step resolved it, and the text approved (edited or not).
    original_text = models.TextField(blank=True)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        indexes = [
            models.Index(fields=["account", "status", "created_at"], name="approval_inbox"),
        ]

    def __str__(self) -> str:
        return f"Approval #{self.pk} ({self.status})"

    def can_decide(self, user: User) -> bool:
        return user.account_id == self.account_id and (
            user.is_super_admin
            or self.approver_id == user.pk
            or (bool(self.approver_role) and user.role == self.approver_role)
        )

    def outputs(self) -> dict[str, Any]:
        """This step's outputs once decided (what the next steps' tokens read)."""
        decision = {
            self.Status.APPROVED: "approved",
            self.Status.REJECTED: "rejected",
            self.Status.EXPIRED: "timeout",
        }.get(self.Status(self.status), "")
        return {
            "decision": decision,
            "text": self.text if decision == "approved" else "",
            "original": self.original_text,
            "edited": decision == "approved" and self.text != self.original_text,
            "reason": self.reason,
            "decided_by": str(self.decided_by) if self.decided_by else "",
        }
