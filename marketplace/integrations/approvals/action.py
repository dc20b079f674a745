"""The "Wait for approval" action: asks a person to approve (and maybe edit) a draft,
and pauses the enrollment until they decide, without holding a worker.

First run: creates the request (once per execution; in-app notification and email with
a signed link) and raises `WaitUntil(expires_at)`: the ledger row becomes `waiting`.
A decision resumes it (`approval_decide` → `executions_resume`); at the time-out the
sweeper does. Either way the step runs again here and returns the decision as its
outputs: `decision` (approved / rejected / timeout), `text` (the approved text, edited
or not), `original`, `edited`, `reason`, `decided_by`. Its outcomes take their own
paths through the If/then the builder adds right below it when it is added
(`branches_after`: Approved, Rejected, No decision), the engine's one way to branch.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account, Role, User
from marketplace.integrations.approvals.models import ApprovalRequest
from marketplace.integrations.approvals.services import (
    OWNER,
    ROLE_PREFIX,
    approval_expire,
    approval_request_create,
)
from workflows.context import ExecutionContext
from workflows.outcomes import WaitUntil
from workflows.registry import ActionType, CanvasText, Output, OutputType


def decision_paths(step_id: int) -> list[dict[str, Any]]:
    """If/then paths on step `step_id`'s decision: Approved, Rejected, No decision."""

    def decision(word: str) -> list[list[dict[str, Any]]]:
        return [[{"output": f"{step_id}.decision", "operator": "eq_any", "values": [word]}]]

    return [
        {"name": _("Approved"), "groups": decision("approved")},
        {"name": _("Rejected"), "groups": decision("rejected")},
        {"name": _("No decision"), "groups": decision("timeout")},
    ]


class WaitForApprovalForm(forms.Form):
    # "owner", a user id, or "role:<role>".
    approver = forms.CharField(label=gettext_lazy("Who approves"), initial=OWNER, max_length=40)
    draft = forms.CharField(
        label=gettext_lazy("Text to approve"),
        help_text=gettext_lazy(
            "Usually an earlier step’s output, e.g. the assistant’s draft. The approver can edit it."
        ),
        widget=forms.Textarea,
        max_length=50000,
    )
    instructions = forms.CharField(
        label=gettext_lazy("Instructions for the approver"),
        widget=forms.Textarea,
        required=False,
        max_length=2000,
    )
    timeout_days = forms.IntegerField(
        label=gettext_lazy("No decision after (days)"), min_value=1, max_value=60, initial=3
    )


class WaitForApproval(ActionType):
    key = "approval_wait"  # stored in graphs: never change it
    label = gettext_lazy("Wait for approval")
    description = gettext_lazy("Pause until a person approves, edits or rejects a draft.")
    section = "communication"
    # Quick: reads or writes the step's request (the approvers' email goes after that
    # write commits). Batched, a bulk approval's steps run together and the Send email
    # steps after them follow in the same batch, over one SMTP connection.
    batchable = True
    config_form = WaitForApprovalForm
    raw_config_keys = frozenset({"approver", "timeout_days"})
    outputs = (
        Output("decision", gettext_lazy("Decision")),
        Output("text", gettext_lazy("Approved text")),
        Output("original", gettext_lazy("Original text")),
        Output("edited", gettext_lazy("Edited by the approver"), OutputType.BOOLEAN),
        Output("reason", gettext_lazy("Reason")),
        Output("decided_by", gettext_lazy("Decided by")),
    )

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        approver = str(clean.get("approver") or OWNER)
        if approver.startswith(ROLE_PREFIX):
            if approver.removeprefix(ROLE_PREFIX) not in Role.values:
                raise ValidationError(_("Pick a role that exists."))
        elif approver != OWNER and not (
            approver.isdigit()
            and User.objects.filter(account=account, pk=int(approver), is_active=True).exists()
        ):
            raise ValidationError(_("Pick the record owner, a user of this account, or a role."))
        clean["approver"] = approver
        clean["timeout_days"] = int(clean.get("timeout_days") or 3)
        return clean

    def branches_after(self, step_id: int) -> list[dict[str, Any]]:
        """Its three outcomes as the paths of an If/then right below it, so that a
        builder connects each one directly (Approved goes on to what followed)."""
        return decision_paths(step_id)

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        approver = str(config.get("approver") or OWNER)
        if approver.startswith(ROLE_PREFIX):
            role = approver.removeprefix(ROLE_PREFIX)
            who = str(Role(role).label) if role in Role.values else role
        else:
            who = canvas.user(approver)
        return escape(_("Asks %(who)s") % {"who": who})

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        draft = str(context.config.get("draft") or "")
        if context.is_test or context.execution_id is None:
            return {
                "decision": "approved",
                "text": draft,
                "original": draft,
                "edited": False,
                "reason": "",
                "decided_by": "",
            }
        request = approval_request_create(
            execution_id=context.execution_id,
            workflow=context.workflow,
            record=context.record,
            approver=str(context.raw_config.get("approver") or OWNER),
            text=draft,
            instructions=str(context.config.get("instructions") or ""),
            timeout_days=int(context.raw_config.get("timeout_days") or 3),
        )
        if request.status == ApprovalRequest.Status.PENDING:
            if timezone.now() < request.expires_at:
                raise WaitUntil(request.expires_at)
            approval_expire(request=request)
            request.refresh_from_db()
        return request.outputs()
