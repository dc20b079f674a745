"""Handing a batch of emails to the mail server over ONE connection, each at most once
per execution (docs/email.md, "At most once").

For every email of the batch, in this order:
1. its "sending" marker (`EmailDelivery`, keyed by the execution) is committed before
   the mail server hears of it — the batch's new markers in one INSERT;
2. the message goes over the batch's shared SMTP connection;
3. the server's "250" is stamped on that message's marker (`sent_at`) right away, one
   short UPDATE per message, before the next message is sent.
So a worker dying at any moment leaves every email of the batch in one of three states
that a re-run reads exactly as for an email sent alone: no marker (never sent: it is
sent), stamped (sent: not sent again), unstamped (it may or may not have left: not sent
again, the step fails saying so). A refusal (5xx) or a connection error removes that
email's marker (the server accepted nothing), and the other emails go on.
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
    markers = _markers_take(deliveries)
    todo: list[Delivery] = []
    for delivery in deliveries:
        marker = markers[delivery.execution_id]
        if marker is None:
            todo.append(delivery)
        elif marker.sent_at is not None:  # an earlier attempt sent it, then died
            results[delivery.execution_id] = _sent(delivery, recipient=marker.recipient)
        else:
            results[delivery.execution_id] = PermanentError(
                _(
                    "A worker stopped while handing this email to the mail server (%(time)s): "
                    "it may or may not have been sent, so it is not sent again. Check with the "
                    "contact before sending it by hand."
                )
                % {"time": marker.created_at.isoformat(timespec="seconds")}
            )
    if todo:
        results.update(_send_over_one_connection(todo))
    return [results[d.execution_id] for d in deliveries]


def _markers_take(deliveries: list[Delivery]) -> dict[int, EmailDelivery | None]:
    """{execution id: an earlier attempt's marker, or None when this call has just
    committed a fresh one (this call sends it)}."""
    ids = [d.execution_id for d in deliveries]
    taken: dict[int, EmailDelivery | None] = {
        marker.execution_id: marker
        for marker in EmailDelivery.objects.filter(execution_id__in=ids).order_by("pk")
    }
    fresh = [d for d in deliveries if d.execution_id not in taken]
    try:
        with transaction.atomic():  # committed before the mail server hears of them
            EmailDelivery.objects.bulk_create(
                [EmailDelivery(execution_id=d.execution_id, recipient=d.outgoing.to) for d in fresh]
            )
    except IntegrityError:
        # Another worker (one that lost its lease) took one meanwhile: one by one, so
        # that only the marker someone else holds is read as theirs.
        for delivery in fresh:
            try:
                with transaction.atomic():
                    EmailDelivery.objects.create(
                        execution_id=delivery.execution_id, recipient=delivery.outgoing.to
                    )
            except IntegrityError:
                taken[delivery.execution_id] = EmailDelivery.objects.filter(
                    execution_id=delivery.execution_id
                ).first()
            else:
                taken[delivery.execution_id] = None
    else:
        taken.update({d.execution_id: None for d in fresh})
    return taken


def _send_over_one_connection(todo: list[Delivery]) -> dict[int, Result]:
    results: dict[int, Result] = {}
    connection = get_connection(
        fail_silently=False, timeout=settings.EMAIL_TIMEOUT or SMTP_TIMEOUT_SECONDS
    )
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        for delivery in todo:
            _marker_drop(delivery)
            results[delivery.execution_id] = _unreachable(error)
        return results
    try:
        for delivery in todo:
            with log_context(execution_id=delivery.execution_id, account_id=delivery.account_id):
                results[delivery.execution_id] = _send_one(connection, delivery)
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            connection.close()  # every message already has its answer
    return results


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
    EmailDelivery.objects.filter(execution_id=delivery.execution_id, sent_at=None).update(
        sent_at=timezone.now()
    )
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
