"""The seams through which an integration plugs into workflows, each a typed hook.

An integration (e.g. `marketplace/integrations/webhooks/`) registers from its
AppConfig.ready(); `workflows` never imports one and knows none by name:

- `ActionType` (`register`): a step a workflow can run: its builder section, config
  form, canvas summary, outputs, review problems, test panel, run-history labels, and
  how the engine runs it (`execute` / `execute_many` → `Outcome`, `apply`, `route`).
- `BuilderSection` (`section_register`): a group of the builder's action panel, with the
  connection its actions need ("… is not connected" and the Connect button).
- `TriggerType` (`trigger_register`): a way to start a workflow other than a record
  matching its criteria (e.g. "Webhook received"): its trigger-panel HTML and card text.
- `WorkflowTemplate` (`template_register`): a "Create from a template" workflow.
- `HealthProvider` (`health_provider_register`): a section of the System status page.

The marketplace's seams (listing, URLs, app-page tabs, usage providers) are in
marketplace/registry.py.

The life of one execution, as the engine calls an action type:
  1. `execute_many(contexts)` — outside any transaction; may be slow (HTTP); yields
     groups of (index, `Outcome`): `Success(outputs)`, `Retry(message, at=…)` or
     `Failure(message)`. The default calls `execute(context)` for each, which returns
     outputs or raises workflows.outcomes.TransientError / PermanentError / RetryLater
     (the default turns them into outcomes: workflows/outcomes.py). An action calling an outside service
     makes the calls of a batch at once (see `batchable` and `concurrent`).
  2. `apply(context, outputs)` — inside the short completion transaction; writes the
     database side effect keyed by `context.idempotency_key` and returns the final
     outputs. Built-in CRM actions do their work here, so the side effect, the
     `succeeded` status and the next step commit together or not at all.
  3. `route(context, step, outputs)` — which step runs next and when (branches, delays).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ops.logs import log_context
from workflows.context import ExecutionContext
from workflows.outcomes import (
    Outcome,
    Success,
    Wait,
    WaitUntil,
    outcome_of,
)

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crm.models import Account, PropertyDefinition, User
    from workflows.models import Workflow
    from workflows.tokens import TokenResolver

logger = logging.getLogger(__name__)


class OutputType:
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    JSON = "json"


@dataclass(frozen=True)
class Output:
    name: str
    label: Any  # str or a lazy translation
    type: str = OutputType.TEXT


class CanvasText(Protocol):
    """What the canvas gives `ActionType.summary` to write a card's line with."""

    def chips(self, text: str) -> str:
        """`text` escaped, its data tokens shown as chips (safe HTML)."""
        ...

    def user(self, value: Any) -> str:
        """A stored user choice ("owner" or a user id) as a name."""
        ...

    def property(self, name: str) -> str:
        """A property's label (its name when it no longer exists)."""
        ...

    def option(self, name: str, value: Any) -> str:
        """A property's stored option value as its label."""
        ...


@dataclass(frozen=True)
class Route:
    """The next step (None: the enrollment is complete) and when it is due (None: now)."""

    next_step: int | None
    due_at: dt.datetime | None = None


class ActionType:
    key: ClassVar[str]
    label: ClassVar[Any]  # str or a lazy translation
    description: ClassVar[Any] = ""
    # The builder section it is listed in (a registered `BuilderSection` key).
    section: ClassVar[str] = "crm"
    # Celery queue its executions go to: "default", or a queue of slow outside calls.
    queue: ClassVar[str] = "default"
    # True for actions whose executions may share one Celery message, one claim and one
    # completion transaction with others (a batch); a worker may also run them right
    # after the step before (same queue) and claim them when draining its queue's due
    # work. Built-in CRM and control actions are batchable because `execute` is quick
    # and does no network I/O. An action that calls an outside service is batchable
    # only if its `execute_many` makes the calls of a batch concurrently, each within a
    # deadline of its own (`concurrent`): a batch then lasts as long as its slowest
    # call, not the sum. Otherwise it stays False: one execution per message, so a
    # slow call holds no one else's lease.
    batchable: ClassVar[bool] = False
    # True when `execute_many` runs its executions at once and yields them in groups as
    # they finish: the engine completes each group as it comes, and sizes batches of
    # this type by `batch_limit()`, not by time per execution.
    concurrent: ClassVar[bool] = False
    # True when its executions can go through a cheaper, slower tier of the outside
    # service (economy mode: OpenAI's Batch API). Turning a workflow with such a step on
    # then offers to enroll the existing records in economy mode; `execute_many` sees
    # it as `ExecutionContext.economy` and may answer `Wait` until the tier's results
    # are in (docs/engine.md, "Economy mode").
    economy: ClassVar[bool] = False
    # A Django Form class validating the config (the builder renders it).
    config_form: ClassVar[type[forms.Form] | None] = None
    outputs: ClassVar[tuple[Output, ...]] = ()
    # Config keys whose values are not templates (ids, criteria): no token resolution,
    # and the builder offers no data tokens in them.
    raw_config_keys: ClassVar[frozenset[str]] = frozenset()
    # Config keys holding user choices (a user id, "owner", or a list of them): the run
    # history names them.
    user_config_keys: ClassVar[frozenset[str]] = frozenset()
    # Outputs naming something with a page of its own (e.g. a task): by output name,
    # its value → the page's URL. The run history links the value to it.
    output_links: ClassVar[dict[str, Callable[[Any], str | None]]] = {}

    # --- The builder ------------------------------------------------------------------

    def builder_form(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> forms.Form | None:
        """The config form the builder renders (choices may come from the account)."""
        return self.config_form(initial=config) if self.config_form is not None else None

    def config_from_builder(self, values: dict[str, Any]) -> dict[str, Any]:
        """The config to check and store from the values of `builder_form`'s fields
        (posted by the builder): the same unless the builder shows a stored value as
        several widgets, e.g. a kind of choice then a select of that kind."""
        return values

    def economy_note(self, workflow: Workflow, step: dict[str, Any], count: int) -> str:
        """What the review page says under the economy-mode choice about running this
        step for `count` existing records ("" for nothing), e.g. a budget that cannot
        take them all."""
        return ""

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        """Return the cleaned config or raise ValidationError (checked when saving)."""
        if self.config_form is None:
            return dict(config)
        form = self.config_form(data=config)
        if not form.is_valid():
            raise ValidationError(
                [
                    f"{field}: {' '.join(str(e) for e in errors)}"
                    for field, errors in form.errors.items()
                ]
            )
        # Keep the raw strings: they may hold tokens resolved at run time.
        return {name: config.get(name) for name in form.fields if name in config}

    def token_fields(
        self, config: dict[str, Any], *, definitions: dict[str, PropertyDefinition]
    ) -> dict[str, str]:
        """The form's text fields that accept data tokens, with the type of value they
        take ("text", or a property type such as "number"). Default: every plain
        CharField not in `raw_config_keys`."""
        if self.config_form is None:
            return {}
        return {
            name: "text"
            for name, form_field in self.config_form.base_fields.items()
            if name not in self.raw_config_keys and type(form_field) is forms.CharField
        }

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        """The card's line on the canvas (safe HTML): by default the first of the
        config's text fields, with its tokens as chips."""
        for name in ("title", "subject", "prompt", "value", "body", "notes", "url"):
            if config.get(name):
                return canvas.chips(config[name])
        return ""

    def resolve_config(self, config: dict[str, Any], resolver: TokenResolver) -> dict[str, Any]:
        """The config with its data tokens resolved: what `execute` sees and the run
        history shows. By default every value but `raw_config_keys` as plain text;
        override for values that need escaping (a JSON body, a one-line header). A
        ValidationError fails the execution with its message."""
        return dict(resolver.resolve(config, skip=self.raw_config_keys))

    def outputs_for(self, config: dict[str, Any], account: Account) -> tuple[Output, ...]:
        """The outputs of one configured step (the builder's data-variable picker and
        the graph's token checks use this). Override when they depend on the config,
        e.g. the structured fields of the chosen assistant; defaults to `outputs`."""
        return self.outputs

    def review_problems(self, config: dict[str, Any], account: Account) -> list[str]:
        """Problems to show on the builder's review step before turning the workflow on
        (e.g. a model no longer allowed). Empty: none. The section's connection is
        checked by the builder, not here."""
        return []

    def branches_after(self, step_id: int) -> list[dict[str, Any]]:
        """The paths of an If/then step the builder adds right after a new step of this
        type, for a step whose outputs say which way to go (e.g. Wait for approval:
        Approved / Rejected / No decision): each {"name": …, "groups": …} (branch
        conditions on `step_id`'s outputs). The first path continues to whatever
        followed the new step; the others start empty, for the builder to fill.
        Empty (the default): none."""
        return []

    def builder_panel_extra(
        self, config: dict[str, Any], *, workflow: Workflow, user: User, step_id: int
    ) -> str:
        """Extra HTML (a safe string) for step `step_id`'s config panel in the builder,
        shown after its fields — e.g. a "Test" section. It sits inside the panel's form,
        so an htmx POST from it carries the form's fields (the config being edited,
        saved or not) and CSRF token. Empty: nothing."""
        return ""

    def config_pin(self, config: dict[str, Any], *, account: Account) -> dict[str, Any]:
        """The config as publishing freezes it into a workflow version (after
        validation): an action whose config names something that changes on its own
        (e.g. an assistant that is edited) pins the version it will run, so a live
        workflow never changes behind its builder's back. Default: as is."""
        return config

    # --- The run history --------------------------------------------------------------

    def describe_inputs(self, config: dict[str, Any], *, account: Account) -> list[tuple[str, str]]:
        """One step's inputs as the run history shows them: (label, text) pairs, labelled
        as in the builder (the config form's labels; the key itself for a key the form
        does not know), a choice by its label ("To-do", not "todo"), a user choice
        (`user_config_keys`) by name ("Record owner" for "owner"), other values as
        stored (JSON for structured ones). Override to name what an id stands for. Keys
        starting with "_" are internal and left out."""
        return self._inputs_described(config, users=self._users_named(account))

    def describe_steps(
        self, configs: list[dict[str, Any]], *, account: Account
    ) -> list[StepDescription]:
        """Every step of this type on one history page, described at once: override to
        read what their configs name in one query, not one per step. The default reads
        the account's users once (if `user_config_keys`) and labels the outputs of
        `outputs_for`."""
        overridden = type(self).describe_inputs is not ActionType.describe_inputs
        users = {} if overridden else self._users_named(account)
        return [
            StepDescription(
                inputs=(
                    self.describe_inputs(config, account=account)
                    if overridden
                    else self._inputs_described(config, users=users)
                ),
                output_labels={o.name: str(o.label) for o in self.outputs_for(config, account)},
                output_links=self.output_links,
            )
            for config in configs
        ]

    def _users_named(self, account: Account) -> dict[Any, Any]:
        if not self.user_config_keys:
            return {}
        from crm.models import User

        return User.objects.filter(account=account).in_bulk()

    def _inputs_described(
        self, config: dict[str, Any], *, users: dict[Any, Any]
    ) -> list[tuple[str, str]]:
        from crm import display

        fields = self.config_form.base_fields if self.config_form is not None else {}
        described: list[tuple[str, str]] = []
        for key, value in config.items():
            key = str(key)
            if key.startswith("_"):
                continue
            field = fields.get(key)
            label = field.label if field is not None and field.label else key
            if key in self.user_config_keys and value not in (None, "", []):
                text = display.users_label(_json_or_value(value), users)
            else:
                text = _choice_text(field, value)
            described.append((str(label), text))
        return described

    def step_detail_html(self, outputs: dict[str, Any]) -> str:
        """Extra HTML (a safe string) the run detail shows under one step's inputs and
        outputs, made from its stored outputs' internal keys ("_…", which the outputs
        list leaves out) — e.g. an AI step's tool rounds. Empty: nothing."""
        return ""

    # --- The engine -------------------------------------------------------------------

    def usage_of(self, execution_ids: list[int]) -> dict[int, StepUsage]:
        """What these executions of this type spent, by execution id, read in one query
        from the action's own store (e.g. the OpenAI package's usage rows); executions
        that spent nothing are left out. Default: actions that spend nothing."""
        return {}

    def batch_limit(self) -> int | None:
        """The most executions of this type in one batch (None: WORKFLOWS_BATCH_SIZE)."""
        return None

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        """One execution's slow part; returns outputs or raises one of the errors of
        workflows/outcomes.py (TransientError, PermanentError, RetryLater)."""
        return {}

    def execute_many(
        self, contexts: list[ExecutionContext]
    ) -> Iterator[Sequence[tuple[int, Outcome | Wait]]]:
        """`execute` for a batch, outside any transaction: yields groups of (index in
        `contexts`, Outcome); the engine completes each group in one transaction as it
        arrives. The default runs them one by one and yields one group."""
        finished: list[tuple[int, Outcome | Wait]] = []
        for index, context in enumerate(contexts):
            # Lines logged meanwhile carry the execution's id and account (ops/logs.py).
            with log_context(execution_id=context.execution_id, account_id=context.account.pk):
                try:
                    finished.append((index, Success(self.execute(context) or {})))
                except WaitUntil as wait:
                    finished.append((index, Wait(wait.at)))
                except Exception as error:  # noqa: BLE001 - outcome_of classifies it
                    finished.append((index, outcome_of(error)))
        yield finished

    def apply(self, context: ExecutionContext, outputs: dict[str, Any]) -> dict[str, Any]:
        return outputs

    def apply_many(
        self, items: list[tuple[ExecutionContext, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """`apply` for several executions of this type completing in one transaction
        (a batch); returns their final outputs in order. Override to write the side
        effects in bulk; the default applies them one by one."""
        return [self.apply(context, outputs) for context, outputs in items]

    def route(
        self, context: ExecutionContext, step: dict[str, Any], outputs: dict[str, Any]
    ) -> Route:
        return Route(step.get("next"))


@dataclass(frozen=True)
class StepUsage:
    """What one succeeded step spent, as its action type recorded it (the run detail and
    the replay estimate show it): token counts by name ("input_tokens", "output_tokens",
    "reasoning_tokens", "total_tokens") and the cost in USD (None: not priced)."""

    model: str = ""
    tokens: dict[str, int] = field(default_factory=dict)
    cost: Decimal | None = None


@dataclass(frozen=True)
class StepDescription:
    """How the run history shows one step: its inputs as (label, text) pairs, and the
    labels of its outputs by name (an output not listed is shown by its name)."""

    inputs: list[tuple[str, str]]
    output_labels: dict[str, str]
    # Outputs that name something with a page of its own (e.g. a task): by output name,
    # its value → the page's URL (None: no page). The history links the value to it.
    output_links: dict[str, Callable[[Any], str | None]] = field(default_factory=dict)
    # Outputs whose stored value is a code (an option value, a user id): by output
    # name, its value → the text shown.
    output_texts: dict[str, Callable[[Any], str]] = field(default_factory=dict)


def _choice_text(field: forms.Field | None, value: Any) -> str:
    """A choice field's stored value (or list of values) as its labels; anything else,
    or a value the choices no longer hold, as `value_text` shows it."""
    choices = getattr(field, "choices", None)
    if not choices:
        return value_text(value)
    labels = {str(k): str(v) for k, v in choices if not isinstance(v, list | tuple)}
    if isinstance(value, str) and value in labels:
        return labels[value]
    if isinstance(value, list) and value and all(str(v) in labels for v in value):
        return ", ".join(labels[str(v)] for v in value)
    return value_text(value)


def _json_or_value(value: Any) -> Any:
    """A list stored as its JSON text (a form's JSONField) as the list."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def value_text(value: Any) -> str:
    """A stored input or output as text: strings as they are, None as "", anything
    else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# --- Builder sections -------------------------------------------------------------


@dataclass(frozen=True)
class BuilderSection:
    """A group of the action panel. An integration whose actions need a connection
    says so with `connection_problem` (shown on the panel, the step and the review,
    which refuses to turn the workflow on) and `connect_url` (the Connect button)."""

    key: str
    label: Any  # str or a lazy translation
    icon: str  # a heroicon name
    order: int = 100
    connect_label: Any = ""
    connection_problem: Callable[[Account], str | None] = field(default=lambda account: None)
    # (next path) -> the URL of the connect dialog that returns there, or None.
    connect_url: Callable[[str], str | None] = field(default=lambda next_path: None)


_SECTIONS: dict[str, BuilderSection] = {}


def section_register(section: BuilderSection) -> BuilderSection:
    _SECTIONS[section.key] = section
    return section


def sections() -> list[BuilderSection]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


def section(key: str) -> BuilderSection | None:
    return _SECTIONS.get(key)


# --- Triggers ---------------------------------------------------------------------


class TriggerType:
    """A way to start a workflow other than a record matching its criteria. A workflow
    with `trigger = key` enrolls only when the trigger's integration calls
    `workflows.services.enrollment_trigger` (turning it on enrolls no existing
    record, and record changes do not enroll it)."""

    key: ClassVar[str]
    label: ClassVar[Any]
    description: ClassVar[Any] = ""

    def panel_html(self, workflow: Workflow, *, request: HttpRequest) -> str:
        """The trigger panel's settings for this trigger (safe HTML): e.g. its URL."""
        return ""

    def summary(self, workflow: Workflow) -> str:
        """The trigger card's text on the canvas."""
        return str(self.label)

    def review_problems(self, workflow: Workflow) -> list[str]:
        return []


_TRIGGERS: dict[str, TriggerType] = {}


TriggerT = TypeVar("TriggerT", bound=type[TriggerType] | TriggerType)


def trigger_register(trigger: TriggerT) -> TriggerT:
    """Register a trigger type (usable as a class decorator)."""
    instance = trigger() if isinstance(trigger, type) else trigger
    _TRIGGERS[instance.key] = instance
    return trigger


def trigger_types() -> list[TriggerType]:
    return sorted(_TRIGGERS.values(), key=lambda t: str(t.label))


def trigger_type(key: str) -> TriggerType | None:
    return _TRIGGERS.get(key)


# --- Templates --------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowTemplate:
    """A "Create from a template" workflow. `build(account)` returns the new workflow's
    fields: `criteria`, `graph` and any other Workflow field (e.g. `form_id`), fresh
    each call, with the account's choices filled in where it has them."""

    key: str
    name: Any
    description: Any
    object_type: str
    build: Callable[[Account], dict[str, Any]]
    order: int = 100


_TEMPLATES: dict[str, WorkflowTemplate] = {}


def template_register(template: WorkflowTemplate) -> WorkflowTemplate:
    _TEMPLATES[template.key] = template
    return template


def templates() -> list[WorkflowTemplate]:
    return sorted(_TEMPLATES.values(), key=lambda t: (t.order, t.key))


def template(key: str) -> WorkflowTemplate | None:
    return _TEMPLATES.get(key)


# --- System status ------------------------------------------------------------------


@dataclass(frozen=True)
class HealthSection:
    """A section of the System status page: a title and its body (safe HTML)."""

    title: str
    html: str


# Returns None when it has nothing to say; must not raise (the page renders anyway).
HealthProvider = Callable[[], HealthSection | None]
_HEALTH: list[HealthProvider] = []


def health_provider_register(provider: HealthProvider) -> HealthProvider:
    if provider not in _HEALTH:
        _HEALTH.append(provider)
    return provider


def health_sections() -> list[HealthSection]:
    found = []
    for provider in _HEALTH:
        try:
            found.append(provider())
        except Exception:  # noqa: BLE001 - one provider never breaks the status page
            logger.warning("health provider %r failed", provider, exc_info=True)
    return [s for s in found if s is not None]


# --- Metrics ------------------------------------------------------------------------

# Prometheus metric families (prometheus_client `Metric` objects) computed when /metrics
# is scraped, from the database and Redis, so that every process reports the same
# figures. Must be cheap (a few indexed queries) and must not raise.
MetricsProvider = Callable[[], Iterable[Any]]
_METRICS: list[MetricsProvider] = []


def metrics_provider_register(provider: MetricsProvider) -> MetricsProvider:
    if provider not in _METRICS:
        _METRICS.append(provider)
    return provider


def metrics_providers() -> list[MetricsProvider]:
    return list(_METRICS)


# --- Action types -----------------------------------------------------------------

_REGISTRY: dict[str, ActionType] = {}


ActionT = TypeVar("ActionT", bound=type[ActionType] | ActionType)


def register(action_type: ActionT) -> ActionT:
    """Register an action type (usable as a class decorator). Re-registering a key
    replaces it, so module reloads in development do not fail."""
    instance = action_type() if isinstance(action_type, type) else action_type
    _REGISTRY[instance.key] = instance
    return action_type


def get(key: str) -> ActionType:
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ValidationError(_("Unknown action “%(key)s”.") % {"key": key}) from None


def batchable_keys() -> list[str]:
    return sorted(key for key, action_type in _REGISTRY.items() if action_type.batchable)


def batch_size(key: str, default: int) -> int:
    """How many executions of this type one batch (and one message) may carry."""
    action_type = _REGISTRY.get(key)
    limit = action_type.batch_limit() if action_type is not None else None
    return max(1, min(default, limit)) if limit else default


def queue_batch_limit(queue: str | None) -> int | None:
    """The batch size of a queue's concurrent batchable types (None: there are none,
    batches are sized by time); the smallest when several share the queue."""
    limits = [
        limit
        for action_type in _REGISTRY.values()
        if action_type.batchable
        and action_type.concurrent
        and action_type.queue == queue
        and (limit := action_type.batch_limit())
    ]
    return max(1, min(limits)) if limits else None


def all_types() -> list[ActionType]:
    return sorted(_REGISTRY.values(), key=lambda t: (t.section, str(t.label)))
