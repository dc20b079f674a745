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

from collections.abc import Iterator, Sequence
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
from ops.logs import log_context
from workflows.context import ExecutionContext
from workflows.outcomes import Outcome, Success, Wait, WaitUntil, outcome_of
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


# The builder shows the stored choice ("owner", a user id, "role:<role>") as a kind of
# approver, then a select of that kind; a kind chosen with nothing picked yet is kept as
# USER_PENDING or a bare ROLE_PREFIX (saved as incomplete, saying what to choose).
OWNER_KIND, USER_KIND, ROLE_KIND = "owner", "user", "role"
USER_PENDING = "user:"


def approver_kind(approver: str) -> str:
    if approver.startswith(ROLE_PREFIX):
        return ROLE_KIND
    return USER_KIND if approver.isdigit() or approver == USER_PENDING else OWNER_KIND


def approver_user_choices(account: Account, current: str) -> list[tuple[str, str]]:
    """The account's active users by name (and email address). A stored user who is no
    longer one of them stays listed as such: opening the step never changes who
    approves silently (saving it says what to fix)."""
    choices = [("", _("Choose a user"))]
    for user in User.objects.filter(account=account, is_active=True).order_by(
        "first_name", "last_name", "username"
    ):
        name = user.get_full_name() or user.username
        choices.append((str(user.pk), f"{name} ({user.email})" if user.email else name))
    if current and current not in {value for value, _label in choices}:
        choices.append((current, _("A user who can no longer approve (#%(id)s)") % {"id": current}))
    return choices


def approver_role_choices(current: str) -> list[tuple[str, str]]:
    choices = [("", _("Choose a role")), *((value, str(label)) for value, label in Role.choices)]
    if current and current not in Role.values:
        choices.append((current, _("A role that no longer exists (%(role)s)") % {"role": current}))
    return choices


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

    # --- The builder ----------------------------------------------------------------

    def builder_form(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> forms.Form:
        """ "Who approves" as the record owner, a user picked from the account's active
        users, or a role picked from the roles; the select that does not apply stays
        in the form hidden, and changing the kind shows the other one."""
        approver = str(config.get("approver") or OWNER)
        kind = approver_kind(approver)
        user = approver if kind == USER_KIND and approver != USER_PENDING else ""
        role = approver.removeprefix(ROLE_PREFIX) if kind == ROLE_KIND else ""
        form = WaitForApprovalForm(
            initial={**config, "approver_kind": kind, "approver_user": user, "approver_role": role}
        )
        del form.fields["approver"]
        kinds = forms.ChoiceField(
            label=gettext_lazy("Who approves"),
            choices=[
                (OWNER_KIND, gettext_lazy("The record owner")),
                (USER_KIND, gettext_lazy("A specific user")),
                (ROLE_KIND, gettext_lazy("Anyone with a role")),
            ],
        )
        users = forms.ChoiceField(
            label=gettext_lazy("User"),
            choices=approver_user_choices(account, user),
            required=False,
            widget=forms.Select if kind == USER_KIND else forms.HiddenInput,
        )
        roles = forms.ChoiceField(
            label=gettext_lazy("Role"),
            choices=approver_role_choices(role),
            required=False,
            help_text=gettext_lazy(
                "Any active user with this role can decide; the first decision counts."
            ),
            widget=forms.Select if kind == ROLE_KIND else forms.HiddenInput,
        )
        rest = dict(form.fields)
        form.fields = {
            "approver_kind": kinds,
            "approver_user": users,
            "approver_role": roles,
            **rest,
        }
        form.refresh_fields = ("approver_kind",)  # type: ignore[attr-defined]
        return form

    def config_from_builder(self, values: dict[str, Any]) -> dict[str, Any]:
        config = {
            name: value
            for name, value in values.items()
            if name not in ("approver_kind", "approver_user", "approver_role")
        }
        kind = values.get("approver_kind")
        if kind == USER_KIND:
            config["approver"] = str(values.get("approver_user") or "") or USER_PENDING
        elif kind == ROLE_KIND:
            config["approver"] = ROLE_PREFIX + str(values.get("approver_role") or "")
        elif kind == OWNER_KIND:
            config["approver"] = OWNER
        return config

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        approver = str(clean.get("approver") or OWNER)
        if approver.startswith(ROLE_PREFIX):
            role = approver.removeprefix(ROLE_PREFIX)
            if not role:
                raise ValidationError(_("Who approves: choose a role."))
            if role not in Role.values:
                raise ValidationError(
                    _("Who approves: the role “%(role)s” no longer exists. Choose another.")
                    % {"role": role}
                )
        elif approver == USER_PENDING:
            raise ValidationError(_("Who approves: choose a user."))
        elif approver.isdigit():
            user = User.objects.filter(account=account, pk=int(approver)).first()
            if user is None:
                raise ValidationError(
                    _(
                        "Who approves: the user chosen (#%(id)s) was deleted. Choose another "
                        "user, the record owner or a role."
                    )
                    % {"id": approver}
                )
            if not user.is_active:
                raise ValidationError(
                    _(
                        "Who approves: %(name)s was deactivated. Choose another user, the "
                        "record owner or a role."
                    )
                    % {"name": user.get_full_name() or user.username}
                )
        elif approver != OWNER:
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
        if approver in (USER_PENDING, ROLE_PREFIX):
            return escape(_("Who approves is not chosen yet"))
        if approver.startswith(ROLE_PREFIX):
            role = approver.removeprefix(ROLE_PREFIX)
            who = str(Role(role).label) if role in Role.values else role
        else:
            who = canvas.user(approver)
        return escape(_("Asks %(who)s") % {"who": who})

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        return self._decision(context, None)

    def execute_many(
        self, contexts: list[ExecutionContext]
    ) -> Iterator[Sequence[tuple[int, Outcome | Wait]]]:
        """A bulk approval resumes hundreds of these at once: their requests are read
        in one query (not one each); a step running for the first time creates its
        request as `execute` does."""
        ids = [c.execution_id for c in contexts if c.execution_id is not None and not c.is_test]
        known = {
            request.execution_id: request
            for request in ApprovalRequest.objects.filter(execution_id__in=ids).select_related(
                "decided_by"
            )
        }
        finished: list[tuple[int, Outcome | Wait]] = []
        for index, context in enumerate(contexts):
            with log_context(execution_id=context.execution_id, account_id=context.account.pk):
                try:
                    outputs = self._decision(context, known.get(context.execution_id or 0))
                    finished.append((index, Success(outputs)))
                except WaitUntil as wait:
                    finished.append((index, Wait(wait.at)))
                except Exception as error:  # noqa: BLE001 - outcome_of classifies it
                    finished.append((index, outcome_of(error)))
        yield finished

    def _decision(
        self, context: ExecutionContext, request: ApprovalRequest | None
    ) -> dict[str, Any]:
        """The decision as outputs; raises WaitUntil while there is none. `request`: the
        step's request if it was read already (None: read it, or create it)."""
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
        request = request or approval_request_create(
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
