"""Record timeline entries for workflow runs: "Enrolled in workflow X", "Action Y
succeeded/failed" with a link to the run detail.

Written by a receiver of the engine's `executions_finished` signal, inside the engine's
completion (or failure) transaction, so an entry exists exactly when the ledger says the
step finished. Idempotent: every entry has a unique key — the enrollment for "enrolled",
and (execution, status, replay number) for a step — so a redelivery writes nothing new
while a replay that succeeds adds its own "succeeded" entry after the earlier "failed".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.dispatch import receiver
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from crm.display import TimelineEntry, link_describer_register, timeline_describer_register
from crm.models import Account, TimelineEvent
from workflows.history.events import action_label, run_url_parts, run_urls
from workflows.models import ActionExecution, Enrollment, Workflow
from workflows.signals import executions_finished

logger = logging.getLogger(__name__)


@receiver(executions_finished, dispatch_uid="workflows.timeline.executions_finished")
def on_executions_finished(
    sender: Any, executions: list[tuple[ActionExecution, Any]], **kwargs: Any
) -> None:
    """One savepoint and one INSERT for every execution the transaction finished (the
    engine completes executions in batches). On PostgreSQL the INSERT reads the rows from
    the ledger itself (`_entries_insert_sql`): building 600 model instances and sending
    their values cost the worker a quarter of a batch of Create task."""
    try:
        with transaction.atomic():  # a savepoint: a failure here never breaks the engine's
            if connection.vendor == "postgresql":
                _entries_insert_sql([execution for execution, _finished in executions])
            else:
                _entries_insert([execution for execution, _finished in executions])
    except Exception:
        logger.warning(
            "could not write the timeline entries of executions %s",
            [execution.pk for execution, _finished in executions],
            exc_info=True,
        )


def _entries_insert(executions: list[ActionExecution]) -> None:
    urls: dict[int, Callable[[int], str]] = {}
    events = []
    for execution in executions:
        if execution.workflow_id not in urls:
            urls[execution.workflow_id] = run_urls(execution.workflow_id)
        url = urls[execution.workflow_id](execution.enrollment_id)
        events += timeline_events(execution, url=url)
    TimelineEvent.objects.bulk_create(events, ignore_conflicts=True)


def _entries_insert_sql(executions: list[ActionExecution]) -> None:
    """What `timeline_events` builds, for every execution, in one INSERT … SELECT from
    the ledger rows the transaction has just finished (their status, error and replay
    number are read there). The "enrolled" entry of a run gets the lower id, as when
    it is written first."""
    head, middle, tail = run_url_parts()
    labels = {e.action_type: str(action_label(e.action_type)) for e in executions}
    ids = "{" + ",".join(str(e.pk) for e in executions) + "}"
    common = (
        "'workflow_id', e.workflow_id, 'workflow', w.name, 'enrollment_id', e.enrollment_id, "
        "'url', %(head)s || e.workflow_id || %(middle)s || e.enrollment_id || %(tail)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TimelineEvent._meta.db_table}
                (account_id, record_id, kind, source, data, idempotency_key, created_at)
            SELECT w.account_id, n.record_id, %(kind)s, 'workflow',
                CASE WHEN entry.step THEN jsonb_build_object(
                    {common},
                    'event', CASE WHEN e.status = %(succeeded)s
                        THEN 'action_succeeded' ELSE 'action_failed' END,
                    'execution_id', e.id, 'step_id', e.step_id, 'action_type', e.action_type,
                    'action', %(labels)s::jsonb ->> e.action_type
                ) || CASE WHEN e.status = %(succeeded)s THEN '{{}}'::jsonb
                    ELSE jsonb_build_object('error', left(e.error, 500)) END
                ELSE jsonb_build_object({common}, 'event', 'enrolled') END,
                CASE WHEN entry.step
                    THEN 'history:exec:' || e.id || ':' || e.status || ':' || e.replays
                    ELSE 'history:enrolled:' || e.enrollment_id END,
                now()
            FROM {ActionExecution._meta.db_table} e
            JOIN {Enrollment._meta.db_table} n ON n.id = e.enrollment_id
            JOIN {Workflow._meta.db_table} w ON w.id = e.workflow_id
            CROSS JOIN (VALUES (false), (true)) AS entry (step)
            WHERE e.id = ANY(%(ids)s::bigint[])
            ORDER BY e.id, entry.step
            ON CONFLICT DO NOTHING
            """,
            {
                "kind": TimelineEvent.Kind.WORKFLOW.value,
                "succeeded": ActionExecution.Status.SUCCEEDED.value,
                "labels": json.dumps(labels),
                "ids": ids,
                "head": head,
                "middle": middle,
                "tail": tail,
            },
        )


def timeline_entry(data: dict[str, Any]) -> TimelineEntry:
    """How a workflow entry reads on the record's timeline (crm.display asks)."""
    workflow = str(data.get("workflow") or "")
    event = data.get("event")
    link = (_("View run"), str(data["url"])) if data.get("url") else None
    if event == "enrolled":
        return TimelineEntry(
            format_html(
                _("Enrolled in the workflow <strong>{workflow}</strong>"), workflow=workflow
            ),
            link=link,
        )
    action = (
        action_label(data["action_type"])
        if data.get("action_type")
        else gettext(str(data.get("action") or ""))
    )
    if event == "action_failed":
        return TimelineEntry(
            format_html(
                _("<strong>{action}</strong> failed in the workflow {workflow}"),
                action=action,
                workflow=workflow,
            ),
            details=[(_("Error"), str(data.get("error") or ""))] if data.get("error") else [],
            link=link,
        )
    return TimelineEntry(
        format_html(
            _("<strong>{action}</strong> done by the workflow {workflow}"),
            action=action,
            workflow=workflow,
        ),
        link=link,
    )


timeline_describer_register(TimelineEvent.Kind.WORKFLOW, timeline_entry)


def timeline_events(execution: ActionExecution, *, url: str) -> list[TimelineEvent]:
    """The "enrolled" entry of the execution's run and the execution's own entry, `url`
    being the run detail (both idempotent by key)."""
    if ActionExecution.enrollment.is_cached(execution):
        enrollment = execution.enrollment
        record_id = enrollment.record_id
    else:
        record_id = Enrollment.objects.values_list("record_id", flat=True).get(
            pk=execution.enrollment_id
        )
    if ActionExecution.workflow.is_cached(execution):
        account_id, name = execution.workflow.account_id, execution.workflow.name
    else:
        account_id, name = Workflow.objects.values_list("account_id", "name").get(
            pk=execution.workflow_id
        )
    common = {
        "workflow_id": execution.workflow_id,
        "workflow": name,
        "enrollment_id": execution.enrollment_id,
        "url": url,
    }
    succeeded = execution.status == ActionExecution.Status.SUCCEEDED
    step = {
        **common,
        "event": "action_succeeded" if succeeded else "action_failed",
        "execution_id": execution.pk,
        "step_id": execution.step_id,
        "action_type": execution.action_type,
        "action": action_label(execution.action_type),
    }
    if not succeeded:
        step["error"] = (execution.error or "")[:500]
    return [
        TimelineEvent(
            account_id=account_id,
            record_id=record_id,
            kind=TimelineEvent.Kind.WORKFLOW,
            source="workflow",
            data={**common, "event": "enrolled"},
            idempotency_key=f"history:enrolled:{execution.enrollment_id}",
        ),
        TimelineEvent(
            account_id=account_id,
            record_id=record_id,
            kind=TimelineEvent.Kind.WORKFLOW,
            source="workflow",
            data=step,
            idempotency_key=f"history:exec:{execution.pk}:{execution.status}:{execution.replays}",
        ),
    ]


def _workflow_link(kwargs: dict[str, Any], account: Account) -> str:
    """A notification's link to a workflow, its history or a run: "Workflow: <name>"."""
    pk = int(kwargs.get("workflow_id") or kwargs["pk"])
    name = Workflow.objects.filter(account=account, pk=pk).values_list("name", flat=True)
    return _("Workflow: %(name)s") % {"name": name[0]} if name else ""


for _view in ("workflows:builder", "history:logs", "history:run", "history:enrollments"):
    link_describer_register(_view, _workflow_link)
