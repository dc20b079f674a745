"""The audit log: who did what to the account's security-relevant settings, and when.

One row per change, written in the same transaction as the change (crm/audit.py), so a
change that rolls back leaves no row and a row never lacks its change. Rows are never
edited; only super admins read them (Settings › Audit log).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", _("Signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
    SIGN_IN_LOCKED = "sign_in_locked", _("Sign-in locked out")
    TWO_FACTOR_ON = "two_factor_on", _("Two-factor authentication turned on")
    TWO_FACTOR_OFF = "two_factor_off", _("Two-factor authentication turned off")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    ROLE_CHANGED = "role_changed", _("Role changed")
    API_TOKEN_CREATED = "api_token_created", _("API token created")
    API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")
    CONNECTION_INSTALLED = "connection_installed", _("App connected")
    CONNECTION_RECONNECTED = "connection_reconnected", _("App reconnected")
    CONNECTION_UNINSTALLED = "connection_uninstalled", _("App uninstalled")
    MODEL_ACCESS_CHANGED = "model_access_changed", _("Model access changed")
    BUDGET_CHANGED = "budget_changed", _("Budget changed")
    PRICE_CHANGED = "price_changed", _("Price changed")
    WORKFLOW_PUBLISHED = "workflow_published", _("Workflow published")
    WORKFLOW_TURNED_ON = "workflow_turned_on", _("Workflow turned on")
    WORKFLOW_TURNED_OFF = "workflow_turned_off", _("Workflow turned off")
    ASSISTANT_CHANGED = "assistant_changed", _("Assistant edited")
    RECORDS_BULK_DELETED = "records_bulk_deleted", _("Records deleted in bulk")
    IMPORT_STARTED = "import_started", _("Import started")
    DATA_CONTROLS_CHANGED = "data_controls_changed", _("AI data settings changed")


class AuditEvent(models.Model):
    # Null for what belongs to no account: a failed sign-in with an unknown user name,
    # a platform operator's sign-in to the Django admin.
    account = models.ForeignKey(
        "crm.Account",
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        blank=True,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        related_name="+",
        null=True,
        blank=True,
    )
    # The name at the time: still readable once the user is renamed or deleted.
    actor_name = models.CharField(_("who"), max_length=150, blank=True)
    action = models.CharField(_("what"), max_length=40, choices=AuditAction)
    target = models.CharField(_("on"), max_length=300, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["account", "-created_at"], name="audit_account_time")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target}"
