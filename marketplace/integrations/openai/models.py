"""What the "Ask OpenAI assistant" action keeps in the database.

- `WorkspaceAssistant`: an assistant defined in crmflow (run with the Responses API).
- `AssistantVersion`: an immutable, numbered snapshot of what a workspace assistant
  sends to OpenAI (versions.py builds it); a published workflow's Ask steps pin one.
- `AssistantUsage`: one row per succeeded call (tokens, model, cost): a workflow
  execution's, written in its completion transaction, or an evaluation answer's
  (`evaluation` set, no workflow); usage per execution, workflow and month is an
  indexed sum, and budgets count both.
- `EvaluationSet`, `Evaluation`, `EvaluationAnswer`: records to ask an assistant with
  their expected answers, one run of one or two versions over them, and each answer
  (evaluations.py).
- `ModelPrice`: the account's editable price table (USD per 1M tokens).
- `AssistantBudget`: a monthly cap (tokens or USD) per connection or per workflow.
- `ConnectionEndpoint`: where the connection's calls go when it is not OpenAI itself
  (Azure OpenAI, an OpenAI-compatible server); no row = OpenAI.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from marketplace.integrations.openai.specs import FieldType, OutputField


class ReasoningEffort(models.TextChoices):
    MINIMAL = "minimal", _("Minimal")
    LOW = "low", pgettext_lazy("reasoning effort", "Low")
    MEDIUM = "medium", pgettext_lazy("reasoning effort", "Medium")
    HIGH = "high", pgettext_lazy("reasoning effort", "High")


class OutputFormat(models.TextChoices):
    TEXT = "text", _("Text")
    STRUCTURED = "structured", _("Structured (named fields)")


class WorkspaceAssistantQuerySet(models.QuerySet):
    def for_account(self, account) -> WorkspaceAssistantQuerySet:
        return self.filter(account=account)

    def active(self) -> WorkspaceAssistantQuerySet:
        return self.filter(archived_at__isnull=True)


class WorkspaceAssistant(models.Model):
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    instructions = models.TextField(_("instructions"), blank=True)
    model = models.CharField(_("model"), max_length=100)
    temperature = models.FloatField(
        _("temperature"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
    )
    reasoning_effort = models.CharField(
        _("reasoning effort"), max_length=10, choices=ReasoningEffort, blank=True
    )
    output_format = models.CharField(
        _("output format"), max_length=12, choices=OutputFormat, default=OutputFormat.TEXT
    )
    # [{"name": "rating", "type": "enumeration", "options": ["HOT", "WARM", "COLD"]}, …]
    output_fields = models.JSONField(_("output fields"), default=list, blank=True)
    # The CRM tools it may call (names of tools/__init__.py TOOLS), read-only, and how
    # many model requests one step may make while it calls them.
    tools = models.JSONField(_("CRM tools"), default=list, blank=True)
    max_tool_rounds = models.PositiveSmallIntegerField(
        _("maximum rounds"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceAssistantQuerySet.as_manager()

    class Meta:
        verbose_name = _("workspace assistant")
        verbose_name_plural = _("workspace assistants")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def choice_value(self) -> str:
        return f"ws:{self.pk}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def fields(self) -> tuple[OutputField, ...]:
        """The structured output fields (empty for a text answer)."""
        if self.output_format != OutputFormat.STRUCTURED:
            return ()
        return tuple(
            OutputField(
                f["name"],
                FieldType(f["type"]),
                tuple(f.get("options") or ()),
                label=f.get("label") or "",
            )
            for f in self.output_fields
        )


class AssistantVersion(models.Model):
    """What a workspace assistant sent to OpenAI from one save on: never updated once
    created (a restore adds a new version with an old snapshot). `snapshot` holds the
    fields of versions.SNAPSHOT_FIELDS."""

    assistant = models.ForeignKey(
        WorkspaceAssistant, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("assistant version")
        verbose_name_plural = _("assistant versions")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["assistant", "number"], name="unique_assistant_version")
        ]

    def __str__(self) -> str:
        return f"{self.assistant_id} v{self.number}"


class AssistantUsage(models.Model):
    """Tokens and cost of one succeeded call: of a workflow execution (unique per
    execution: a redelivered completion cannot count twice) or of an evaluation answer
    (`evaluation` set, `workflow` and `execution` empty)."""

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "marketplace.Connection", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    execution = models.OneToOneField(
        "workflows.ActionExecution",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="assistant_usage",
    )
    evaluation = models.ForeignKey(
        "Evaluation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The workspace assistant version the call ran (None: an account assistant).
    assistant_version = models.ForeignKey(
        AssistantVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    engine = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # None: the model has no price in the table.
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("assistant usage")
        verbose_name_plural = _("assistant usage")
        indexes = [
            models.Index(fields=["connection", "created_at"], name="usage_by_connection"),
            models.Index(fields=["workflow", "created_at"], name="usage_by_workflow"),
            models.Index(fields=["account", "created_at"], name="usage_by_account"),
        ]

    def __str__(self) -> str:
        return f"{self.model} · {self.total_tokens} tokens"


class ModelPrice(models.Model):
    """USD per 1M tokens for one model, per account (seeded from pricing.DEFAULT_PRICES)."""

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(_("model"), max_length=100)
    input = models.DecimalField(
        _("input"), max_digits=10, decimal_places=4, validators=[MinValueValidator(Decimal(0))]
    )
    cached_input = models.DecimalField(
        _("cached input"),
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
    )
    output = models.DecimalField(
        _("output"), max_digits=10, decimal_places=4, validators=[MinValueValidator(Decimal(0))]
    )
    # The date the price was verified (the defaults' date, or when an admin edited it).
    as_of = models.DateField(_("as of"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")
        ordering = ["model"]
        constraints = [
            models.UniqueConstraint(fields=["account", "model"], name="one_price_per_model")
        ]

    def __str__(self) -> str:
        return self.model


class BudgetUnit(models.TextChoices):
    TOKENS = "tokens", _("Tokens")
    USD = "usd", _("US dollars")


class AssistantBudget(models.Model):
    """A monthly cap: for the whole connection (workflow empty) or one workflow."""

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "marketplace.Connection", on_delete=models.CASCADE, related_name="+"
    )
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    unit = models.CharField(_("unit"), max_length=10, choices=BudgetUnit, default=BudgetUnit.TOKENS)
    monthly_limit = models.DecimalField(
        _("monthly limit"),
        max_digits=16,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("AI budget")
        verbose_name_plural = _("AI budgets")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "workflow"],
                name="one_budget_per_workflow",
                condition=models.Q(workflow__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["connection"],
                name="one_budget_per_connection",
                condition=models.Q(workflow__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.monthly_limit} {self.unit}"


class EndpointKind(models.TextChoices):
    OPENAI = "openai", _("OpenAI")
    AZURE = "azure", _("Azure OpenAI")
    COMPATIBLE = "compatible", _("OpenAI-compatible server")


class ConnectionEndpoint(models.Model):
    """The endpoint of the account's OpenAI connection, chosen in the connect dialog and
    in Reconnect. `url`: the Azure resource URL, or the compatible server's base URL."""

    connection = models.OneToOneField(
        "marketplace.Connection",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="openai_endpoint",
    )
    kind = models.CharField(
        _("endpoint"), max_length=12, choices=EndpointKind, default=EndpointKind.OPENAI
    )
    url = models.URLField(_("endpoint URL"), max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("connection endpoint")
        verbose_name_plural = _("connection endpoints")

    def __str__(self) -> str:
        return f"{self.kind} {self.url}".strip()


class EconomyBatch(models.Model):
    """One OpenAI batch of economy-mode Ask steps (economy.py), or of one economy-mode
    evaluation's answers (evaluation_economy.py, `evaluation` set): the uploaded JSONL
    file and the batch made from it, polled by the beat job until it ends."""

    class Status(models.TextChoices):
        UPLOADING = "uploading", _("Uploading")  # ours: the file is being written and sent
        VALIDATING = "validating", _("Validating")
        IN_PROGRESS = "in_progress", _("In progress")
        FINALIZING = "finalizing", _("Finalizing")
        COMPLETED = "completed", pgettext_lazy("batch status", "Completed")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")
        CANCELLING = "cancelling", _("Cancelling")
        CANCELLED = "cancelled", pgettext_lazy("batch status", "Cancelled")

    connection = models.ForeignKey(
        "marketplace.Connection", on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.UPLOADING)
    openai_batch_id = models.CharField(max_length=100, blank=True)
    input_file_id = models.CharField(max_length=100, blank=True)
    rows = models.PositiveIntegerField(default=0)
    # The evaluation whose answers it holds (a batch holds one evaluation's or only
    # workflow steps'); None: workflow steps.
    evaluation = models.ForeignKey(
        "Evaluation", on_delete=models.CASCADE, null=True, blank=True, related_name="batches"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Set once its results are applied (a finished batch is never read again).
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="economy_batch_open",
                condition=models.Q(finished_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"economy batch {self.pk} ({self.status})"


class EconomyItem(models.Model):
    """One economy-mode Ask step waiting for its batch: the request it sends (JSON
    text), then the answer (the output line's response body) or its return to a normal
    call. `execution_id` is the ledger row (no foreign key: the ledger's rows are the
    engine's), or `answer` the evaluation answer it asks: then no execution, and
    `execution_id` is minus the answer's id (unique, never a ledger row's)."""

    class State(models.TextChoices):
        QUEUED = "queued"  # waits for the next batch file
        SUBMITTED = "submitted"  # in a batch at OpenAI
        DONE = "done"  # `result` holds the answer: the step completes with it
        RETURNED = "returned"  # failed in the batch, or the batch ended without it: a normal call

    execution_id = models.BigIntegerField(unique=True)
    answer = models.OneToOneField(
        "EvaluationAnswer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="economy_item",
    )
    connection = models.ForeignKey(
        "marketplace.Connection", on_delete=models.CASCADE, related_name="+"
    )
    batch = models.ForeignKey(
        EconomyBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    state = models.CharField(max_length=10, choices=State, default=State.QUEUED)
    body = models.TextField()
    result = models.TextField(blank=True)
    # The budget reservation of its estimate at the batch price (limiter/budget.py
    # `reservation_dump`), settled once when the answer is applied or the item returned.
    reservation = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["connection", "id"],
                name="economy_item_queued",
                condition=models.Q(state="queued"),
            )
        ]

    def __str__(self) -> str:
        return f"economy item of execution {self.execution_id} ({self.state})"


class EvaluationSet(models.Model):
    """Records to ask a workspace assistant (at most evaluations.MAX_RECORDS), the prompt
    sent for each (tokens as in an Ask step) and, optionally, the expected answer per
    record: {"<record id>": {"fields": {"rating": "HOT"}, "text_op": "contains",
    "text": "quote"}}."""

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    assistant = models.ForeignKey(
        WorkspaceAssistant, on_delete=models.CASCADE, related_name="evaluation_sets"
    )
    name = models.CharField(_("name"), max_length=100)
    object_type = models.CharField(_("object"), max_length=20)
    prompt = models.TextField(_("prompt"))
    records = models.JSONField(default=list)  # record ids, in the order shown
    expected = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("evaluation set")
        verbose_name_plural = _("evaluation sets")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Evaluation(models.Model):
    """One run of a set through one or two sides: a version, or a version with another
    model. Kept when finished; linked from the versions it tested."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Finished")
        STOPPED = "stopped", _("Stopped")

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    evaluation_set = models.ForeignKey(
        EvaluationSet, on_delete=models.CASCADE, related_name="evaluations"
    )
    version_a = models.ForeignKey(AssistantVersion, on_delete=models.CASCADE, related_name="+")
    model_a = models.CharField(max_length=100, blank=True)  # "": the version's model
    version_b = models.ForeignKey(
        AssistantVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    model_b = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    message = models.TextField(blank=True)  # why it stopped
    # Asked in economy mode: through the Batch API (or the Flex tier), at the batch price
    # (evaluation_economy.py).
    economy = models.BooleanField(default=False)
    # A worker runs it until then (a redelivered task waits for the lease to end).
    leased_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("evaluation")
        verbose_name_plural = _("evaluations")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.evaluation_set_id} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.STOPPED)


class EvaluationAnswer(models.Model):
    """One record's answer on one side of an evaluation."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        OK = "ok", _("Answered")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not asked")

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="answers")
    record = models.ForeignKey("crm.Record", on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=1)  # "a" or "b"
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)  # a retry's time
    text = models.TextField(blank=True)
    structured = models.JSONField(null=True, blank=True)
    tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("evaluation answer")
        verbose_name_plural = _("evaluation answers")
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "record", "side"], name="one_answer_per_side"
            )
        ]
        indexes = [models.Index(fields=["evaluation", "status"], name="answers_by_status")]

    def __str__(self) -> str:
        return f"{self.evaluation_id} {self.record_id} {self.side}"
