"""Replaying failed runs from the failed step: what would run again, what it would
cost, and doing it through the engine's `executions_replay` (succeeded steps are never
run again; the failed step keeps its execution id, so its side-effect keys too)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from crm.ids import parse_id
from workflows import registry, services
from workflows.history.usage import total_tokens, usages_of
from workflows.models import ActionExecution, Enrollment, Workflow

Status = ActionExecution.Status
# The estimate of a step without usage of its own averages this many successful runs.
AVERAGE_OF = 20


def failed_executions(
    *, workflow: Workflow, enrollment_ids: list[int] | None = None, since: dt.date | None = None
) -> QuerySet[ActionExecution]:
    """The failed steps of `workflow`, of those enrollments and/or finished since that day."""
    failed = ActionExecution.objects.filter(workflow=workflow, status=Status.FAILED)
    if enrollment_ids:
        failed = failed.filter(enrollment_id__in=enrollment_ids)
    if since:
        failed = failed.filter(
            finished_at__gte=timezone.make_aware(dt.datetime.combine(since, dt.time.min))
        )
    return failed


@dataclass
class ReplaySelection:
    """The runs a replay asks for: `enrollment` ids (repeatable; only the runs the user
    may see count) and/or every failed step `since` a day."""

    enrollment_ids: list[int]
    since: dt.date | None
    failed: QuerySet[ActionExecution]


def replay_selection(
    params: QueryDict, *, workflow: Workflow, enrollments: QuerySet[Enrollment]
) -> ReplaySelection:
    """The selection in a query string or form; `enrollments` are the runs the user may
    see (access.enrollments_for). Ids that are all hidden select nothing, not everything."""
    asked = params.getlist("enrollment")
    ids = [pk for pk in (parse_id(value) for value in asked) if pk is not None]
    try:
        since = dt.date.fromisoformat(params.get("since") or "")
    except ValueError:  # none, or not a date
        since = None
    if ids:
        ids = list(enrollments.filter(pk__in=ids).values_list("pk", flat=True))
    failed = failed_executions(workflow=workflow, enrollment_ids=ids or None, since=since)
    if asked and not ids:
        failed = failed.none()
    return ReplaySelection(ids, since, failed)


@dataclass
class ReplayEstimate:
    count: int
    tokens: int | None  # None: unknown
    cost: Decimal | None  # None: unknown


def replay_estimate(failed: QuerySet[ActionExecution]) -> ReplayEstimate:
    """How many failed steps would run again, and what they would cost: the average of
    the last AVERAGE_OF successful runs of the same step (what its action recorded,
    `ActionType.usage_of`). Steps with no usage anywhere cost nothing if their action
    spends no tokens (built-in actions); otherwise — an AI step that never succeeded, or
    tokens without a recorded cost — the tokens or the cost are unknown (None), never a
    made-up $0."""
    rows = list(failed.values("step_id", "action_type"))
    workflow_id = failed.values_list("workflow_id", flat=True).first()
    if workflow_id is None:
        return ReplayEstimate(0, 0, Decimal(0))
    tokens = 0
    cost = Decimal(0)
    tokens_known = cost_known = True
    averages: dict[int, tuple[int, Decimal | None]] = {}
    for row in rows:
        if row["step_id"] not in averages:
            averages[row["step_id"]] = _step_average(workflow_id, row["step_id"])
        step_tokens, step_cost = averages[row["step_id"]]
        if not step_tokens and _spends_tokens(row["action_type"]):
            tokens_known = cost_known = False
        tokens += step_tokens
        if step_tokens and step_cost is None:
            cost_known = False
        cost += step_cost or 0
    return ReplayEstimate(len(rows), tokens if tokens_known else None, cost if cost_known else None)


def _spends_tokens(action_type: str) -> bool:
    """An action whose outputs include `total_tokens` (the AI actions) spends tokens."""
    try:
        return any(output.name == "total_tokens" for output in registry.get(action_type).outputs)
    except ValidationError:
        return False


def _step_average(workflow_id: int, step_id: int) -> tuple[int, Decimal | None]:
    recent = list(
        ActionExecution.objects.filter(
            workflow_id=workflow_id,
            step_id=step_id,
            status=Status.SUCCEEDED,
        )
        .order_by("-id")
        .values_list("pk", "action_type")[:AVERAGE_OF]
    )
    usages = list(usages_of(recent).values())
    tokens = [found for found in (total_tokens(usage) for usage in usages) if found is not None]
    if not tokens:
        return 0, None
    costs = [usage.cost for usage in usages if usage.cost is not None]
    average_tokens = round(sum(tokens) / len(tokens))
    average_cost = (
        (sum(costs, Decimal(0)) / len(costs)).quantize(Decimal("0.000001")) if costs else None
    )
    return average_tokens, average_cost


def runs_replay(*, workflow: Workflow, failed: QuerySet[ActionExecution]) -> int:
    """Replay the failed runs through the engine's replay, one enrollment at a time: each
    restarts at its failed step; steps that succeeded are not run again. Returns how many
    steps will run again."""
    replayed = 0
    enrollment_ids = sorted(set(failed.values_list("enrollment_id", flat=True)))
    for enrollment in Enrollment.objects.filter(pk__in=enrollment_ids, workflow=workflow):
        replayed += services.executions_replay(workflow=workflow, enrollment=enrollment)
    return replayed
