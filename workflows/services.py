"""What the builder, history pages and other apps call. Keyword-only, `<thing>_<verb>`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import filters
from crm.audit import AuditAction, audit_record
from crm.models import Account, Record, User
from crm.services import definitions_for
from workflows import registry
from workflows.context import ExecutionContext
from workflows.engine import enrollment, ledger
from workflows.engine.enrollment import enrollment_start, fan_out_run, fan_out_start
from workflows.engine.publish import execution_send, executions_publish, fan_out_send
from workflows.graph import graph_pin, graph_validate
from workflows.models import ActionExecution, Enrollment, Workflow, WorkflowVersion
from workflows.tokens import TokenResolver

Status = ActionExecution.Status


def workflow_create(
    *,
    account: Account,
    object_type: str,
    name: str,
    actor: User | None = None,
    criteria: Any = None,
    graph: Any = None,
    form_id: int | None = None,
    re_enroll: bool = False,
    description: str = "",
) -> Workflow:
    workflow = Workflow(
        account=account,
        object_type=object_type,
        name=name,
        description=description,
        form_id=form_id,
        re_enroll=re_enroll,
        created_by=actor,
    )
    workflow_validate(workflow=workflow, criteria=criteria or [], graph=graph or {})
    workflow.save()
    if graph:
        workflow_publish(workflow=workflow)
        workflow.refresh_from_db()
    return workflow


def workflow_validate(*, workflow: Workflow, criteria: Any, graph: Any) -> None:
    """Check and store criteria and the draft graph on `workflow` (not saved)."""
    definitions = definitions_for(workflow.account, workflow.object_type)
    filters.parse_groups(definitions, criteria)
    workflow.criteria = criteria
    workflow.graph = graph_validate(
        graph, account=workflow.account, object_type=workflow.object_type
    )


@transaction.atomic
def workflow_publish(*, workflow: Workflow) -> WorkflowVersion:
    """Freeze the draft graph as a new version; new enrollments run it, runs in flight
    keep the version they started on."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    graph = graph_pin(
        graph_validate(workflow.graph, account=workflow.account, object_type=workflow.object_type),
        account=workflow.account,
    )
    number = (workflow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkflowVersion.objects.create(workflow=workflow, number=number, graph=graph)
    Workflow.objects.filter(pk=workflow.pk).update(
        version=number, live_version=version, graph=graph
    )
    audit_record(
        action=AuditAction.WORKFLOW_PUBLISHED,
        account=workflow.account,
        target=workflow.name,
        detail={"version": number},
    )
    return version


@transaction.atomic
def workflow_update(
    *, workflow: Workflow, graph: Any = None, criteria: Any = None, **fields: Any
) -> Workflow:
    """Edit a workflow (live or not): criteria apply to future enrollments; a new graph
    is published as a new version."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    workflow_validate(
        workflow=workflow,
        criteria=workflow.criteria if criteria is None else criteria,
        graph=workflow.graph if graph is None else graph,
    )
    for name, value in fields.items():
        if name not in {"name", "description", "re_enroll", "form_id"}:
            raise TypeError(name)
        setattr(workflow, name, value)
    workflow.save()
    if graph is not None:
        workflow_publish(workflow=workflow)
        workflow.refresh_from_db()
    return workflow


@transaction.atomic
def workflow_turn_on(
    *, workflow: Workflow, enroll_existing: bool = True, economy: bool = False
) -> None:
    """Start enrolling. Existing matching records enroll in bulk on a worker (a
    `FanOut` row: progress, resumed by the sweeper if interrupted) unless
    `enroll_existing` is False; with `economy` their steps that can may go through the
    outside service's cheaper, slower tier (economy mode)."""
    if workflow.live_version_id is None:
        if not workflow.graph:
            raise ValidationError(_("Add at least one action before turning the workflow on."))
        workflow_publish(workflow=workflow)
    Workflow.objects.filter(pk=workflow.pk).update(is_enabled=True)
    workflow.refresh_from_db()
    audit_record(
        action=AuditAction.WORKFLOW_TURNED_ON, account=workflow.account, target=workflow.name
    )
    if enroll_existing and not workflow.enrolls_on_events:
        fan_out_send(fan_out_start(workflow=workflow, economy=economy).pk, on_commit=True)


@transaction.atomic
def workflow_turn_off(*, workflow: Workflow) -> None:
    """Stop new enrollments. Runs in flight continue to the end on their version
    (unenroll them to stop them)."""
    Workflow.objects.filter(pk=workflow.pk).update(is_enabled=False)
    audit_record(
        action=AuditAction.WORKFLOW_TURNED_OFF, account=workflow.account, target=workflow.name
    )
    workflow.is_enabled = False


def workflow_enroll_existing_now(*, workflow: Workflow, economy: bool = False) -> int:
    """The bulk enrollment, in this process (tests, management commands, benchmarks)."""
    return fan_out_run(fan_out_id=fan_out_start(workflow=workflow, economy=economy).pk)


@transaction.atomic
def enrollment_create(*, workflow: Workflow, record: Record) -> Enrollment:
    """Enroll one record manually (criteria not checked; re-enrollment rules are not
    either — only "never while already enrolled")."""
    if record.account_id != workflow.account_id or record.object_type != workflow.object_type:
        raise ValidationError(_("This record cannot enroll in this workflow."))
    if not workflow.is_enabled or workflow.live_version_id is None:
        raise ValidationError(_("Turn the workflow on before enrolling records."))
    workflow = Workflow.objects.select_related("live_version").get(pk=workflow.pk)
    enrollment = enrollment_start(workflow=workflow, record=record, source=Enrollment.Source.MANUAL)
    if enrollment is None:
        raise ValidationError(_("This record is already enrolled in this workflow."))
    return enrollment


@transaction.atomic
def enrollment_unenroll(*, enrollment: Enrollment) -> None:
    """Stop a run: pending steps are cancelled; a step running now finishes its outside
    call but its result is discarded (cancelled) when it tries to commit."""
    now = timezone.now()
    updated = Enrollment.objects.filter(pk=enrollment.pk, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.UNENROLLED, finished_at=now
    )
    if updated:
        ActionExecution.objects.filter(
            enrollment=enrollment, status__in=(Status.PENDING, Status.WAITING)
        ).update(status=Status.CANCELLED, finished_at=now)


@transaction.atomic
def enrollments_unenroll_records(*, record_ids: list[int]) -> int:
    """Stop the active runs of these records (they were deleted), set-based, as
    `enrollment_unenroll` does one; how many."""
    now = timezone.now()
    active = Enrollment.objects.filter(record_id__in=record_ids, status=Enrollment.Status.ACTIVE)
    enrollment_ids = list(active.values_list("pk", flat=True))
    if not enrollment_ids:
        return 0
    Enrollment.objects.filter(pk__in=enrollment_ids, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.UNENROLLED, finished_at=now
    )
    ActionExecution.objects.filter(
        enrollment_id__in=enrollment_ids, status__in=(Status.PENDING, Status.WAITING)
    ).update(status=Status.CANCELLED, finished_at=now)
    return len(enrollment_ids)


@transaction.atomic
def executions_resume(*, execution_ids: list[int]) -> list[int]:
    """End the wait of waiting executions (an app's step got what it waited for, e.g. a
    person's decision): each runs again now, once, and reads it. Returns the ids that
    were waiting; their wake-ups are published on commit."""
    resumed = ledger.executions_resume(execution_ids=execution_ids)
    if resumed:
        rows = list(
            ActionExecution.objects.filter(pk__in=resumed).values_list("pk", "queue", "action_type")
        )
        transaction.on_commit(lambda: executions_publish(rows))
    return resumed


def executions_replay(*, workflow: Workflow, enrollment: Enrollment | None = None) -> int:
    """Run failed steps again from the failed step (one enrollment, or every failed run
    of the workflow). Steps that had succeeded are not touched, and the failed step
    keeps its execution id, so its side-effect keys are the same: nothing duplicates."""
    failed = ActionExecution.objects.filter(workflow=workflow, status=Status.FAILED)
    if enrollment is not None:
        failed = failed.filter(enrollment=enrollment)
    replayed = 0
    for execution in failed.select_related("enrollment"):
        try:
            with transaction.atomic():
                Enrollment.objects.filter(pk=execution.enrollment_id).update(
                    status=Enrollment.Status.ACTIVE, finished_at=None
                )
                now = timezone.now()
                if ActionExecution.objects.filter(pk=execution.pk, status=Status.FAILED).update(
                    status=Status.PENDING,
                    attempt=0,
                    deaths=0,
                    alone=False,
                    call_ref="",
                    retry_until=None,
                    error="",
                    due_at=now,
                    last_sent_at=now,
                    finished_at=None,
                    replays=F("replays") + 1,
                ):
                    execution_send(execution.pk, execution.queue, on_commit=True)
                    replayed += 1
        except IntegrityError:
            continue  # the record re-enrolled since: replaying would run it twice at once
    return replayed


def call_refs_record(*, refs: list[tuple[int, int, str]]) -> set[int]:
    """For an action making outside calls that can be resumed (an OpenAI background
    response): commit [(execution id, attempt, call id)] before awaiting the answers;
    a later attempt of the step sees it as `ExecutionContext.call_ref`. Returns the ids
    recorded (an attempt that lost its lease records nothing)."""
    return ledger.call_refs_record(refs)


def action_test_run(
    *,
    action_key: str,
    config: dict[str, Any],
    record: Record,
    workflow: Workflow | None = None,
    earlier_outputs: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run one action on a record outside the ledger (the builder's "Test" button):
    tokens resolved, `execute()` called with `is_test=True`, outputs returned. `apply()`
    is not called, so nothing in the CRM changes and the workflow does not continue.
    Raises the action's errors (TransientError, PermanentError) for the caller to show."""
    action_type = registry.get(action_key)
    config = action_type.validate_config(
        config, account=record.account, object_type=record.object_type
    )
    definitions = definitions_for(record.account, record.object_type)
    earlier = earlier_outputs or {}
    resolver = TokenResolver(record=record, definitions=definitions, earlier_outputs=earlier)
    context = ExecutionContext(
        account=record.account,
        workflow=workflow,
        record=record,
        config=action_type.resolve_config(config, resolver),
        raw_config=config,
        earlier_outputs=earlier,
        definitions=definitions,
        is_test=True,
    )
    outputs = action_type.execute(context) or {}
    if context.usage:
        outputs = {**outputs, "_usage": context.usage}
    return outputs


def enrollment_trigger(*, workflow: Workflow, record: Record) -> Enrollment | None:
    """An app's trigger fired for `record` (e.g. a webhook was received): enroll it in
    the caller's transaction if the workflow is live with that trigger and the record
    meets its criteria. Each event is new: with re-enrollment on, it enrolls again
    (never while it is enrolled). None: not enrolled."""
    if not workflow.trigger or not workflow.is_enabled or workflow.live_version_id is None:
        return None
    if record.account_id != workflow.account_id or record.object_type != workflow.object_type:
        return None
    groups = enrollment.criteria_of(workflow, definitions_for(record.account, record.object_type))
    if groups is None or not filters.record_matches(record.properties, groups):
        return None
    if not enrollment.may_enroll(workflow, record, newly_matching=True):
        return None
    return enrollment.enrollment_start(
        workflow=workflow, record=record, source=Enrollment.Source.EVENT
    )


def enrollments_trigger(*, workflow: Workflow, records: list[Record]) -> set[int]:
    """`enrollment_trigger` for many events at once (a batch of webhook requests, one
    per record in order), set-based, in the caller's transaction. Returns the ids of
    the records enrolled; their first steps are published on commit in batches."""
    return enrollment.enrollments_for_event(workflow=workflow, records=records)
