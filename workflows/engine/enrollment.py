"""Enrolling records: per record on change (inside the change's transaction) and
set-based in bulk (turning a workflow on, imports).

Rules (documented in docs/engine.md):
- A record enrolls when it matches the criteria and has never been enrolled in the
  workflow. With re-enrollment on, it enrolls again only on a change from
  not-matching to matching, and never while it is already enrolled (a partial unique
  constraint backs that up).
- A workflow with a "submitted form" trigger enrolls on that form's submissions only; one
  with an app's trigger (`Workflow.trigger`) when that app calls
  `workflows.services.enrollment_trigger`.
- Bulk paths (turning on, bulk imports) enroll records never enrolled before: they do
  not know previous values, so they never re-enroll.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Min, Q, QuerySet
from django.utils import timezone

from crm import filters
from crm.models import PropertyDefinition, Record
from crm.services import definitions_for
from workflows import registry
from workflows.conf import setting
from workflows.engine import ledger
from workflows.engine.publish import (
    execution_send,
    executions_kick,
    executions_publish,
    fan_out_send,
)
from workflows.models import ActionExecution, Enrollment, FanOut, Workflow, WorkflowVersion

logger = logging.getLogger(__name__)


def live_workflows(account_id: int, object_type: str) -> QuerySet[Workflow]:
    return Workflow.objects.filter(
        account_id=account_id,
        object_type=object_type,
        is_enabled=True,
        live_version__isnull=False,
    ).select_related("live_version")


def criteria_of(
    workflow: Workflow, definitions: dict[str, PropertyDefinition]
) -> list[list[filters.Condition]] | None:
    try:
        return filters.parse_groups(definitions, workflow.criteria)
    except ValidationError:
        # A property used in the criteria was deleted: the workflow enrolls nothing
        # until someone fixes it, rather than everything.
        logger.warning("workflow %s has invalid criteria; skipping", workflow.pk)
        return None


def enrollment_start(
    *, workflow: Workflow, record: Record, source: str = Enrollment.Source.TRIGGER
) -> Enrollment | None:
    """Enroll `record` on the live version and queue its first step, in the caller's
    transaction. None if it is already enrolled."""
    version = workflow.live_version
    if version is None:  # callers enroll only in live workflows
        raise ValueError(f"workflow {workflow.pk} has no live version")
    start = version.graph.get("start")
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a lost race must not break the caller
            enrollment = Enrollment.objects.create(
                workflow=workflow,
                version=version,
                record=record,
                source=source,
                enrolled_at=now,
                **({} if start else {"status": Enrollment.Status.COMPLETED, "finished_at": now}),
            )
    except IntegrityError:
        return None
    if start:
        step = _first_step(version, start)
        execution = ActionExecution.objects.create(
            enrollment=enrollment,
            workflow=workflow,
            step_id=start,
            action_type=step["type"],
            queue=_queue(step["type"]),
            due_at=now,
            last_sent_at=now,
        )
        execution_send(execution.pk, execution.queue, on_commit=True)
    return enrollment


def _first_step(version: WorkflowVersion, start: int) -> dict[str, Any]:
    """The version's first step; a published graph always has it (graph_validate)."""
    step = version.step(start)
    if step is None:
        raise ValueError(f"version {version.pk} has no step {start}")
    return step


def _queue(action_key: str) -> str:
    try:
        return registry.get(action_key).queue
    except ValidationError:
        return "default"  # the engine fails it with a readable message when it runs


def enrollments_for_change(
    *, record: Record, created: bool, changes: dict[str, tuple[Any, Any]]
) -> list[Enrollment]:
    workflows = [
        w for w in live_workflows(record.account_id, record.object_type) if not w.enrolls_on_events
    ]
    if not workflows:
        return []
    definitions = definitions_for(record.account, record.object_type)
    before = dict(record.properties)
    for name, (old, _new) in changes.items():
        if old is None:
            before.pop(name, None)
        else:
            before[name] = old
    enrolled = []
    for workflow in workflows:
        groups = criteria_of(workflow, definitions)
        if groups is None or not filters.record_matches(record.properties, groups):
            continue
        matched_before = not created and filters.record_matches(before, groups)
        if may_enroll(workflow, record, newly_matching=not matched_before):
            enrollment = enrollment_start(workflow=workflow, record=record)
            if enrollment:
                enrolled.append(enrollment)
    return enrolled


def enrollments_for_form(*, record: Record, form_id: int) -> list[Enrollment]:
    workflows = [
        w for w in live_workflows(record.account_id, record.object_type) if w.form_id == form_id
    ]
    if not workflows:
        return []
    definitions = definitions_for(record.account, record.object_type)
    enrolled = []
    for workflow in workflows:
        groups = criteria_of(workflow, definitions)
        if groups is None or not filters.record_matches(record.properties, groups):
            continue
        # Each submission is a new event: with re-enrollment on, it enrolls again.
        if may_enroll(workflow, record, newly_matching=True):
            enrollment = enrollment_start(
                workflow=workflow, record=record, source=Enrollment.Source.FORM
            )
            if enrollment:
                enrolled.append(enrollment)
    return enrolled


def may_enroll(workflow: Workflow, record: Record, *, newly_matching: bool) -> bool:
    past = Enrollment.objects.filter(workflow=workflow, record=record)
    if not past.exists():
        return True
    if not workflow.re_enroll or not newly_matching:
        return False
    return not past.filter(status=Enrollment.Status.ACTIVE).exists()


def enrollments_for_event(*, workflow: Workflow, records: Sequence[Record]) -> set[int]:
    """An app's trigger fired once for each of `records` (e.g. a batch of webhook
    requests): `enrollment_trigger`'s rules for each — the workflow live with that
    trigger, the criteria met, "never while enrolled" (each event is new: with
    re-enrollment on, a record enrolls again) — set-based, in the caller's transaction:
    one query for past enrollments, one INSERT for the enrollments, one for their first
    steps, whose wake-ups are published on commit, batched per queue. A record appearing
    twice enrolls once. Returns the ids of the records enrolled."""
    version = workflow.live_version
    if not workflow.trigger or not workflow.is_enabled or version is None:
        return set()
    groups = criteria_of(workflow, definitions_for(workflow.account, workflow.object_type))
    if groups is None:
        return set()
    matching = {
        record.pk
        for record in records
        if record.account_id == workflow.account_id
        and record.object_type == workflow.object_type
        and filters.record_matches(record.properties, groups)
    }
    past = Enrollment.objects.filter(workflow=workflow, record_id__in=matching)
    ever: set[int] = set()
    active: set[int] = set()
    for record_id, status in past.values_list("record_id", "status"):
        ever.add(record_id)
        if status == Enrollment.Status.ACTIVE:
            active.add(record_id)
    eligible = sorted(
        pk for pk in matching if pk not in ever or (workflow.re_enroll and pk not in active)
    )
    if not eligible:
        return set()
    start = version.graph.get("start")
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    status = str(Enrollment.Status.ACTIVE if start else Enrollment.Status.COMPLETED)
    row = "(%s, %s, %s, %s, %s, %s, %s)"
    params: list[Any] = []
    for pk in eligible:
        params += [
            workflow.pk,
            version.pk,
            pk,
            status,
            str(Enrollment.Source.EVENT),
            stamp,
            None if start else stamp,
        ]
    with connection.cursor() as cursor:
        # A manual enrollment landing meanwhile wins (the partial unique constraint).
        cursor.execute(
            f"INSERT INTO {Enrollment._meta.db_table} (workflow_id, version_id, record_id, "
            f"status, source, enrolled_at, finished_at) VALUES {', '.join([row] * len(eligible))} "
            f"ON CONFLICT DO NOTHING RETURNING id, record_id",
            params,
        )
        enrolled = cursor.fetchall()
    if start and enrolled:
        step = _first_step(version, start)
        queue = _queue(step["type"])
        executions = ActionExecution.objects.bulk_create(
            ActionExecution(
                enrollment_id=enrollment_id,
                workflow_id=workflow.pk,
                step_id=start,
                action_type=step["type"],
                queue=queue,
                due_at=now,
                last_sent_at=now,
            )
            for enrollment_id, _record_id in enrolled
        )
        rows = [(execution.pk, queue, step["type"]) for execution in executions]
        transaction.on_commit(lambda: executions_publish(rows))
    return {record_id for _enrollment_id, record_id in enrolled}


def _candidates(workflow: Workflow, ids: tuple[int, int] | None = None) -> QuerySet[Record] | None:
    """The records a bulk enrollment of `workflow` considers (None: it enrolls nobody in
    bulk: off, not published, enrolled on events, or criteria that no longer parse);
    with `ids` (low, high), those of that window of record ids (crm.filters.groups_q)."""
    if not workflow.is_enabled or workflow.live_version is None or workflow.enrolls_on_events:
        return None
    definitions = definitions_for(workflow.account, workflow.object_type)
    groups = criteria_of(workflow, definitions)
    if groups is None:
        return None
    return Record.objects.filter(
        account_id=workflow.account_id, object_type=workflow.object_type
    ).filter(filters.groups_q(groups, ids=ids))


def enrollments_bulk_create(*, workflow: Workflow, record_ids: Iterable[int]) -> int:
    """Enroll the matching, never-enrolled records among `record_ids` (a bulk import)
    set-based: per window of ids, one INSERT … SELECT for enrollments and one for their
    first executions, committed together. Returns how many enrolled. Publishing is left
    to the sweeper (kicked on commit)."""
    workflow = Workflow.objects.select_related("live_version").get(pk=workflow.pk)
    candidates = _candidates(workflow)
    if candidates is None or workflow.live_version is None:
        return 0
    ids = sorted(set(record_ids))
    total = 0
    for start in range(0, len(ids), 2_000):
        with transaction.atomic():
            selection = candidates.filter(pk__in=ids[start : start + 2_000])
            total += _insert_window(workflow, workflow.live_version, selection)
    ledger.statistics_refresh(total)
    if total:
        executions_kick()
    return total


def fan_out_start(*, workflow: Workflow, economy: bool = False) -> FanOut:
    """Record the enrollment of `workflow`'s existing records (turning it on), in the
    caller's transaction; an unfinished earlier one is closed (the new one covers it).
    `economy`: its enrollments' source is ECONOMY (economy mode)."""
    now = timezone.now()
    FanOut.objects.filter(workflow=workflow, finished_at__isnull=True).update(finished_at=now)
    return FanOut.objects.create(workflow=workflow, started_at=now, economy=economy)


def fan_out_claim(fan_out_id: int) -> bool:
    """Take the fan-out for one lease unless it is finished or another task holds it."""
    now = timezone.now()
    return bool(
        FanOut.objects.filter(pk=fan_out_id, finished_at__isnull=True)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=_lease_from(now), runs=F("runs") + 1)
    )


def _lease_from(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=setting("WORKFLOWS_LEASE_SECONDS"))


def fan_out_run(*, fan_out_id: int) -> int:
    """Run (or resume) a fan-out: from its cursor, one window of record ids at a time
    (WORKFLOWS_FANOUT_WINDOW), each window's enrollments, first executions, cursor,
    count and lease committed together. Returns how many this call enrolled (0 when
    it is finished or another task holds it). Safe to run twice: the claim lets one
    through, and a window only enrolls never-enrolled records."""
    if not fan_out_claim(fan_out_id):
        return 0
    fan_out = FanOut.objects.select_related("workflow__live_version").get(pk=fan_out_id)
    workflow = fan_out.workflow
    candidates = _candidates(workflow)
    version = workflow.live_version
    total = 0
    if candidates is not None and version is not None:
        rest = candidates.filter(pk__gt=fan_out.cursor)
        bounds = rest.aggregate(low=Min("pk"), high=Max("pk"))
        if fan_out.total is None:
            FanOut.objects.filter(pk=fan_out.pk).update(total=candidates.count())
        window = max(int(setting("WORKFLOWS_FANOUT_WINDOW")), 1)
        # Windows committed without waiting for the WAL flush (PostgreSQL), when this
        # call owns its transactions and ends with a synchronous commit (`finished_at`
        # below), which flushes every window before it: a database crash meanwhile
        # loses at most the last windows, their cursor with them, so it resumes there.
        relaxed = connection.vendor == "postgresql" and not connection.in_atomic_block
        if bounds["low"] is not None:
            for low in range(bounds["low"], bounds["high"] + 1, window):
                with transaction.atomic():
                    if relaxed:
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    selection = _candidates(workflow, (low, low + window))
                    if selection is None:
                        break
                    selection = selection.filter(pk__gt=fan_out.cursor)
                    enrolled = _insert_window(
                        workflow,
                        version,
                        selection,
                        source=Enrollment.Source.ECONOMY if fan_out.economy else None,
                        bounds=(low, low + window),
                    )
                    total += enrolled
                    FanOut.objects.filter(pk=fan_out.pk).update(
                        cursor=low + window - 1,
                        done=F("done") + enrolled,
                        lease_expires_at=_lease_from(timezone.now()),
                    )
    FanOut.objects.filter(pk=fan_out.pk).update(
        finished_at=timezone.now(), lease_expires_at=None
    )  # a synchronous commit (see `relaxed`)
    ledger.statistics_refresh(total)
    if total:
        executions_kick()
    return total


def fan_outs_resume(now: dt.datetime) -> list[int]:
    """Unfinished fan-outs nobody runs (the task's worker died: lease expired; or its
    message was lost: never leased and older than WORKFLOWS_RESEND_AFTER_SECONDS) are
    sent again. The sweeper calls it. Returns their ids."""
    stale = now - dt.timedelta(seconds=setting("WORKFLOWS_RESEND_AFTER_SECONDS"))
    ids = list(
        FanOut.objects.filter(finished_at__isnull=True)
        .filter(
            Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, started_at__lt=stale)
        )
        .values_list("pk", flat=True)
    )
    for pk in ids:
        fan_out_send(pk)
    return ids


def _insert_window(
    workflow: Workflow,
    version: WorkflowVersion,
    selection: QuerySet[Record],
    *,
    source: str | None = None,
    bounds: tuple[int, int] | None = None,
) -> int:
    """Enroll the never-enrolled records of `selection`. `bounds` (low, high), the
    window's record ids, limits the look at past enrollments to that window: else each
    window of a fan-out reads (hashes) every enrollment of the workflow so far, which
    grows with each window — quadratic over a million records."""
    start = version.graph.get("start")
    # Raw SQL: adapt the timestamp the way the ORM stores it (SQLite keeps text).
    stamp = connection.ops.adapt_datetimefield_value(timezone.now())
    past = Enrollment.objects.filter(workflow=workflow)
    if bounds is not None:
        past = past.filter(record_id__gte=bounds[0], record_id__lt=bounds[1])
    fresh = selection.exclude(pk__in=past.values("record_id")).values(candidate_id=F("pk"))
    select_sql, select_params = fresh.query.sql_with_params()
    enrollment = Enrollment._meta.db_table
    execution = ActionExecution._meta.db_table
    status = str(Enrollment.Status.ACTIVE if start else Enrollment.Status.COMPLETED)
    bulk = str(source or Enrollment.Source.BULK)
    insert_enrollments = (
        f"INSERT INTO {enrollment} (workflow_id, version_id, record_id, status, source, "
        f"enrolled_at, finished_at) SELECT %s, %s, candidate.candidate_id, %s, %s, %s, %s "
        f"FROM ({select_sql}) candidate WHERE true ON CONFLICT DO NOTHING"
    )
    enrollment_params = [
        workflow.pk,
        version.pk,
        status,
        bulk,
        stamp,
        None if start else stamp,
        *select_params,
    ]
    execution_columns = (
        "enrollment_id, workflow_id, step_id, action_type, queue, status, attempt, due_at, "
        "inputs, outputs, error, replays, created_at"
    )
    execution_values = "%s, %s, %s, %s, 0, %s, '{}', '{}', '', 0, %s"
    step = _first_step(version, start) if start else None
    execution_params = (
        [
            start,
            step["type"],
            _queue(step["type"]),
            str(ActionExecution.Status.PENDING),
            stamp,
            stamp,
        ]
        if step
        else []
    )
    with connection.cursor() as cursor:
        # A run may be inserted concurrently by a record change: the partial unique
        # constraint plus DO NOTHING lets the other one win.
        if step and connection.vendor == "postgresql":
            # One statement: the new enrollments feed their first executions directly.
            cursor.execute(
                f"WITH new AS ({insert_enrollments} RETURNING id, workflow_id) "
                f"INSERT INTO {execution} ({execution_columns}) "
                f"SELECT new.id, new.workflow_id, {execution_values} FROM new",
                [*enrollment_params, *execution_params],
            )
            created: int = cursor.rowcount
            return created
        cursor.execute(insert_enrollments, enrollment_params)
        inserted: int = cursor.rowcount
        if not step or not inserted:
            return max(inserted, 0)
        cursor.execute(
            f"INSERT INTO {execution} ({execution_columns}) "
            f"SELECT e.id, e.workflow_id, {execution_values} "
            f"FROM {enrollment} e WHERE e.workflow_id = %s AND e.enrolled_at = %s "
            f"AND e.source = %s AND NOT EXISTS "
            f"(SELECT 1 FROM {execution} x WHERE x.enrollment_id = e.id)",
            [*execution_params, workflow.pk, stamp, bulk],
        )
    return inserted
