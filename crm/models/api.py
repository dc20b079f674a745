"""Bearer tokens for the JSON API.

The token itself is shown once, when it is created; the database keeps only its
SHA-256 (a token has 256 bits of randomness, so a plain fast hash is enough — no
salt or slow hash needed, unlike passwords) and a short prefix to recognise it by.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_PREFIX = "crm_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        """Not revoked, not expired, and created by a user who still may create tokens:
        an active super admin (deactivating or demoting the creator also revokes the
        token, crm/receivers.py; this check holds even for changes made without save())."""
        from crm.models.accounts import Role

        now = timezone.now()
        return self.filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now),
            revoked_at__isnull=True,
            created_by__is_active=True,
            created_by__role=Role.SUPER_ADMIN,
        )

    def authenticate(self, token: str) -> ApiToken | None:
        """The live token matching `token`, or None."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return (
            self.active()
            .select_related("account", "created_by")
            .filter(token_hash=token_hash(token))
            .first()
        )


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("token name"), max_length=100)
    # The first characters of the token, to tell tokens apart in the list.
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    # API changes are made in this user's name (timeline "by …", actor of workflows).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    scope = models.CharField(_("scope"), max_length=20, choices=Scope, default=Scope.READ_WRITE)
    created_at = models.DateTimeField(auto_now_add=True)
    # None: never expires.
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def issue(
        cls,
        *,
        account,
        name: str,
        created_by=None,
        scope: str = Scope.READ_WRITE,
        expires_at=None,
    ) -> tuple[ApiToken, str]:
        """Create a token; return it with the plaintext, which is never stored."""
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            account=account,
            name=name,
            prefix=plaintext[: len(TOKEN_PREFIX) + 6],
            token_hash=token_hash(plaintext),
            created_by=created_by,
            scope=scope,
            expires_at=expires_at,
        )
        return token, plaintext

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.READ_WRITE

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def touch(self) -> None:
        """Record use, at most once a minute (one UPDATE, not one per request)."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
