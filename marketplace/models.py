"""Connected apps: one connection per account and app, and the app log.

A connection row outlives an uninstall (status "disconnected", key material erased)
so that the app log keeps pointing at it and a later install reuses it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from marketplace.encryption import secret_decrypt


class ConnectionStatus(models.TextChoices):
    CONNECTED = "connected", pgettext_lazy("app connection", "Connected")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    DISCONNECTED = "disconnected", _("Disconnected")


class ConnectionQuerySet(models.QuerySet):
    def for_account(self, account) -> ConnectionQuerySet:
        return self.filter(account=account)

    def installed(self) -> ConnectionQuerySet:
        return self.exclude(status=ConnectionStatus.DISCONNECTED)


class Connection(models.Model):
    account = models.ForeignKey(
        "crm.Account",
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="app_connections",
    )
    app = models.SlugField(_("app"), max_length=50)
    status = models.CharField(
        _("status"), max_length=20, choices=ConnectionStatus, default=ConnectionStatus.CONNECTED
    )
    status_reason = models.TextField(_("status reason"), blank=True)
    # Fernet token (see marketplace/encryption.py); empty once uninstalled.
    encrypted_secret = models.TextField(_("encrypted secret"), blank=True, editable=False)
    secret_mask = models.CharField(_("masked key"), max_length=20, blank=True)
    secret_fingerprint = models.CharField(_("key fingerprint"), max_length=12, blank=True)
    organization = models.CharField(_("organisation"), max_length=200, blank=True)
    project = models.CharField(_("project"), max_length=200, blank=True)
    quota_exhausted = models.BooleanField(_("quota exhausted when connected"), default=False)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("connected by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    connected_at = models.DateTimeField(_("connected at"), null=True, blank=True)
    # Model access: every model id the key can see, and the ones builders may pick
    # (None = the default: every text-generation model).
    available_models = models.JSONField(_("available models"), default=list, blank=True)
    allowed_models = models.JSONField(_("allowed models"), null=True, blank=True)
    models_refreshed_at = models.DateTimeField(_("models refreshed at"), null=True, blank=True)
    created_at = models.DateTimeField(
        pgettext_lazy("app connection", "created at"), auto_now_add=True
    )
    updated_at = models.DateTimeField(pgettext_lazy("app connection", "updated at"), auto_now=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            # One connection per account and app (the seed: "only one connection of an app
            # per account"); racing installs end in an IntegrityError, not two rows.
            models.UniqueConstraint(
                fields=["account", "app"], name="one_connection_per_account_app"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.app}"

    @property
    def is_installed(self) -> bool:
        return self.status != ConnectionStatus.DISCONNECTED

    @property
    def needs_attention(self) -> bool:
        return self.status == ConnectionStatus.NEEDS_ATTENTION

    def secret(self) -> str:
        """The plaintext key, for building a client; never log or render it."""
        if not self.encrypted_secret:
            raise ValueError("this connection has no stored key")
        return secret_decrypt(self.encrypted_secret)


class AppLogEvent(models.TextChoices):
    INSTALLED = "installed", _("Installed")
    RECONNECTED = "reconnected", _("Reconnected")
    UNINSTALLED = "uninstalled", _("Uninstalled")
    KEY_REJECTED = "key_rejected", _("Key rejected at run time")
    MODELS_CHANGED = "models_changed", _("Model access changed")


class AppLogEntry(models.Model):
    account = models.ForeignKey(
        "crm.Account", verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    connection = models.ForeignKey(
        Connection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="log_entries",
    )
    event = models.CharField(_("event"), max_length=20, choices=AppLogEvent)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(pgettext_lazy("app log", "when"), auto_now_add=True)

    class Meta:
        verbose_name = _("app log entry")
        verbose_name_plural = _("app log entries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_event_display()} · {self.created_at:%Y-%m-%d %H:%M}"
