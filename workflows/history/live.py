"""Live per-step counts for the canvas: how many steps wait, run, succeeded and failed
over all the workflow's runs. Every open canvas polls them (every 3 s while anything
waits or runs), so they are cached per workflow: waiting/running/failed (few rows, read
through the (workflow, status, …) index) 2 s; succeeded — nearly every row of a big
workflow, a scan — 30 s.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count

from workflows.history.events import action_label
from workflows.models import ActionExecution, Workflow

Status = ActionExecution.Status
LIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.SUCCEEDED, Status.FAILED)
ACTIVE_SECONDS = 2
SUCCEEDED_SECONDS = 30


def live_counts(workflow: Workflow) -> dict[int, dict[str, int]]:
    """{step id: {"pending", "running", "succeeded", "failed"}}."""
    active = grouped_counts(
        workflow, (Status.PENDING, Status.RUNNING, Status.FAILED), ACTIVE_SECONDS
    )
    done = grouped_counts(workflow, (Status.SUCCEEDED,), SUCCEEDED_SECONDS)
    counts: dict[int, dict[str, int]] = {}
    for found in (active, done):
        for (step_id, status), n in found.items():
            counts.setdefault(step_id, dict.fromkeys(LIVE_STATUSES, 0))[status] = n
    return counts


def grouped_counts(
    workflow: Workflow, statuses: tuple[str, ...], seconds: int
) -> dict[tuple[int, str], int]:
    """{(step id, status): n} for `statuses`, cached `seconds` (benchmarks/history_pages.py
    times it uncached)."""
    key = f"history:live:{workflow.pk}:{','.join(statuses)}"
    found = cache.get(key)
    if found is None:
        rows = (
            ActionExecution.objects.filter(workflow=workflow, status__in=statuses)
            .values_list("step_id", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        found = {(step_id, status): n for step_id, status, n in rows}
        cache.set(key, found, seconds)
    counts: dict[tuple[int, str], int] = found
    return counts


def is_busy(counts: dict[int, dict[str, int]]) -> bool:
    """Anything waiting or running: the canvas keeps polling."""
    return any(step[Status.PENDING] or step[Status.RUNNING] for step in counts.values())


@dataclass
class LiveStep:
    id: int
    label: str
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0


def live_steps(workflow: Workflow, counts: dict[int, dict[str, int]]) -> list[LiveStep]:
    """Every step of the live graph (the draft's before the first publish), and any step
    that has runs but is no longer in it, by id."""
    graph = workflow.live_version.graph if workflow.live_version else workflow.graph
    labels = {
        int(step_id): action_label(step.get("type", ""))
        for step_id, step in (graph or {}).get("steps", {}).items()
    }
    return [
        LiveStep(step_id, labels.get(step_id, ""), **counts.get(step_id, {}))
        for step_id in sorted(set(labels) | set(counts))
    ]
