"""Communication actions: in-app notification and internal email notification.

Exactly-once story:
- In-app: one Notification per recipient, keyed (recipient, "exec:<id>") under crm's
  unique constraint, written in the completion transaction: exactly once.
- Email (an outside effect, so it cannot join a transaction): an EmailDelivery marker
  keyed (execution, recipient) is committed *before* the message goes to the mail
  server. A redelivery or retry finds the marker and skips that recipient. So each
  recipient gets at most one email per execution; if the worker dies between the
  marker and the SMTP call the email is not sent, and the marker (sent_at empty) shows it.
  If the SMTP call fails, the marker is removed and the step is retried.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account, Notification
from workflows.actions.common import users_check, users_resolve
from workflows.context import ExecutionContext
from workflows.models import EmailDelivery
from workflows.outcomes import TransientError
from workflows.registry import ActionType, CanvasText, Output, OutputType, register


class NotifyForm(forms.Form):
    # User ids and/or "owner".
    recipients = forms.JSONField(label=gettext_lazy("Recipients"))
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=255)
    body = forms.CharField(
        label=gettext_lazy("Body"), widget=forms.Textarea, required=False, max_length=20000
    )


class _Notify(ActionType):
    section = "communication"
    config_form = NotifyForm
    outputs = (Output("recipients", gettext_lazy("Recipients"), OutputType.NUMBER),)
    raw_config_keys = frozenset({"recipients"})
    user_config_keys = frozenset({"recipients"})

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        lines = [canvas.chips(config["subject"])] if config.get("subject") else []
        recipients = config.get("recipients")
        if isinstance(recipients, list) and recipients:
            names = ", ".join(canvas.user(r) for r in recipients)
            lines.append(escape(_("To %(users)s") % {"users": names}))
        return "<br>".join(lines)

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        if isinstance(config.get("recipients"), list):
            import json

            config = {**config, "recipients": json.dumps(config["recipients"])}
        clean = super().validate_config(config, account=account, object_type=object_type)
        recipients = config.get("recipients")
        recipients = json_list(recipients)
        if not recipients:
            raise ValidationError(_("Pick at least one recipient."))
        clean["recipients"] = users_check(account, recipients)
        return clean

    def _record_path(self, context: ExecutionContext) -> str:
        return f"/objects/{context.record.slug}/{context.record.pk}/"


def json_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


@register
class SendNotification(_Notify):
    key = "send_notification"
    label = gettext_lazy("Send in-app notification")
    batchable = True

    def apply(self, context: ExecutionContext, outputs: dict[str, Any]) -> dict[str, Any]:
        users = users_resolve(context.account, context.record, context.raw_config["recipients"])
        Notification.objects.bulk_create(
            [
                Notification(
                    account=context.account,
                    recipient=user,
                    title=context.config["subject"][:255],
                    body=context.config.get("body") or "",
                    url=self._record_path(context),
                    idempotency_key=context.idempotency_key,
                )
                for user in users
            ],
            ignore_conflicts=True,
        )
        return {**outputs, "recipients": len(users)}


@register
class SendEmailNotification(_Notify):
    key = "send_email"
    label = gettext_lazy("Send internal email notification")

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        users = [
            u
            for u in users_resolve(
                context.account, context.record, context.raw_config["recipients"]
            )
            if u.email
        ]
        execution_id = context.execution_id
        if context.is_test or execution_id is None:  # no ledger row to key the markers by
            return {"recipients": len(users)}
        subject = " ".join(context.config["subject"].split())[:255]
        body = context.config.get("body") or ""
        sent = 0
        for user in users:
            try:
                # Its own transaction (execute runs in autocommit): committed before sending.
                with transaction.atomic():
                    marker = EmailDelivery.objects.create(
                        execution_id=execution_id, recipient=user.email
                    )
            except IntegrityError:
                continue  # handed to the mail server by an earlier delivery of this message
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
            except Exception as error:
                marker.delete()
                raise TransientError(
                    _("The email to %(email)s could not be sent: %(error)s")
                    % {"email": user.email, "error": error}
                ) from None
            EmailDelivery.objects.filter(pk=marker.pk).update(sent_at=timezone.now())
            sent += 1
        return {"recipients": len(users), "sent_now": sent}
