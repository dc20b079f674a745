"""Work for people: tasks and notifications.

Both carry an optional `idempotency_key` under a unique constraint: a workflow action
that creates one passes its execution id, so a redelivered message can never create
a second task or notification.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Task(models.Model):
    class Type(models.TextChoices):
        TODO = "todo", _("To-do")
        CALL = "call", _("Call")
        EMAIL = "email", _("Email")

    class Priority(models.TextChoices):
        NONE = "none", pgettext_lazy("task priority", "None")
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    class Status(models.TextChoices):
        OPEN = "open", _("Not started")
        COMPLETED = "completed", _("Completed")

    # Indexes: only the ones something reads (Meta): a workflow writes tasks by the thousand.
    account = models.ForeignKey(
        "crm.Account", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    title = models.CharField(_("title"), max_length=255)
    type = models.CharField(_("type"), max_length=10, choices=Type, default=Type.TODO)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority, default=Priority.NONE
    )
    due_at = models.DateTimeField(_("due date"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
    )
    # Plain text as typed (line breaks kept); rendered escaped, with links made safe.
    notes = models.TextField(_("notes"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.OPEN)
    completed_at = models.DateTimeField(null=True, blank=True)
    records = models.ManyToManyField("crm.Record", related_name="tasks", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # NULL, not "": rows without a key must not collide under the unique constraint.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            models.Index(fields=["account", "status", "due_at"], name="task_queue"),
            models.Index(fields=["assignee", "status", "due_at"], name="task_my_queue"),
            # For a user's deletion (SET_NULL); most tasks have none.
            models.Index(
                fields=["created_by"], condition=Q(created_by__isnull=False), name="task_by_creator"
            ),
        ]
        constraints = [
            # A constraint rather than unique=True: no second (pattern) index on PostgreSQL.
            models.UniqueConstraint(fields=["idempotency_key"], name="task_idempotency_key"),
        ]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def priority_choices(cls) -> list[tuple[str, str]]:
        """The priorities as every form offers them: "None" reads as a missing value next
        to Low / Medium / High (and Django's French for it is "Aucun(e)")."""
        return [
            (value, _("No priority") if value == cls.Priority.NONE else label)
            for value, label in cls.Priority.choices
        ]

    def complete(self) -> None:
        # Conditional update: completing twice keeps the first completion time.
        Task.objects.filter(pk=self.pk, status=Task.Status.OPEN).update(
            status=Task.Status.COMPLETED, completed_at=timezone.now()
        )
        self.refresh_from_db(fields=["status", "completed_at"])

    def reopen(self) -> None:
        Task.objects.filter(pk=self.pk).update(status=Task.Status.OPEN, completed_at=None)
        self.refresh_from_db(fields=["status", "completed_at"])


class Notification(models.Model):
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # What the title says, rendered once (in English for the notifications crmflow
    # writes): the fallback when there is no `title_key`, and the one title of a
    # workflow's notification (its builder's own words).
    title = models.CharField(_("title"), max_length=255)
    # A title crmflow writes is rendered in each reader's language when shown: the
    # English source (a msgid of the catalogues) and its parameters (crm/notifications.py
    # Message). Empty: `title` as written.
    title_key = models.CharField(max_length=255, blank=True)
    title_params = models.JSONField(default=dict, blank=True)
    body = models.TextField(_("body"), blank=True)
    # A path inside crmflow to open (never an external URL).
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # NULL, not "": many notifications have no key, and a unique index ignores NULLs.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "idempotency_key"], name="unique_notification_per_key"
            )
        ]

    def __str__(self) -> str:
        return self.title_text()

    def title_text(self) -> str:
        """The title in the active language (the reader's, in a request)."""
        if self.title_key:
            from crm.notifications import Message

            text = Message(self.title_key, self.title_params).render()
            if text:
                return text
        return self.title
