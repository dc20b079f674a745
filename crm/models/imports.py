"""CSV imports: one ImportJob per uploaded file, run in batches by a Celery task.

Crash safety (docs/crm-intake.md): each batch of rows is imported all-or-nothing in
one transaction that also advances `rows_done`; a crash loses at most the batch in
flight, and the import resumes from the last committed batch.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A queued or running job with no progress for this long can be resumed by hand.
STALLED_AFTER = dt.timedelta(minutes=2)


class ImportJob(models.Model):
    class Status(models.TextChoices):
        MAPPING = "mapping", _("Waiting for column mapping")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Stopped by an error")

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(_("object"), max_length=10)
    file_name = models.CharField(_("file"), max_length=255)
    # The file as text (decoded, UTF-8), kept in the database so that any worker
    # machine can read it; `encoding` and `delimiter` say what was detected.
    content = models.TextField()
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    headers = models.JSONField(default=list)
    # Column index (as a string) → property name; unmapped columns are absent.
    mapping = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status, default=Status.MAPPING)
    total_rows = models.PositiveIntegerField(default=0)
    # Data rows already imported (committed); the import resumes after them.
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # The first errors, for display: [{"row": 7, "message": "…"}] (capped).
    errors = models.JSONField(default=list)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.file_name

    def get_absolute_url(self) -> str:
        return reverse("intake:import_detail", kwargs={"pk": self.pk})

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.rows_done / self.total_rows))

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_stalled(self) -> bool:
        """Stopped by an error, or without progress for a while: its page offers "Resume"."""
        return self.status == self.Status.FAILED or (
            self.is_active and timezone.now() - self.updated_at > STALLED_AFTER
        )
