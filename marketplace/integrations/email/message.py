"""One email to a contact, as the "Send email" action hands it to Django's email
backend (EMAIL_URL): plain text plus a sanitized HTML version, a stable Message-ID
derived from the execution, Reply-To the record owner, and an unsubscribe link (in the
body and as List-Unsubscribe, one-click per RFC 8058)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

import nh3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

# Simple HTML only: text formatting, links, lists, headings. Everything else (scripts,
# styles, images, forms, event attributes) is removed by nh3 (Ammonia).
ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h1",
    "h2",
    "h3",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def html_sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def message_id(execution_id: int) -> str:
    """The same for every attempt of one execution: a receiving server or a mail log
    can tell a second copy of it (which the ledger never sends) from a new email."""
    return f"<crmflow.exec.{execution_id}@{_domain_of(settings.DEFAULT_FROM_EMAIL)}>"


@functools.lru_cache(maxsize=8)
def _domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Outgoing:
    to: str
    from_email: str
    reply_to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str
    message_id: str

    def build(self) -> EmailMultiAlternatives:
        footer = _("Unsubscribe: %(url)s") % {"url": self.unsubscribe_url}
        text = f"{self.text.rstrip()}\n\n--\n{footer}\n"
        html_body = self.html or linebreaks(escape(self.text))
        link = _('<a href="%(url)s">Unsubscribe</a>') % {"url": escape(self.unsubscribe_url)}
        html = f"{html_sanitize(html_body)}\n<hr>\n<p>{link}</p>\n"
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=text,
            from_email=self.from_email,
            to=[self.to],
            reply_to=[self.reply_to] if self.reply_to else None,
            headers={
                "Message-ID": self.message_id,
                "List-Unsubscribe": f"<{self.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        return message


def sender_address(name: str, email: str) -> str:
    return formataddr((name, email)) if name else email
