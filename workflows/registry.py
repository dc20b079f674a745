"""The action registry: every action a workflow can run is an `ActionType` registered here.

Built-in actions register in workflows/actions/; an integration registers its own from
its AppConfig.ready() (`from workflows.registry import ActionType, register`).
`workflows` never imports an integration.

The life of one execution, as the engine calls an action type:
  1. `execute(context)` — outside any transaction; may be slow (HTTP); returns outputs
     (a dict matching `outputs`) or raises workflows.errors.TransientError /
     PermanentError / RetryLater. A batch calls `execute_many(contexts)`, which by
     default calls `execute` for each; an action calling an outside service may
     override it to make the calls at once (see `batchable` and `concurrent`).
  2. `apply(context, outputs)` — inside the short completion transaction; writes the
     database side effect keyed by `context.idempotency_key` and returns the final
     outputs. Built-in CRM actions do their work here, so the side effect, the
     `succeeded` status and the next step commit together or not at all.
  3. `route(context, step, outputs)` — which step runs next and when (branches, delays).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from workflows.context import ExecutionContext


class OutputType:
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    JSON = "json"


@dataclass(frozen=True)
class Output:
    name: str
    label: str
    type: str = OutputType.TEXT


@dataclass(frozen=True)
class Route:
    """The next step (None: the enrollment is complete) and when it is due (None: now)."""

    next_step: int | None
    due_at: dt.datetime | None = None


class ActionType:
    key: ClassVar[str]
    label: ClassVar[str]
    # Where the builder lists it: "crm", "communication", "control", "integrations"…
    section: ClassVar[str] = "crm"
    # Celery queue its executions go to: "default", or "assistant" for slow OpenAI calls.
    queue: ClassVar[str] = "default"
    # True for actions whose executions may share one Celery message, one claim and one
    # completion transaction with others (a batch); a worker may also run them right
    # after the step before (same queue) and claim them when draining its queue's due
    # work. Built-in CRM and control actions are batchable because `execute` is quick
    # and does no network I/O. An action that calls an outside service is batchable
    # only if its `execute_many` makes the calls of a batch concurrently, each within a
    # deadline of its own (`concurrent`, the Ask OpenAI assistant action): a batch then
    # lasts as long as its slowest call, not the sum. Otherwise it stays False: one
    # execution per message, so a slow call holds no one else's lease.
    batchable: ClassVar[bool] = False
    # True when `execute_many` runs its executions at once and yields them in groups as
    # they finish: the engine completes each group as it comes, and sizes batches of
    # this type by `batch_limit()`, not by time per execution.
    concurrent: ClassVar[bool] = False
    # A Django Form class validating the config (the builder renders it).
    config_form: ClassVar[type[forms.Form] | None] = None
    outputs: ClassVar[tuple[Output, ...]] = ()

    def validate_config(self, config: dict[str, Any], *, account, object_type: str) -> dict:
        """Return the cleaned config or raise ValidationError (checked when saving)."""
        if self.config_form is None:
            return dict(config)
        form = self.config_form(data=config)
        if not form.is_valid():
            raise ValidationError(
                [f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()]
            )
        # Keep the raw strings: they may hold tokens resolved at run time.
        return {name: config.get(name) for name in form.fields if name in config}

    def outputs_for(self, config: dict[str, Any], account) -> tuple[Output, ...]:
        """The outputs of one configured step (the builder's data-variable picker and
        the graph's token checks use this). Override when they depend on the config,
        e.g. the structured fields of the chosen assistant; defaults to `outputs`."""
        return self.outputs

    def review_problems(self, config: dict[str, Any], account) -> list[str]:
        """Problems to show on the builder's review step before turning the workflow on
        (e.g. an app not connected, a model no longer allowed). Empty: none."""
        return []

    def builder_panel_extra(self, config: dict[str, Any], *, workflow, user) -> str:
        """Extra HTML (a safe string) for this action's config panel in the builder,
        shown after its fields — e.g. the OpenAI action's "Test" section. It sits inside
        the panel's form, so an htmx POST from it carries the form's fields (the config
        being edited, saved or not) and CSRF token. Empty: nothing."""
        return ""

    def describe_inputs(self, config: dict[str, Any], *, account) -> list[tuple[str, str]]:
        """One step's inputs as the run history shows them: (label, text) pairs, labelled
        as in the builder (the config form's labels; the key itself for a key the form
        does not know), a choice by its label ("To-do", not "todo"), other values as
        stored (JSON for structured ones). Override to name what an id stands for. Keys
        starting with "_" are internal and left out."""
        fields = self.config_form.base_fields if self.config_form is not None else {}
        described = []
        for key, value in config.items():
            key = str(key)
            if key.startswith("_"):
                continue
            field = fields.get(key)
            label = field.label if field is not None and field.label else key
            described.append((str(label), _choice_text(field, value)))
        return described

    def describe_steps(self, configs: list[dict[str, Any]], *, account) -> list[StepDescription]:
        """Every step of this type on one history page, described at once: override to
        read what their configs name in one query, not one per step. The default asks
        `describe_inputs` and `outputs_for` for each config."""
        return [
            StepDescription(
                inputs=self.describe_inputs(config, account=account),
                output_labels={o.name: str(o.label) for o in self.outputs_for(config, account)},
            )
            for config in configs
        ]

    def batch_limit(self) -> int | None:
        """The most executions of this type in one batch (None: WORKFLOWS_BATCH_SIZE)."""
        return None

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        return {}

    def execute_many(
        self, contexts: list[ExecutionContext]
    ) -> Iterator[list[tuple[int, dict[str, Any] | Exception]]]:
        """`execute` for a batch, outside any transaction: yields groups of (index in
        `contexts`, outputs or the exception `execute` raised); the engine completes
        each group in one transaction as it arrives and handles each exception as if
        `execute` had raised it. The default runs them one by one and yields one group."""
        finished: list[tuple[int, dict[str, Any] | Exception]] = []
        for index, context in enumerate(contexts):
            try:
                finished.append((index, self.execute(context) or {}))
            except Exception as error:  # noqa: BLE001 - the engine classifies it
                finished.append((index, error))
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

    def route(self, context: ExecutionContext, step: dict, outputs: dict[str, Any]) -> Route:
        return Route(step.get("next"))

    # Token resolution: config keys whose values are NOT templates (e.g. criteria).
    raw_config_keys: ClassVar[frozenset[str]] = frozenset()


@dataclass(frozen=True)
class StepDescription:
    """How the run history shows one step: its inputs as (label, text) pairs, and the
    labels of its outputs by name (an output not listed is shown by its name)."""

    inputs: list[tuple[str, str]]
    output_labels: dict[str, str]


def _choice_text(field, value: Any) -> str:
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


def value_text(value: Any) -> str:
    """A stored input or output as text: strings as they are, None as "", anything
    else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


_REGISTRY: dict[str, ActionType] = {}


def register(action_type: type[ActionType] | ActionType) -> type[ActionType] | ActionType:
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
