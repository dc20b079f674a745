"""Two kinds of assistant behind one Assistant selection dropdown.

A selection is stored in the action's config as `ws:<workspace assistant id>` or
`acct:<OpenAI assistant id>` (see PRODUCT.md §2: workspace assistants run on the
Responses API, account assistants on Assistants v2 while the account still serves it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.audit import AuditAction, audit_record
from crm.notifications import Message
from marketplace.integrations.openai.assistants_list import (
    AccountAssistant,
    cached_account_assistants,
    cached_listing,
)
from marketplace.integrations.openai.client import connection_client
from marketplace.integrations.openai.errors import AssistantError
from marketplace.integrations.openai.listing import SLUG
from marketplace.integrations.openai.models import WorkspaceAssistant
from marketplace.integrations.openai.notifications import admins_notify
from marketplace.integrations.openai.specs import FieldType
from marketplace.models import Connection

WORKSPACE = "ws"
ACCOUNT = "acct"
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
# A workspace assistant's id: ASCII digits that fit the database's bigint.
_WORKSPACE_ID = re.compile(r"^[0-9]{1,18}$")


@dataclass(frozen=True)
class Selection:
    kind: str  # "ws" | "acct"
    ident: str

    @property
    def value(self) -> str:
        return f"{self.kind}:{self.ident}"


def selection_parse(value: str | None) -> Selection | None:
    """`ws:12` / `acct:asst_abc` → Selection; anything else → None."""
    kind, _sep, ident = (value or "").partition(":")
    if kind == WORKSPACE and _WORKSPACE_ID.match(ident):
        return Selection(WORKSPACE, ident)
    if kind == ACCOUNT and _ACCOUNT_ID.match(ident):
        return Selection(ACCOUNT, ident)
    return None


def workspace_assistant_for(account, selection: Selection, *, include_archived=False):
    if selection.kind != WORKSPACE:
        return None
    rows = WorkspaceAssistant.objects.for_account(account)
    if not include_archived:
        rows = rows.active()
    return rows.filter(pk=int(selection.ident)).first()


def connection_for_account(account) -> Connection | None:
    return (
        Connection.objects.for_account(account)
        .filter(app=SLUG)
        .select_related("openai_endpoint")
        .first()
    )


def connection_key(connection: Connection) -> str:
    """The rate limiter's and caches' name for a connection (a new key starts afresh)."""
    return f"{connection.pk}-{connection.secret_fingerprint}"


@dataclass
class AssistantChoices:
    """What the dropdown shows: two optgroups; `account_note` when the second is hidden."""

    workspace: list[tuple[str, str]] = field(default_factory=list)
    account: list[tuple[str, str]] = field(default_factory=list)
    account_available: bool = True
    account_note: str = ""
    account_models: dict[str, str] = field(default_factory=dict)  # asst id → model

    def as_choices(self) -> list:
        """Each group says where its assistants live; a name found in both groups is
        followed by its origin, so the two are told apart in the closed dropdown too."""
        both = {name for _v, name in self.workspace} & {name for _v, name in self.account}
        groups: list = [("", "—")]
        if self.workspace:
            groups.append(
                (
                    _("In crmflow"),
                    [
                        (
                            value,
                            _("%(name)s (in crmflow)") % {"name": name} if name in both else name,
                        )
                        for value, name in self.workspace
                    ],
                )
            )
        if self.account:
            groups.append(
                (
                    _("In your OpenAI account"),
                    [
                        (
                            value,
                            _("%(name)s (in your OpenAI account)") % {"name": name}
                            if name in both
                            else name,
                        )
                        for value, name in self.account
                    ],
                )
            )
        return groups


def assistant_choices(*, account, refresh: bool = False) -> AssistantChoices:
    """Workspace assistants (active) and, when the connection serves them, every
    account assistant (all pages, cached per connection; `refresh` re-lists).

    A 404/410 (the Assistants API is gone) hides the group and tells the admins once;
    other errors (revoked key, OpenAI down) hide it with a note, uncached."""
    result = AssistantChoices(
        workspace=[
            (a.choice_value, a.name)
            for a in WorkspaceAssistant.objects.for_account(account).active()
        ]
    )
    connection = connection_for_account(account)
    if connection is None or not connection.is_installed or not connection.encrypted_secret:
        result.account_available = False
        return result
    try:
        listing = cached_account_assistants(
            connection_client(connection), connection_key(connection), refresh=refresh
        )
    except AssistantError as error:
        result.account_available = False
        result.account_note = str(error)
        return result
    if not listing.available:
        result.account_available = False
        result.account_note = listing.reason
        account_assistants_unavailable_notify(connection=connection, reason=listing.reason)
        return result
    result.account = [(f"{ACCOUNT}:{a.id}", a.name) for a in listing.assistants]
    result.account_models = {a.id: a.model for a in listing.assistants}
    return result


def account_assistant(*, connection: Connection, assistant_id: str) -> AccountAssistant | None:
    """The account assistant from the (cached) listing, for its model; None if unknown
    or the listing failed (the run itself will then say what is wrong)."""
    try:
        listing = cached_account_assistants(
            connection_client(connection), connection_key(connection)
        )
    except AssistantError:
        return None
    return next((a for a in listing.assistants if a.id == assistant_id), None)


def selection_names(account, values: list) -> dict[str, str]:
    """The name to show for each stored Assistant selection value, for the run history:
    `ws:12` → the workspace assistant's name, "(archived)" or "(deleted)" added when so;
    `acct:asst_…` → the account assistant's name from the cached listing, its id when
    nothing is cached (no request to OpenAI from a page). One query for all the
    workspace assistants; values that are no selection are left out."""
    parsed = {v: selection_parse(v) for v in values if isinstance(v, str)}
    selections = {v: s for v, s in parsed.items() if s is not None}
    workspace_ids = {int(s.ident) for s in selections.values() if s.kind == WORKSPACE}
    workspace = (
        WorkspaceAssistant.objects.for_account(account)
        .only("name", "archived_at")
        .in_bulk(workspace_ids)
        if workspace_ids
        else {}
    )
    listed: dict[str, str] | None = None
    if any(s.kind == ACCOUNT for s in selections.values()):
        connection = connection_for_account(account)
        listing = cached_listing(connection_key(connection)) if connection is not None else None
        if listing is not None and listing.available:
            listed = {a.id: a.name for a in listing.assistants}
    names = {}
    for value, selection in selections.items():
        if selection.kind == WORKSPACE:
            assistant = workspace.get(int(selection.ident))
            if assistant is None:
                name = _("%(name)s (deleted)") % {
                    "name": _("Assistant #%(id)s") % {"id": selection.ident}
                }
            elif assistant.is_archived:
                name = _("%(name)s (archived)") % {"name": assistant.name}
            else:
                name = assistant.name
        elif listed is None:
            name = selection.ident
        elif selection.ident in listed:
            name = listed[selection.ident]
        else:
            name = _("%(name)s (deleted)") % {"name": selection.ident}
        names[value] = name
    return names


def account_assistants_unavailable_notify(*, connection: Connection, reason: str) -> None:
    admins_notify(
        connection=connection,
        key=f"openai-assistants-gone:{connection.pk}",
        title=Message(gettext_noop("OpenAI account assistants are no longer available")),
        body=reason,
    )


# --- Workspace assistants: verbs ----------------------------------------------------


MAX_FIELD_LABEL = 80


def output_fields_clean(raw: list) -> list[dict]:
    """Validate the structured output fields an admin entered."""
    from django.core.exceptions import ValidationError

    reserved = {"response", "model", "total_tokens"}
    fields: list[dict] = []
    names: set[str] = set()
    for item in raw:
        name = str(item.get("name") or "").strip()
        if not name:
            continue
        if not re.match(r"^[a-z][a-z0-9_]{0,39}$", name) or name in reserved:
            raise ValidationError(
                _(
                    "“%(name)s”: field names use lowercase letters, digits and _ (not response, model or total_tokens)."
                )
                % {"name": name}
            )
        if name in names:
            raise ValidationError(_("Two fields are named “%(name)s”.") % {"name": name})
        names.add(name)
        kind = item.get("type") or FieldType.TEXT
        if kind not in FieldType.__members__.values():
            raise ValidationError(_("Unknown field type “%(type)s”.") % {"type": kind})
        options = [o.strip() for o in item.get("options") or [] if o.strip()]
        if kind == FieldType.ENUMERATION and not options:
            raise ValidationError(_("Give the field “%(name)s” its options.") % {"name": name})
        field = {
            "name": name,
            "type": str(kind),
            "options": options if kind == FieldType.ENUMERATION else [],
        }
        # What people read for it (the evaluation page, the workflow's variables);
        # stored only when given, so an assistant saved again without one is unchanged.
        label = " ".join(str(item.get("label") or "").split())[:MAX_FIELD_LABEL]
        if label:
            field["label"] = label
        fields.append(field)
    return fields


@transaction.atomic
def workspace_assistant_archive(*, assistant: WorkspaceAssistant) -> None:
    WorkspaceAssistant.objects.filter(pk=assistant.pk).update(archived_at=timezone.now())
    audit_record(
        action=AuditAction.ASSISTANT_CHANGED,
        account=assistant.account,
        target=assistant.name,
        detail={"archived": True},
    )


@transaction.atomic
def workspace_assistant_restore(*, assistant: WorkspaceAssistant) -> None:
    WorkspaceAssistant.objects.filter(pk=assistant.pk).update(archived_at=None)
    audit_record(
        action=AuditAction.ASSISTANT_CHANGED,
        account=assistant.account,
        target=assistant.name,
        detail={"archived": False},
    )
