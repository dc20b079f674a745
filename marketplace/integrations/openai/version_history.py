"""An assistant's page below its form: the published workflows that use it (which
version each runs, and what adopting the newest would break), and its versions with
their diffs, usage (runs, tokens, cost, failure rate) and the evaluations that tested
them.

Usage per version reads the usage rows (`AssistantUsage.assistant_version`, one per
succeeded call) and the failed Ask executions whose inputs name the version (the pin is
part of the config an execution keeps as its inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from marketplace.integrations.openai import versions
from marketplace.integrations.openai.listing import ACTION_KEY
from marketplace.integrations.openai.models import (
    AssistantUsage,
    AssistantVersion,
    Evaluation,
    WorkspaceAssistant,
)
from marketplace.integrations.openai.version_panel import broken_readers
from workflows.models import ActionExecution, Workflow

# Versions the page shows (newest first).
VERSIONS_SHOWN = 50


@dataclass
class WorkflowUse:
    """A published workflow's Ask step on this assistant."""

    workflow: Workflow
    step_id: int
    pinned: int | None  # the version number it runs (None: not pinned, the newest)
    # Steps that adopting the newest version breaks: step id → reasons.
    breaks: dict[int, list[str]] = field(default_factory=dict)


def workflows_using(assistant: WorkspaceAssistant) -> list[WorkflowUse]:
    """Every published workflow (on or off) whose live version asks `assistant`, with
    what adopting its newest version would break."""
    newest = versions.version_current(assistant)
    numbers = {v.pk: v for v in assistant.versions.all()}
    uses = []
    for workflow in (
        Workflow.objects.filter(account_id=assistant.account_id, live_version__isnull=False)
        .select_related("live_version")
        .order_by("name", "id")
    ):
        graph = workflow.live_version.graph if workflow.live_version else {}
        for key, step in (graph.get("steps") or {}).items():
            config = step.get("config") or {}
            if step.get("type") != ACTION_KEY or config.get("assistant") != assistant.choice_value:
                continue
            pin = config.get(versions.CONFIG_KEY)
            pinned = numbers.get(pin) if isinstance(pin, int) else None
            breaks = (
                broken_readers(
                    graph, int(key), versions.fields_broken(pinned.snapshot, newest.snapshot)
                )
                if pinned is not None and pinned.number < newest.number
                else {}
            )
            uses.append(WorkflowUse(workflow, int(key), pinned.number if pinned else None, breaks))
    return uses


@dataclass
class VersionRow:
    version: AssistantVersion
    diff: versions.VersionDiff | None  # from the version before (None: the first)
    runs: int = 0
    failed: int = 0
    tokens: int = 0
    cost: Decimal | None = None
    is_newest: bool = False
    evaluations: list[Evaluation] = field(default_factory=list)  # that tested it, newest first

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.runs * 100 if self.runs else None


def version_rows(assistant: WorkspaceAssistant) -> list[VersionRow]:
    """The newest VERSIONS_SHOWN versions, newest first, each with its diff from the one
    before and its usage."""
    versions.version_current(assistant)
    shown = list(
        assistant.versions.select_related("created_by").order_by("-number")[: VERSIONS_SHOWN + 1]
    )
    ids = [v.pk for v in shown]
    used: dict[Any, dict[str, Any]] = {
        row["assistant_version"]: dict(row)
        for row in AssistantUsage.objects.filter(assistant_version__in=ids, evaluation__isnull=True)
        .values("assistant_version")
        .annotate(n=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost_usd"))
    }
    failed = {
        row["inputs__assistant_version"]: row["n"]
        for row in ActionExecution.objects.filter(
            workflow__account_id=assistant.account_id,
            action_type=ACTION_KEY,
            status=ActionExecution.Status.FAILED,
            inputs__assistant_version__in=ids,
        )
        .values("inputs__assistant_version")
        .annotate(n=Count("id"))
    }
    tested: dict[int, list[Evaluation]] = {}
    for evaluation in Evaluation.objects.filter(
        Q(version_a__in=ids) | Q(version_b__in=ids)
    ).select_related("evaluation_set")[:200]:
        for pk in {evaluation.version_a_id, evaluation.version_b_id}:
            if pk is not None:
                tested.setdefault(pk, []).append(evaluation)
    rows = []
    for index, version in enumerate(shown[:VERSIONS_SHOWN]):
        before = shown[index + 1] if index + 1 < len(shown) else None
        usage = used.get(version.pk, {})
        fails = failed.get(version.pk, 0)
        rows.append(
            VersionRow(
                version,
                versions.versions_diff(before.snapshot, version.snapshot) if before else None,
                runs=(usage.get("n") or 0) + fails,
                failed=fails,
                tokens=usage.get("tokens") or 0,
                cost=usage.get("cost"),
                is_newest=index == 0,
                evaluations=tested.get(version.pk, []),
            )
        )
    return rows
