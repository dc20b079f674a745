"""Accounts (the CRM portal a company uses) and the people in them.

Every user belongs to exactly one account, with one role. Every query a view makes
starts from `request.user.account`, so one account never sees another's data.
"""

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Account(models.Model):
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # AI data controls (Settings › AI data; docs/data-controls.md): mask email
    # addresses, phone numbers and card-like numbers in what AI apps send, and how long
    # the run history keeps the text sent to and received from them.
    ai_mask_text = models.BooleanField(
        _("mask emails, phone numbers and card numbers in prompts"), default=False
    )
    ai_retention_days = models.PositiveIntegerField(
        _("keep prompts, answers and tool results for (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    # Let OpenAI keep a workflow step's response (its default 30 days) so that a step
    # whose worker died mid-call reads the answer back instead of paying for it again
    # (docs/engine.md, "Paid twice"). Off: every call is sent with `store: false`.
    ai_openai_store = models.BooleanField(
        _("let OpenAI keep workflow responses so a crash does not pay for a call twice"),
        default=False,
    )
    # The time zone dates are shown in for users who chose none (an IANA name; empty:
    # settings.TIME_ZONE). crm/timezones.py activates it per request.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)

    # Who may delete records in bulk and import CSV files, besides super admins
    # (Settings › Permissions): role values.
    bulk_delete_roles = models.JSONField(default=list, blank=True)
    import_roles = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", _("Super admin")
    WORKFLOW_BUILDER = "workflow_builder", _("Workflow builder")
    SALES_REP = "sales_rep", _("Sales rep")


class User(AbstractUser):
    # Null only for platform operators created with `createsuperuser`: they use the
    # Django admin, not the product, and every product page refuses them.
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="users",
        null=True,
        blank=True,
    )
    role = models.CharField(_("role"), max_length=20, choices=Role, default=Role.SALES_REP)
    # Empty: the account's time zone (crm/timezones.py).
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    # The language they last picked in the user menu (crm/views/shell.py language_set):
    # what crmflow writes to them in when no page of theirs is open (notification
    # emails). Empty: none picked yet.
    language = models.CharField(_("language"), max_length=10, blank=True)

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_super_admin(self) -> bool:
        return self.role == Role.SUPER_ADMIN

    @property
    def can_manage_apps(self) -> bool:
        """Install, reconnect and uninstall apps; model access; budgets."""
        return self.role == Role.SUPER_ADMIN

    @property
    def can_bulk_delete(self) -> bool:
        """Delete records in bulk: super admins, and the roles the account allows."""
        return self.is_super_admin or (
            self.account is not None and self.role in self.account.bulk_delete_roles
        )

    @property
    def can_import(self) -> bool:
        """Import CSV files: super admins, and the roles the account allows."""
        return self.is_super_admin or (
            self.account is not None and self.role in self.account.import_roles
        )

    @property
    def can_edit_workflows(self) -> bool:
        return self.role in {Role.SUPER_ADMIN, Role.WORKFLOW_BUILDER}
