"""The "Send email" action: one email to the enrolled contact (or a deal's, company's
or ticket's first associated contact), from a chosen user or the shared sender, with
data tokens in its subject and body (an earlier step's Response included).

At most once per execution (docs/email.md): a marker (`EmailDelivery`, keyed by the
execution) is committed *before* the message goes to the mail server, and stamped
`sent_at` once the server accepted it. An execution that finds a marker never sends:
- stamped: an earlier attempt sent it and died before committing the step; the step
  succeeds with what was sent;
- not stamped: a worker died while handing the email over, so it may or may not have
  left. We choose not to send it again, and the step fails saying so: a contact who
  gets the same sales email twice is worse than a rep who checks and replays.
A refusal by the server (5xx: unknown mailbox, policy) fails the step with the server's
reply, and the marker is removed so a replay may try again; a temporary one (4xx, no
connection) is retried by the ledger. The emails of a batch go over one connection,
each with its own marker and stamp (delivery.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account, ObjectType, Record, User
from crm.services import associated_records
from marketplace.integrations.email.delivery import Delivery, deliveries_send
from marketplace.integrations.email.message import (
    Outgoing,
    html_sanitize,
    message_id,
    sender_address,
)
from marketplace.integrations.email.unsubscribe import is_unsubscribed, unsubscribe_url
from ops.logs import log_context
from workflows.context import ExecutionContext
from workflows.outcomes import Outcome, PermanentError, Success, Wait, outcome_of
from workflows.registry import ActionType, CanvasText, Output
from workflows.tokens import TOKEN, TokenResolver

RECORD, ASSOCIATED, SHARED = "record", "associated", "shared"


class SendEmailForm(forms.Form):
    to = forms.ChoiceField(
        label=gettext_lazy("To"),
        choices=[
            (RECORD, gettext_lazy("The enrolled contact")),
            (ASSOCIATED, gettext_lazy("The record’s associated contact")),
        ],
        initial=RECORD,
    )
    # "shared" (DEFAULT_FROM_EMAIL) or a user id; the builder shows it as a select of
    # the account's users (`sender_choices`).
    sender = forms.CharField(label=gettext_lazy("From"), initial=SHARED, max_length=20)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=255)
    body = forms.CharField(
        label=gettext_lazy("Body (plain text)"), widget=forms.Textarea, max_length=50000
    )
    html_body = forms.CharField(
        label=gettext_lazy("HTML version (optional)"),
        help_text=gettext_lazy(
            "Simple HTML: paragraphs, bold, italics, links, lists. Anything else is removed. "
            "Empty: made from the plain text."
        ),
        widget=forms.Textarea,
        required=False,
        max_length=100000,
    )


def sender_choices(account: Account, current: str) -> list[tuple[str, str]]:
    """The shared sender, then the account's active users with an email address by
    name. A stored choice that is no longer one of them stays listed as such, so that
    opening the step never changes its sender silently (saving it says what to fix)."""
    choices = [
        (
            SHARED,
            _("Shared sender (%(address)s)") % {"address": settings.DEFAULT_FROM_EMAIL},
        )
    ]
    users = User.objects.filter(account=account, is_active=True).exclude(email="")
    choices += [
        (str(user.pk), sender_address(user.get_full_name() or user.username, user.email))
        for user in users.order_by("first_name", "last_name", "username")
    ]
    if current not in {value for value, _label in choices}:
        choices.append((current, _("A user who can no longer send (#%(id)s)") % {"id": current}))
    return choices


def _people_read(contexts: list[ExecutionContext]) -> None:
    """The owners of the batch's records (each email's Reply-To), in one query rather
    than one per email."""
    wanted = {
        c.record.owner_id
        for c in contexts
        if c.record.owner_id is not None and not Record.owner.is_cached(c.record)
    }
    if not wanted:
        return
    owners = User.objects.in_bulk(wanted)
    for context in contexts:
        record = context.record
        if record.owner_id in owners and not Record.owner.is_cached(record):
            record.owner = owners[record.owner_id]


class SendEmail(ActionType):
    key = "email_contact"  # stored in graphs: never change it
    label = gettext_lazy("Send email")
    description = gettext_lazy("Email the contact, with an unsubscribe link.")
    section = "communication"
    # A batch's emails share one SMTP connection (execute_many), so bulk-approved
    # drafts go out at hundreds a second instead of one connection and one message
    # each. Sent one after another: the engine sizes such batches by their time per
    # email (a quarter of the lease), and a mute server is cut off after
    # delivery.SMTP_TIMEOUT_SECONDS.
    batchable = True
    config_form = SendEmailForm
    raw_config_keys = frozenset({"to", "sender", "html_body"})
    outputs = (
        Output("result", gettext_lazy("Result")),
        Output("to", gettext_lazy("Sent to")),
        Output("message_id", gettext_lazy("Message-ID")),
    )

    def builder_form(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> forms.Form:
        form = SendEmailForm(initial=config)
        current = str(config.get("sender") or SHARED)
        form.fields["sender"] = forms.ChoiceField(
            label=gettext_lazy("From"),
            choices=sender_choices(account, current),
            initial=SHARED,
            help_text=gettext_lazy(
                "A user of this account (replies still go to the record’s owner) or the "
                "shared sender."
            ),
        )
        return form

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        if clean.get("to", RECORD) == RECORD and object_type != ObjectType.CONTACT:
            raise ValidationError(
                _("Only contacts have an email address here: send to the associated contact.")
            )
        sender = str(clean.get("sender") or SHARED)
        if sender != SHARED and not (
            sender.isdigit()
            and User.objects.filter(account=account, pk=int(sender), is_active=True)
            .exclude(email="")
            .exists()
        ):
            raise ValidationError(
                _(
                    "From: pick a user of this account who has an email address, or the shared sender."
                )
            )
        clean["sender"] = sender
        return clean

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        lines = [canvas.chips(config["subject"])] if config.get("subject") else []
        if config.get("to") == ASSOCIATED:
            lines.append(escape(_("To the associated contact")))
        sender = str(config.get("sender") or SHARED)
        if sender != SHARED:
            lines.append(escape(_("From %(user)s") % {"user": canvas.user(sender)}))
        return "<br>".join(lines)

    def resolve_config(self, config: dict[str, Any], resolver: TokenResolver) -> dict[str, Any]:
        """Tokens in the HTML version are escaped before it is sanitized: a contact's
        name can never add markup."""
        resolved = super().resolve_config(config, resolver)
        html = config.get("html_body") or ""
        if html:

            def substitute(match: Any) -> str:
                value = resolver.value(match["root"], match["path"])
                if value == "" and match["default"] is not None:
                    value = match["default"]
                return str(escape(value))

            resolved["html_body"] = html_sanitize(TOKEN.sub(substitute, html))
        return resolved

    # --- Running ------------------------------------------------------------------

    def _contact(self, context: ExecutionContext) -> Record | None:
        record = context.record
        if context.config.get("to", RECORD) == RECORD:
            return record if record.object_type == ObjectType.CONTACT else None
        return associated_records(record, ObjectType.CONTACT).order_by("pk").first()

    def _sender(
        self,
        context: ExecutionContext,
        senders: dict[tuple[int, str], str | PermanentError] | None = None,
    ) -> str:
        """The From address; `senders` keeps the batch's (account, choice) → address,
        read once per batch, not once per email."""
        sender = str(context.config.get("sender") or SHARED)
        if sender == SHARED:
            return settings.DEFAULT_FROM_EMAIL
        key = (context.account.pk, sender)
        senders = {} if senders is None else senders
        if key not in senders:
            user = User.objects.filter(
                account=context.account, pk=int(sender) if sender.isdigit() else 0, is_active=True
            ).first()
            senders[key] = (
                sender_address(user.get_full_name(), user.email)
                if user is not None and user.email
                else PermanentError(
                    _("The sender chosen in this step has no email address or was deactivated.")
                )
            )
        address = senders[key]
        if isinstance(address, PermanentError):
            raise PermanentError(address.message)
        return address

    def _prepare(
        self,
        context: ExecutionContext,
        *,
        senders: dict[tuple[int, str], str | PermanentError] | None = None,
    ) -> dict[str, Any] | Outgoing:
        """The email to send, or the step's outputs when there is none to send
        (unsubscribed, a test run); raises PermanentError for what the step lacks."""
        contact = self._contact(context)
        if contact is None:
            raise PermanentError(_("There is no contact to email: the record has none associated."))
        address = str(contact.properties.get("email") or "").strip()
        if not address:
            raise PermanentError(
                _("The contact “%(name)s” has no email address: the email token is empty.")
                % {"name": contact}
            )
        try:
            validate_email(address)
        except ValidationError:
            raise PermanentError(
                _("“%(address)s” is not an email address.") % {"address": address}
            ) from None
        if is_unsubscribed(contact):
            return {"result": "skipped: unsubscribed", "to": address, "message_id": ""}
        subject = " ".join(str(context.config.get("subject") or "").split())[:255]
        text = str(context.config.get("body") or "")
        if not subject or not text.strip():
            raise PermanentError(
                _("The email’s subject or body is empty once its data is filled in.")
            )
        owner = context.record.owner
        outgoing = Outgoing(
            to=address,
            from_email=self._sender(context, senders),
            reply_to=owner.email if owner is not None and owner.email else "",
            subject=subject,
            text=text,
            html=str(context.config.get("html_body") or ""),
            unsubscribe_url=unsubscribe_url(contact),
            message_id=message_id(context.execution_id or 0),
        )
        if context.is_test or context.execution_id is None:
            return {"result": "test: not sent", "to": address, "message_id": ""}
        return outgoing

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        """One email (the builder's Test comes here, and sends nothing)."""
        prepared = self._prepare(context)
        if not isinstance(prepared, Outgoing):
            return prepared
        [result] = deliveries_send(
            [Delivery(int(context.execution_id or 0), context.account.pk, prepared)]
        )
        if isinstance(result, Exception):
            raise result
        return result

    def execute_many(
        self, contexts: list[ExecutionContext]
    ) -> Iterator[Sequence[tuple[int, Outcome | Wait]]]:
        """The batch's emails go over one connection to the mail server, each at most
        once per execution (delivery.py says how a crash leaves each of them)."""
        finished: list[tuple[int, Outcome | Wait]] = []
        to_send: list[tuple[int, Delivery]] = []
        _people_read(contexts)
        senders: dict[tuple[int, str], str | PermanentError] = {}
        for index, context in enumerate(contexts):
            with log_context(execution_id=context.execution_id, account_id=context.account.pk):
                try:
                    prepared = self._prepare(context, senders=senders)
                except Exception as error:  # noqa: BLE001 - outcome_of classifies it
                    finished.append((index, outcome_of(error)))
                    continue
            if isinstance(prepared, Outgoing):
                to_send.append(
                    (index, Delivery(int(context.execution_id or 0), context.account.pk, prepared))
                )
            else:
                finished.append((index, Success(prepared)))
        results = deliveries_send([delivery for _index, delivery in to_send])
        for (index, _delivery), result in zip(to_send, results, strict=True):
            finished.append(
                (index, Success(result) if isinstance(result, dict) else outcome_of(result))
            )
        yield sorted(finished, key=lambda pair: pair[0])
