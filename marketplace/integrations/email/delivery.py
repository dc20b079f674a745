"""Handing a batch of emails to the mail server over ONE connection, each at most once
per execution (docs/email.md, "At most once").

Each email of the batch goes exactly as an email sent alone, one after the other:
1. its "sending" marker (`EmailDelivery`, keyed by the execution) is committed before
   the mail server hears of it;
2. the message goes over the batch's shared SMTP connection;
3. the server's "250" is stamped on its marker (`sent_at`).
Step 3 of one email and step 1 of the next commit together (one transaction per email,
not two), so at any moment at most one marker of the batch is unstamped: the email in
the server's hands. A worker dying at any moment leaves each email of the batch in one
of the three states a re-run reads as for an email sent alone: no marker (never handed
over: sent), stamped (sent: not sent again, its step succeeds), unstamped (the one in
flight, or answered but not yet stamped: it may or may not have left, so it is not sent
again and its step fails saying so). A refusal (5xx) or a connection error removes that
email's marker (the server accepted nothing), and the others go on.
"""

from __future__ import annotations

import contextlib
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.integrations.email.message import Outgoing
from ops.logs import log_context
from workflows.models import EmailDelivery
from workflows.outcomes import PermanentError, TransientError

# A batch shares one connection: a server that stops answering must not hold it (and
# every lease in it) for ever. Django's default EMAIL_TIMEOUT is None (no time-out).
SMTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Delivery:
    execution_id: int
    account_id: int
    outgoing: Outgoing


Result = dict[str, str] | PermanentError | TransientError


def deliveries_send(deliveries: list[Delivery]) -> list[Result]:
    """Send each delivery at most once; returns, in order, its outputs or the error
    that settles its step."""
    results: dict[int, Result] = {}
    earlier = {
        marker.execution_id: marker
        for marker in EmailDelivery.objects.filter(
            execution_id__in=[d.execution_id for d in deliveries]
        ).order_by("-pk")
    }
    todo = []
    for delivery in deliveries:
        marker = earlier.get(delivery.execution_id)
        if marker is None:
            todo.append(delivery)
        else:
            results[delivery.execution_id] = _already(delivery, marker)
    if todo:
        results.update(_send_over_one_connection(todo))
    return [results[d.execution_id] for d in deliveries]


def _already(delivery: Delivery, marker: EmailDelivery) -> Result:
    """What an earlier attempt's marker says of this email."""
    if marker.sent_at is not None:  # it sent it, then died before completing the step
        return _sent(delivery, recipient=marker.recipient)
    return PermanentError(
        _(
            "A worker stopped while handing this email to the mail server (%(time)s): "
            "it may or may not have been sent, so it is not sent again. Check with the "
            "contact before sending it by hand."
        )
        % {"time": marker.created_at.isoformat(timespec="seconds")}
    )


def _send_over_one_connection(todo: list[Delivery]) -> dict[int, Result]:
    results: dict[int, Result] = {}
    connection = get_connection(
        fail_silently=False, timeout=settings.EMAIL_TIMEOUT or SMTP_TIMEOUT_SECONDS
    )
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        return {delivery.execution_id: _unreachable(error) for delivery in todo}
    answered: Delivery | None = None  # sent, its stamp commits with the next marker
    try:
        for delivery in todo:
            with log_context(execution_id=delivery.execution_id, account_id=delivery.account_id):
                theirs = _marker_take(delivery, stamp=answered)
                answered = None
                if theirs is not None:  # a worker that lost its lease took it meanwhile
                    results[delivery.execution_id] = _already(delivery, theirs)
                    continue
                result = _send_one(connection, delivery)
                results[delivery.execution_id] = result
                if isinstance(result, dict):
                    answered = delivery
    finally:
        if answered is not None:
            _stamp(answered)
        with contextlib.suppress(OSError, smtplib.SMTPException):
            connection.close()  # every message already has its answer
    return results


def _marker_take(delivery: Delivery, *, stamp: Delivery | None) -> EmailDelivery | None:
    """Commit `delivery`'s marker, with the stamp of the email sent before it (one
    transaction, and no savepoint: this runs once per email). Returns someone else's
    marker if there already is one; the stamp, rolled back with the refused INSERT, is
    then committed on its own before anything else is sent."""
    try:
        with transaction.atomic():
            if stamp is not None:
                _stamp(stamp)
            EmailDelivery.objects.create(
                execution_id=delivery.execution_id, recipient=delivery.outgoing.to
            )
    except IntegrityError:
        if stamp is not None:
            _stamp(stamp)
        return EmailDelivery.objects.filter(execution_id=delivery.execution_id).first()
    return None


def _stamp(delivery: Delivery) -> None:
    EmailDelivery.objects.filter(execution_id=delivery.execution_id, sent_at=None).update(
        sent_at=timezone.now()
    )


def _send_one(connection: BaseEmailBackend, delivery: Delivery) -> Result:
    message = delivery.outgoing.build()
    message.connection = connection
    try:
        # Opens the shared connection if it is not (first message, or after a drop).
        sent = message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as error:
        _marker_drop(delivery)
        replies = "; ".join(f"{code} {_text(reply)}" for code, reply in error.recipients.values())
        return PermanentError(
            _("The mail server refused the email: %(reply)s") % {"reply": replies}
        )
    except smtplib.SMTPResponseException as error:
        _marker_drop(delivery)
        reply = f"{error.smtp_code} {_text(error.smtp_error)}"
        if error.smtp_code >= 500:
            return PermanentError(
                _("The mail server refused the email: %(reply)s") % {"reply": reply}
            )
        return TransientError(_("The mail server said to try later: %(reply)s") % {"reply": reply})
    except (OSError, smtplib.SMTPException) as error:
        _marker_drop(delivery)
        _connection_reopen(connection)
        return _unreachable(error)
    if not sent:  # the backend dropped it without an error
        _marker_drop(delivery)
        return _unreachable(_("no answer"))
    return _sent(delivery)


def _connection_reopen(connection: BaseEmailBackend) -> None:
    """After a dropped connection the batch's next messages share a new one (if it
    cannot be opened, each message tries on its own and says why it could not)."""
    with contextlib.suppress(OSError, smtplib.SMTPException):
        connection.close()
    with contextlib.suppress(OSError, smtplib.SMTPException):
        connection.open()


def _unreachable(error: object) -> TransientError:
    return TransientError(_("The mail server could not be reached: %(error)s") % {"error": error})


def _marker_drop(delivery: Delivery) -> None:
    EmailDelivery.objects.filter(execution_id=delivery.execution_id, sent_at=None).delete()


def _sent(delivery: Delivery, *, recipient: str | None = None) -> dict[str, str]:
    return {
        "result": "sent",
        "to": recipient or delivery.outgoing.to,
        "message_id": delivery.outgoing.message_id,
    }


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
