"""The two history lists of a workflow: the Action logs (one row per step of a run,
newest first) and the Enrollment history (one row per run). Both are keyset pages
(paging.py) of runs the user may see (access.py), narrowed by the filters (filters.py).

What must stay true (docs/performance.md, "History pages"): a page reads a fixed number
of queries whatever its rows — one joined query for a page of executions and their
records; one for a page of enrollments and their records, then one for their latest
steps — and run URLs are reversed once per page, not per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from crm.models import Record
from workflows.history.events import action_label, event_of, run_urls, step_label, time_text
from workflows.history.filters import HistoryFilter
from workflows.history.paging import PAGE_SIZE, Page, page_of
from workflows.models import ActionExecution, Enrollment, Workflow


@dataclass
class Row:
    """One line of a history list: whose run, what happened (`state` is the css state,
    `text` the event or the run's current step or outcome), when, and the run detail."""

    record: Record
    state: str
    text: str
    time: dt.datetime
    url: str
    step: str = ""  # Action logs: "2. Set property value"
    execution: ActionExecution | None = None  # Action logs: its error shows under the event
    enrollment: Enrollment | None = None  # Enrollment history: a failed run can be replayed

    @property
    def time_iso(self) -> str:
        return self.time.isoformat()

    @property
    def time_text(self) -> str:
        return time_text(self.time)


def action_logs(
    executions: QuerySet[ActionExecution],
    *,
    workflow: Workflow,
    filters: HistoryFilter,
    cursor: str | None = None,
    size: int = PAGE_SIZE,
) -> Page[Row]:
    """A page of `executions` (access.executions_for), newest first."""
    executions = filters.apply_to_executions(executions, workflow)
    executions = executions.select_related("enrollment__record").only(
        "id",
        "enrollment_id",
        "step_id",
        "action_type",
        "status",
        "attempt",
        "attempts",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "due_at",
        "enrollment__record_id",
        "enrollment__record__name",
        "enrollment__record__email",
        "enrollment__record__object_type",
    )
    run_url = run_urls(workflow.pk)

    def row(execution: ActionExecution) -> Row:
        state, event = event_of(execution)
        return Row(
            record=execution.enrollment.record,
            state=state,
            text=event,
            time=execution.finished_at or execution.started_at or execution.created_at,
            url=run_url(execution.enrollment_id),
            step=step_label(execution),
            execution=execution,
        )

    return page_of(executions, cursor, time_field="created_at", size=size).map(row)


def enrollment_history(
    enrollments: QuerySet[Enrollment],
    *,
    workflow: Workflow,
    filters: HistoryFilter,
    cursor: str | None = None,
    size: int = PAGE_SIZE,
) -> Page[Row]:
    """A page of `enrollments` (access.enrollments_for), newest first, each with where
    it is: its current step and that step's event, or its outcome."""
    enrollments = filters.apply_to_enrollments(enrollments, workflow)
    enrollments = enrollments.select_related("record").only(
        "id",
        "workflow_id",
        "record_id",
        "status",
        "enrolled_at",
        "finished_at",
        "record__name",
        "record__email",
        "record__object_type",
    )
    page = page_of(enrollments, cursor, time_field="enrolled_at", size=size)
    latest = _latest_steps([enrollment.pk for enrollment in page.rows])
    run_url = run_urls(workflow.pk)

    def row(enrollment: Enrollment) -> Row:
        state, text = _where(enrollment, latest.get(enrollment.pk))
        return Row(
            record=enrollment.record,
            state=state,
            text=text,
            time=enrollment.enrolled_at,
            url=run_url(enrollment.pk),
            enrollment=enrollment,
        )

    return page.map(row)


def _latest_steps(enrollment_ids: list[int]) -> dict[int, ActionExecution]:
    """The newest step of each enrollment, in one query."""
    latest: dict[int, ActionExecution] = {}
    for execution in (
        ActionExecution.objects.filter(enrollment_id__in=enrollment_ids)
        .only(
            "id",
            "enrollment_id",
            "step_id",
            "action_type",
            "status",
            "attempt",
            "attempts",
            "error",
            "started_at",
        )
        .order_by("id")
    ):
        latest[execution.enrollment_id] = execution
    return latest


def _where(enrollment: Enrollment, current: ActionExecution | None) -> tuple[str, str]:
    """(css state, text) of where a run is: "2. Set property value — Retrying (…)",
    "Failed at 2. Set property value", "Completed", or its status."""
    if enrollment.status == Enrollment.Status.ACTIVE and current is not None:
        state, event = event_of(current)
        return state, _("%(step)s — %(event)s") % {"step": step_label(current), "event": event}
    if enrollment.status == Enrollment.Status.FAILED and current is not None:
        return "failed", _("Failed at %(step)s") % {"step": step_label(current)}
    if enrollment.status == Enrollment.Status.COMPLETED:
        return "ok", _("Completed")
    return "off", str(enrollment.get_status_display())


def action_types_of(workflow: Workflow) -> list[tuple[str, str]]:
    """(key, label) of the action types of the workflow's live graph and of its draft,
    by label: the choices of the Action filter."""
    keys = {
        step.get("type")
        for graph in (workflow.graph, workflow.live_version.graph if workflow.live_version else {})
        for step in (graph or {}).get("steps", {}).values()
    }
    return sorted(((key, action_label(key)) for key in keys if key), key=lambda pair: pair[1])
