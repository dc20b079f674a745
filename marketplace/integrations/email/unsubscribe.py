"""The no-login unsubscribe link of every email sent to a contact: a signed URL naming
the contact; opening it shows a button (a GET must not change anything: mail scanners
follow links), which sets the contact's "Unsubscribed from email". Mail clients'
one-click unsubscribe (RFC 8058) POSTs to the same URL."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from crm.models import Record

SALT = "crmflow.email.unsubscribe"
PROPERTY = "unsubscribed_from_email"


def unsubscribe_token(contact: Record) -> str:
    return signing.Signer(salt=SALT).sign_object([contact.account_id, contact.pk])


def unsubscribe_url(contact: Record) -> str:
    path = reverse("marketplace:email_unsubscribe", args=[unsubscribe_token(contact)])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def contact_from_token(token: str) -> Record | None:
    """The contact a token names, or None (forged, altered, or the contact is gone)."""
    try:
        account_id, record_id = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return (
        Record.objects.select_related("account")
        .filter(account_id=account_id, pk=record_id, object_type="contact")
        .first()
    )


def is_unsubscribed(contact: Record) -> bool:
    return contact.properties.get(PROPERTY) is True
