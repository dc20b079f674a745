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
connection) is retried by the ledger.
"""

from __future__ import annotations

import smtplib
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account, ObjectType, Record, User
from crm.services import associated_records
from marketplace.integrations.email.message import (
    Outgoing,
    html_sanitize,
    message_id,
    sender_address,
)
from marketplace.integrations.email.unsubscribe import is_unsubscribed, unsubscribe_url
from workflows.context import ExecutionContext
from workflows.models import EmailDelivery
from workflows.outcomes import PermanentError, TransientError
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
    # "shared" (DEFAULT_FROM_EMAIL) or a user id.
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


class SendEmail(ActionType):
    key = "email_contact"  # stored in graphs: never change it
    label = gettext_lazy("Send email")
    description = gettext_lazy("Email the contact, with an unsubscribe link.")
    section = "communication"
    config_form = SendEmailForm
    raw_config_keys = frozenset({"to", "sender", "html_body"})
    outputs = (
        Output("result", gettext_lazy("Result")),
        Output("to", gettext_lazy("Sent to")),
        Output("message_id", gettext_lazy("Message-ID")),
    )

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
            and User.objects.filter(account=account, pk=int(sender), is_active=True).exists()
        ):
            raise ValidationError(_("Pick a user of this account or the shared sender."))
        clean["sender"] = sender
        return clean

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        lines = [canvas.chips(config["subject"])] if config.get("subject") else []
        if config.get("to") == ASSOCIATED:
            lines.append(escape(_("To the associated contact")))
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

    def _sender(self, context: ExecutionContext) -> str:
        sender = str(context.config.get("sender") or SHARED)
        if sender == SHARED:
            return settings.DEFAULT_FROM_EMAIL
        user = User.objects.filter(
            account=context.account, pk=int(sender) if sender.isdigit() else 0, is_active=True
        ).first()
        if user is None or not user.email:
            raise PermanentError(
                _("The sender chosen in this step has no email address or was deactivated.")
            )
        return sender_address(user.get_full_name(), user.email)

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
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
            from_email=self._sender(context),
            reply_to=owner.email if owner is not None and owner.email else "",
            subject=subject,
            text=text,
            html=str(context.config.get("html_body") or ""),
            unsubscribe_url=unsubscribe_url(contact),
            message_id=message_id(context.execution_id or 0),
        )
        if context.is_test or context.execution_id is None:
            return {"result": "test: not sent", "to": address, "message_id": ""}
        return self._send_once(context.execution_id, outgoing)

    def _send_once(self, execution_id: int, outgoing: Outgoing) -> dict[str, Any]:
        sent = {"result": "sent", "to": outgoing.to, "message_id": outgoing.message_id}
        earlier = EmailDelivery.objects.filter(execution_id=execution_id).first()
        if earlier is None:
            try:
                with transaction.atomic():  # committed before the mail server hears of it
                    earlier = EmailDelivery.objects.create(
                        execution_id=execution_id, recipient=outgoing.to
                    )
            except IntegrityError:
                earlier = EmailDelivery.objects.get(execution_id=execution_id)
            else:
                return self._send(earlier, outgoing, sent)
        if earlier.sent_at is not None:
            return {**sent, "to": earlier.recipient}
        raise PermanentError(
            _(
                "A worker stopped while handing this email to the mail server (%(time)s): it "
                "may or may not have been sent, so it is not sent again. Check with the "
                "contact before sending it by hand."
            )
            % {"time": earlier.created_at.isoformat(timespec="seconds")}
        )

    def _send(
        self, marker: EmailDelivery, outgoing: Outgoing, sent: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            outgoing.build().send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as error:
            marker.delete()
            replies = "; ".join(
                f"{code} {_text(reply)}" for code, reply in error.recipients.values()
            )
            raise PermanentError(
                _("The mail server refused the email: %(reply)s") % {"reply": replies}
            ) from None
        except smtplib.SMTPResponseException as error:
            marker.delete()
            reply = f"{error.smtp_code} {_text(error.smtp_error)}"
            if error.smtp_code >= 500:
                raise PermanentError(
                    _("The mail server refused the email: %(reply)s") % {"reply": reply}
                ) from None
            raise TransientError(
                _("The mail server said to try later: %(reply)s") % {"reply": reply}
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            marker.delete()
            raise TransientError(
                _("The mail server could not be reached: %(error)s") % {"error": error}
            ) from None
        EmailDelivery.objects.filter(pk=marker.pk).update(sent_at=timezone.now())
        return sent


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
