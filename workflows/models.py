"""Workflows, their frozen versions, enrollments and the execution ledger.

How a live workflow is edited without corrupting runs in flight: the builder edits
`Workflow.graph` (a draft) and `workflow_publish` freezes it into a new immutable
`WorkflowVersion`. Every `Enrollment` points at the version it enrolled under and every
`ActionExecution` reads its step from that version's graph, so a run started on
version 3 finishes on version 3 even if version 4 deletes or reorders its steps.

The graph (JSON, see workflows/graph.py):
    {"start": 1,
     "steps": {"1": {"type": "create_task", "config": {...}, "next": 2},
               "2": {"type": "branch", "config": {"paths": [{"name": "Hot",
                       "groups": [...], "next": 3}], "none_next": null}},
               "3": {"type": "delay", "config": {"amount": 2, "unit": "days"}, "next": null}}}
Step ids are integers given once and never reused, so `{{ actions.3.response }}` keeps
pointing at the same step when steps move.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import Q, Value
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import ObjectType


class Workflow(models.Model):
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(_("object"), max_length=10, choices=ObjectType)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_enabled = models.BooleanField(_("turned on"), default=False)
    # Enrollment criteria in crm.filters' JSON form (OR of AND groups); [] = every record.
    criteria = models.JSONField(_("enrollment criteria"), default=list, blank=True)
    # "Submitted form X" trigger: the crm Form's id. When set, the workflow enrolls on
    # that form's submissions only (and the criteria, if any, must also match).
    form_id = models.BigIntegerField(_("submitted form"), null=True, blank=True)
    # Or the key of a registered TriggerType (e.g. "Webhook received"): the workflow then
    # enrolls when that trigger's integration says so (the criteria, if any, must match).
    trigger = models.CharField(_("trigger"), max_length=40, blank=True, default="")
    re_enroll = models.BooleanField(
        _("re-enroll records that match again"),
        default=False,
        help_text=_("When on, a record that stops matching and matches again enrolls again."),
    )
    # The draft graph being edited; `live_version` is what new enrollments run.
    graph = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=0)
    live_version = models.ForeignKey(
        "workflows.WorkflowVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("workflow")
        verbose_name_plural = _("workflows")
        indexes = [
            models.Index(fields=["account", "object_type", "is_enabled"], name="workflow_live"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def enrolls_on_events(self) -> bool:
        """True when records enroll on an event (a form submission, an app's trigger)
        only: record changes and turning it on enroll nobody."""
        return bool(self.form_id or self.trigger)

    @cached_property
    def fan_out(self) -> FanOut | None:
        """The latest enrollment of existing records (turning it on), for its progress."""
        return FanOut.objects.filter(workflow=self).order_by("-pk").first()


class FanOut(models.Model):
    """Turning a workflow on enrolls its existing matching records: this row is that
    fan-out's own ledger entry. `cursor` is the last record id whose window committed
    (every record up to it was considered), so a fan-out stopped by a killed worker, a
    lost message or an emptied Redis resumes from it (the sweeper re-sends unfinished
    ones whose lease expired); enrolling never-enrolled records only keeps a record
    from enrolling twice. The builder's progress bar reads `done` / `total`."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="+")
    cursor = models.BigIntegerField(default=0)
    # Matching records when it started (None until counted) and records enrolled so far.
    total = models.PositiveIntegerField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    # Held by the task running it, renewed each window; expired = nobody runs it.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    # Economy mode: the enrollments' outside calls may go through the service's cheaper,
    # slower tier (their source is ECONOMY).
    economy = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["started_at"],
                name="fan_out_unfinished",
                condition=Q(finished_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"fan-out {self.pk} of workflow {self.workflow_id}"


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow's graph; never updated once created."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="unique_workflow_version")
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    def step(self, step_id: int | None) -> dict[str, Any] | None:
        if step_id is None:
            return None
        step: dict[str, Any] | None = self.graph.get("steps", {}).get(str(step_id))
        return step


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("enrollment status", "Active")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        UNENROLLED = "unenrolled", _("Unenrolled")

    class Source(models.TextChoices):
        TRIGGER = "trigger", _("Met the criteria")
        BULK = "bulk", _("Matched when turned on")
        FORM = "form", _("Submitted the form")
        EVENT = "event", _("Triggered by an app")
        MANUAL = "manual", _("Enrolled manually")
        ECONOMY = "economy", _("Matched when turned on (economy mode)")

    # Indexes and constraints are chosen for the bulk fan-out (docs/engine.md, "Indexes
    # and constraints"): `workflow` and `record` are covered by the composite indexes
    # below (and enrollment_history, migration 0002), so they get no index of their own.
    # No foreign key of the ledger is checked by the database (db_constraint=False): the
    # rows are written by the engine only, from rows it has just read, and deleted by
    # Django's collector (on_delete is emulated in Python either way). Those checks were
    # most of a bulk enrollment's time (a row lock per referenced row at COMMIT).
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.CASCADE,
        related_name="enrollments",
        db_index=False,
        db_constraint=False,
    )
    version = models.ForeignKey(
        WorkflowVersion,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    record = models.ForeignKey(
        "crm.Record",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.ACTIVE)
    source = models.CharField(max_length=10, choices=Source, default=Source.TRIGGER)
    enrolled_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            # "Never while already enrolled", enforced by the database.
            models.UniqueConstraint(
                fields=["workflow", "record"],
                condition=Q(status="active"),
                name="one_active_enrollment",
            )
        ]
        indexes = [
            models.Index(fields=["record", "workflow"], name="enrollment_by_record"),
            # The Enrollment history, newest first, paged by (enrolled_at, id).
            models.Index(fields=["workflow", "enrolled_at", "id"], name="enrollment_history"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} in {self.workflow_id}"


class ExecutionQuerySet(models.QuerySet["ActionExecution"]):
    def due(self, now: dt.datetime | None = None) -> ExecutionQuerySet:
        return self.filter(status=ActionExecution.Status.PENDING, due_at__lte=now or timezone.now())

    def lease_expired(self, now: dt.datetime | None = None) -> ExecutionQuerySet:
        return self.filter(
            status=ActionExecution.Status.RUNNING, lease_expires_at__lt=now or timezone.now()
        )


class ActionExecution(models.Model):
    """The ledger: one row per step of one enrollment. The truth; Celery only wakes us."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        # Paused without a worker (e.g. waiting for a person's approval) until resumed
        # (ledger.execution_resume) or until `due_at`, when the step runs again to decide.
        WAITING = "waiting", _("Waiting")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        CANCELLED = "cancelled", _("Cancelled")

    # Covered by one_execution_per_step (enrollment, step_id): no index of its own; not
    # checked by the database (see Enrollment).
    enrollment = models.ForeignKey(
        Enrollment,
        on_delete=models.CASCADE,
        related_name="executions",
        db_index=False,
        db_constraint=False,
    )
    # Denormalised so "all failed runs of a workflow" and history pages need no join;
    # always the enrollment's workflow. Covered by the history indexes (0002).
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    step_id = models.PositiveIntegerField()
    action_type = models.CharField(max_length=100)
    queue = models.CharField(max_length=50, default="default")
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempt = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When a wake-up message was last published; the sweeper re-sends stale ones.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    # What a step spent (tokens, cost) is its action's own store, read through
    # `ActionType.usage_of` (the OpenAI package's usage rows): not a column here.
    error = models.TextField(blank=True)
    # Failed, retried and postponed attempts, oldest first, at most ATTEMPTS_KEPT:
    # [{"n": 1, "at": iso, "kind": "retry|rate_limited|failed", "error": "…",
    #   "wait_seconds": 2.5, "replay": 1, "times": 3}] (engine/ledger.py, attempt_record).
    # Written in the UPDATE that hands the row back, so a first-time success costs nothing.
    # The database default too, so bulk SQL inserts that do not name it keep working.
    attempts = models.JSONField(
        default=list, db_default=Value([], output_field=models.JSONField()), blank=True
    )
    replays = models.PositiveIntegerField(default=0)
    # Times the worker running this step ALONE stopped (its lease expired): the
    # poison-step guard fails the step after WORKFLOWS_MAX_WORKER_DEATHS
    # (engine/ledger.py). A death in a batch is nobody's in particular: not counted.
    deaths = models.PositiveSmallIntegerField(default=0, db_default=0)
    # A batch of one: while `running`, this attempt was claimed alone (its worker's
    # death is the step's own and counts in `deaths`); while `pending`, its last worker
    # died holding it in a batch, so it is claimed alone next time (engine/ledger.py).
    alone = models.BooleanField(default=False, db_default=False)
    # The outside call's identity, committed before its answer is awaited (an OpenAI
    # background response id, an Assistants "thread/run" id): an attempt taking over
    # after its worker died reads that answer instead of paying for a new one. Empty:
    # none recorded (an action that cannot resume, or no call yet).
    call_ref = models.CharField(max_length=200, blank=True, default="", db_default="")
    # PostgreSQL: the backend pid of the heartbeat connection of the worker process
    # holding this `running` row (set by each beat; NULL until the first): when that
    # backend is gone, the worker died and the row is taken back before its lease ends.
    owner = models.IntegerField(null=True, blank=True)
    # Transient errors are retried until then (set at the first retry: the first
    # attempt's start + WORKFLOWS_RETRY_DEADLINE_SECONDS); a replay clears it.
    retry_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        verbose_name = _("action execution")
        verbose_name_plural = _("action executions")
        constraints = [
            # A step runs at most once per enrollment: a duplicated "next step" insert fails.
            models.UniqueConstraint(fields=["enrollment", "step_id"], name="one_execution_per_step")
        ]
        indexes = [
            # Partial indexes: each holds only the rows the sweeper and the workers look
            # for (pending by due time, running by lease), so the millions of finished
            # rows cost nothing in them, and a row's change of status touches one at most.
            models.Index(
                fields=["due_at"], name="execution_pending_due", condition=Q(status="pending")
            ),
            # Waiting rows by their time-out: the sweeper looks only at those due.
            models.Index(
                fields=["due_at"], name="execution_waiting_due", condition=Q(status="waiting")
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="execution_running_lease",
                condition=Q(status="running"),
            ),
            # The Action logs of a workflow, newest first, paged by (created_at, id):
            # unfiltered or by date range / action type, and filtered by status (which
            # also finds the failed runs to replay). They cover the `workflow` key.
            models.Index(fields=["workflow", "created_at", "id"], name="execution_history"),
            models.Index(
                fields=["workflow", "status", "created_at", "id"], name="execution_history_status"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action_type} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"exec:{self.pk}"


class EmailDelivery(models.Model):
    """Marks an internal email as handed to the mail server, keyed by execution and
    recipient: written (committed) before sending, so a redelivery never sends twice."""

    execution = models.ForeignKey(ActionExecution, on_delete=models.CASCADE, related_name="+")
    recipient = models.EmailField()
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["execution", "recipient"], name="one_email_per_recipient"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient} (execution {self.execution_id})"
