"""The inbound side: one secret URL per workflow that starts on "Webhook received".

The outbound side stores nothing of its own: its signing secret is the account's
Webhooks `marketplace.Connection` (encrypted like every app secret).
"""

from __future__ import annotations

import hmac
from typing import Any

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketplace.encryption import secret_decrypt


class WebhookEndpoint(models.Model):
    """A workflow's inbound URL, `/hooks/<public_id>/<token>/`, and how a request's JSON
    body becomes a record. The public id finds the endpoint (unknown: 404); the token
    proves the caller was given the URL (wrong: 401). Only workflow editors see it."""

    workflow = models.OneToOneField(
        "workflows.Workflow",
        verbose_name=_("workflow"),
        on_delete=models.CASCADE,
        related_name="webhook_endpoint",
    )
    public_id = models.CharField(_("public id"), max_length=32, unique=True)
    # Fernet token (marketplace/encryption.py) of the URL's secret part: the builder shows
    # the whole URL again, so it is kept encrypted rather than hashed.
    encrypted_token = models.TextField(_("encrypted token"), editable=False)
    # [{"field": "contact.email", "property": "email"}, …]: a dotted path into the JSON
    # body, and the property of the workflow's object it is written to.
    mapping = models.JSONField(_("field mapping"), default=list, blank=True)
    # One of the mapped properties: the record whose value equals the request's is
    # updated; none is: a record is created.
    match_property = models.CharField(_("find the record by"), max_length=100, blank=True)
    last_received_at = models.DateTimeField(_("last request at"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last answer"), null=True, blank=True)
    last_message = models.CharField(_("last message"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook URL")
        verbose_name_plural = _("webhook URLs")

    def __str__(self) -> str:
        return f"{self.workflow_id} · {self.public_id}"

    def token(self) -> str:
        """The URL's secret part; render it only to the workflow's editors."""
        return secret_decrypt(self.encrypted_token)

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(self.token().encode(), candidate.encode())

    def path(self) -> str:
        return reverse("marketplace:webhooks_receive", args=[self.public_id, self.token()])

    def mapped(self) -> list[dict[str, Any]]:
        """The mapping's well-formed rows (a stored value is never trusted blindly)."""
        return [
            {"field": str(row["field"]), "property": str(row["property"])}
            for row in self.mapping or []
            if isinstance(row, dict) and row.get("field") and row.get("property")
        ]


class InboundRequest(models.Model):
    """The inbox: a request the public URL accepted (answered 202) and a worker has not
    ingested yet. The URL validates the body and inserts this row, nothing else;
    `inbox.inbox_ingest` turns rows into records and enrollments in batches and deletes
    them in the same transaction, so each accepted request is ingested exactly once —
    a worker killed mid-batch rolls the whole batch back, rows included, and the next
    ingest (a debounced message, or the periodic sweep) takes them again."""

    # Not checked by the database (the URL inserts one row per request; a check would
    # lock the workflow row for each): a workflow deleted meanwhile drops its rows.
    workflow = models.ForeignKey(
        "workflows.Workflow",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The mapped values, by property, as the URL validated them (the body itself, up to
    # 1 MB, is not kept), and the property that finds the record.
    properties = models.JSONField(_("properties"))
    match_property = models.CharField(_("find the record by"), max_length=100)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("inbound request")
        verbose_name_plural = _("inbound requests")

    def __str__(self) -> str:
        return f"request {self.pk} to workflow {self.workflow_id}"
