"""The run detail: one enrollment's steps, each with its event, its inputs and outputs
(labelled as in the builder), what it spent, its timings and the attempts that did not
succeed.

Inputs are the resolved config stored on the row (after token substitution), written by
a failed or retried attempt as well as a successful one; a step that failed before its
tokens were resolved shows its configuration instead (`inputs_resolved` False). Each
action type describes all its steps of the run at once (`ActionType.describe_steps`), so
a run reads a fixed number of queries however many steps it has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy

from crm.models import Account
from workflows import registry
from workflows.history.events import event_of, step_label, time_text
from workflows.history.usage import total_tokens, usages_of
from workflows.models import ActionExecution, Enrollment

Status = ActionExecution.Status


@dataclass
class Value:
    """One input or output for display: its label, its text (JSON for structured
    values), and whether it is long enough to fold into a <details>."""

    label: str
    text: str
    long: bool
    url: str | None = None

    @classmethod
    def of(cls, label: str, text: str, url: str | None = None) -> Value:
        return cls(label, text, len(text) > 160 or "\n" in text, url)


def _inputs(description: registry.StepDescription) -> list[Value]:
    return [Value.of(label, text) for label, text in description.inputs]


def _outputs(outputs: dict[str, Any], description: registry.StepDescription) -> list[Value]:
    labels, links = description.output_labels, description.output_links
    texts = description.output_texts
    return [
        Value.of(
            labels.get(str(name)) or str(name),
            texts[str(name)](value) if str(name) in texts else registry.value_text(value),
            links[str(name)](value) if str(name) in links and value not in (None, "") else None,
        )
        for name, value in outputs.items()
        if not str(name).startswith("_")
    ]


def _unnamed(data: Any) -> list[Value]:
    """Stored data that is not a dict of names (never written so, but kept readable)."""
    return [Value.of("—", registry.value_text(data))] if data not in (None, "", [], {}) else []


def _descriptions(
    executions: list[ActionExecution], configs: list[dict[str, Any]], *, account: Account
) -> list[registry.StepDescription]:
    """How each step is described (labels, names for ids), asking each action type once
    for all its steps of the run (so an action reads what they name in one query)."""
    by_type: dict[str, list[int]] = {}
    for index, execution in enumerate(executions):
        by_type.setdefault(execution.action_type, []).append(index)
    found: list[registry.StepDescription | None] = [None] * len(executions)
    for key, indexes in by_type.items():
        try:
            action_type = registry.get(key)
        except ValidationError:  # an action no longer installed: its raw keys
            action_type = registry.ActionType()
        described = action_type.describe_steps([configs[i] for i in indexes], account=account)
        for index, description in zip(indexes, described, strict=True):
            found[index] = description
    return [description for description in found if description is not None]


def _detail(execution: ActionExecution, outputs: Any) -> str:
    if not isinstance(outputs, dict) or not any(str(k).startswith("_") for k in outputs):
        return ""
    try:
        action_type = registry.get(execution.action_type)
    except ValidationError:  # an action no longer installed
        return ""
    return action_type.step_detail_html(outputs)


@dataclass
class Attempt:
    """One failed, retried or postponed attempt of a step (an entry of
    ActionExecution.attempts, written by the engine)."""

    number: int
    replay: int
    kind: str
    error: str
    wait_seconds: float | None
    times: int
    at: dt.datetime | None

    LABELS: ClassVar[dict[str, Any]] = {
        "retry": gettext_lazy("Failed, retried"),
        "rate_limit": gettext_lazy("Rate limited by the service, retried"),
        "rate_limited": gettext_lazy("Waited for the rate limit"),
        "busy": gettext_lazy("Waited for the budget (held by calls in flight)"),
        "handed_back": gettext_lazy("Handed back by a stopping worker"),
        "worker_stopped": gettext_lazy("The worker stopped while running it, retried"),
        "failed": gettext_lazy("Failed"),
    }

    @property
    def label(self) -> str:
        return str(self.LABELS.get(self.kind, self.kind))

    @property
    def state(self) -> str:
        return "failed" if self.kind == "failed" else "warning"

    @property
    def time_iso(self) -> str:
        return self.at.isoformat() if self.at else ""

    @property
    def time_text(self) -> str:
        return time_text(self.at) if self.at else ""


def _attempts(execution: ActionExecution) -> list[Attempt]:
    found = []
    for entry in execution.attempts or []:
        if not isinstance(entry, dict):
            continue
        try:
            at = dt.datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            at = None
        wait = entry.get("wait_seconds")
        found.append(
            Attempt(
                number=int(entry.get("n") or 0),
                replay=int(entry.get("replay") or 0),
                kind=str(entry.get("kind") or ""),
                error=str(entry.get("error") or ""),
                wait_seconds=float(wait) if isinstance(wait, int | float) else None,
                times=int(entry.get("times") or 1),
                at=at,
            )
        )
    if execution.deaths:  # counted by the sweeper in bulk, without an entry each
        found.append(
            Attempt(
                number=execution.attempt,
                replay=execution.replays,
                kind="worker_stopped",
                error="",
                wait_seconds=None,
                times=execution.deaths,
                at=None,
            )
        )
    return found


@dataclass
class StepRun:
    execution: ActionExecution
    label: str
    state: str
    event: str
    inputs: list[Value]
    inputs_resolved: bool
    outputs: list[Value]
    model: str
    tokens: dict[str, int]
    cost: Decimal | None
    duration: dt.timedelta | None
    wait: dt.timedelta | None  # until a pending step's next try
    attempts: list[Attempt] = field(default_factory=list)
    detail: str = ""  # the action type's extra HTML (ActionType.step_detail_html)

    @property
    def timings(self) -> dict[str, str]:
        execution = self.execution
        return {
            name: timezone.localtime(moment).strftime("%H:%M:%S")
            for name, moment in (
                ("queued", execution.created_at),
                ("started", execution.started_at),
                ("finished", execution.finished_at),
            )
            if moment
        }


def run_steps(enrollment: Enrollment, *, account: Account) -> list[StepRun]:
    """The steps of one run, in the order they were scheduled."""
    now = timezone.now()
    executions = list(ActionExecution.objects.filter(enrollment=enrollment).order_by("id"))
    configs = [
        execution.inputs or (enrollment.version.step(execution.step_id) or {}).get("config") or {}
        for execution in executions
    ]
    descriptions = _descriptions(
        executions, [c if isinstance(c, dict) else {} for c in configs], account=account
    )
    usages = usages_of((e.pk, e.action_type) for e in executions)
    steps = []
    for execution, config, description in zip(executions, configs, descriptions, strict=True):
        usage = usages.get(execution.pk)
        state, event = event_of(execution)
        duration = None
        if execution.started_at and execution.finished_at:
            duration = execution.finished_at - execution.started_at
        wait = None
        if execution.status in (Status.PENDING, Status.WAITING) and execution.due_at > now:
            wait = execution.due_at - now
        outputs = execution.outputs
        steps.append(
            StepRun(
                execution=execution,
                label=step_label(execution),
                state=state,
                event=event,
                inputs=_inputs(description) if isinstance(config, dict) else _unnamed(config),
                inputs_resolved=bool(execution.inputs),
                outputs=_outputs(outputs, description)
                if isinstance(outputs, dict)
                else _unnamed(outputs),
                model=usage.model if usage else "",
                tokens={**usage.tokens, "total_tokens": total_tokens(usage) or 0}
                if usage and usage.tokens
                else {},
                cost=usage.cost if usage else None,
                duration=duration,
                wait=wait,
                attempts=_attempts(execution),
                detail=_detail(execution, outputs),
            )
        )
    return steps
