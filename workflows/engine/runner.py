"""Running executions: claim, execute outside any transaction, complete in one.

The row's state changes are ledger.py's (its invariants are stated there); this module
decides what to run and when. Executions run in batches (docs/engine.md, "Batches"):
one Celery message may carry several execution ids; they are claimed with one
conditional UPDATE, executed with no transaction open (each action type's
`execute_many` yields an Outcome per execution), and completed together in one short
transaction (side effects, `succeeded` rows, next steps). If anything in that
transaction fails — a lease lost to another worker, a duplicate side effect, a
permanent error of one item — it rolls back as a whole and every item is completed
again on its own (`execution_complete`), exactly as a batch of one. A next step that
is due now, on the same queue and batchable is claimed and run by the same worker
right after the commit instead of being published.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import PropertyDefinition, Record
from crm.services import definitions_for
from ops.logs import log_context_of
from workflows import registry
from workflows.conf import setting
from workflows.context import ExecutionContext
from workflows.engine import heartbeat, ledger
from workflows.engine.publish import executions_publish
from workflows.models import ActionExecution, Enrollment, Workflow, WorkflowVersion
from workflows.outcomes import PermanentError, Retry, RetryLater, Success, TransientError
from workflows.tokens import TokenResolver

logger = logging.getLogger(__name__)
Status = ActionExecution.Status


def context_build(
    execution: ActionExecution,
    record: Record,
    step: dict[str, Any],
    action_type: registry.ActionType,
    *,
    definitions: dict[str, PropertyDefinition] | None = None,
    earlier: dict[int, dict[str, Any]] | None = None,
) -> ExecutionContext:
    """What `execute` sees. A batch passes the definitions and earlier outputs it read
    for all its executions at once."""
    workflow = execution.workflow
    if definitions is None:
        definitions = definitions_for(workflow.account, workflow.object_type)
    if earlier is None:
        earlier = dict(
            ActionExecution.objects.filter(
                enrollment_id=execution.enrollment_id, status=Status.SUCCEEDED
            ).values_list("step_id", "outputs")
        )
    raw = step.get("config") or {}
    resolver = TokenResolver(record=record, definitions=definitions, earlier_outputs=earlier)
    return ExecutionContext(
        account=workflow.account,
        workflow=workflow,
        record=record,
        config=action_type.resolve_config(raw, resolver),
        raw_config=raw,
        earlier_outputs=earlier,
        step_id=execution.step_id,
        execution_id=execution.pk,
        attempt=execution.attempt,
        definitions=definitions,
        economy=execution.enrollment.source == Enrollment.Source.ECONOMY,
        call_ref=execution.call_ref,
    )


def execution_run(*, execution_id: int, inline: bool = False) -> str:
    """What a worker does with a wake-up message for one execution. Returns what
    happened to it (for logs/tests). With `inline`, next steps due now on the same
    queue are run in this call too (the Celery task does; tests stepping through the
    ledger do not).

    Messages stored in the ledger (errors) are written in the site's default language,
    whatever language an earlier request or task left active in this thread."""
    results = executions_run(execution_ids=[execution_id], inline=inline)
    return results.get(execution_id, "not claimed")


def executions_run(
    *, execution_ids: list[int], queue: str | None = None, inline: bool = True, steal: bool = False
) -> dict[int, str]:
    """Claim and run the given executions as one batch (ids not claimable are "not
    claimed"). Then, until WORKFLOWS_BATCH_SECONDS have passed: with `inline`, the next
    steps that became due now on the same queue (batchable ones); with `steal` and a
    `queue`, further batches of due rows of that queue nobody published recently.
    Returns {execution id: what happened}."""
    with translation.override(settings.LANGUAGE_CODE):
        return _executions_run(list(dict.fromkeys(execution_ids)), queue, inline, steal)


def _executions_run(ids: list[int], queue: str | None, inline: bool, steal: bool) -> dict[int, str]:
    results: dict[int, str] = {}
    started = time.monotonic()
    deadline = started + setting("WORKFLOWS_BATCH_SECONDS")
    size = max(int(setting("WORKFLOWS_BATCH_SIZE")), 1)
    # A batch must finish well within its lease (claimed rows' leases run while it
    # does): after each batch the next one is sized from the time per execution seen.
    # A queue of concurrent types (outside calls, each with its own deadline) takes their
    # batch size instead: such a batch lasts as long as its slowest call, whatever its size.
    fixed = registry.queue_batch_limit(queue)
    if fixed is not None:
        size = min(size, fixed)
    target = min(setting("WORKFLOWS_LEASE_SECONDS") / 4, setting("WORKFLOWS_BATCH_SECONDS"))
    per_item: float | None = None
    asked = set(ids)
    todo = list(ids)  # known ids, claimed right before their batch runs

    def run(claimed: list[int]) -> list[int]:
        nonlocal per_item
        began = time.monotonic()
        try:
            follow = _batch_run(claimed, results, inline=inline and began < deadline)
        finally:
            heartbeat.release(claimed)
        per_item = (time.monotonic() - began) / len(claimed)
        return follow

    def chunk_size() -> int:
        if fixed is not None or per_item is None or per_item <= 0:
            return size
        return max(1, min(size, int(target / per_item)))

    solo: list[int] = []  # rows a batch claim left: their last worker died holding a batch
    while True:
        while todo or solo:
            if heartbeat.stopping():
                # Claim nothing more: the next steps this task would have run go to
                # other workers now instead of waiting to be re-sent.
                _hand_over(todo + solo)
                return results
            if solo:
                # Alone: if its worker dies now, the death is its own (poison-step guard).
                claimed = ledger.executions_claim_many(execution_ids=solo[:1], alone=True)
                solo = solo[1:]
                if claimed:
                    todo += run(claimed)
                continue
            n = chunk_size()
            chunk, todo = todo[:n], todo[n:]
            fill = bool(fixed is not None and steal and queue and time.monotonic() < deadline)
            # A chunk of one is claimed alone unless a concurrent batch may be filled up.
            alone = len(chunk) == 1 and not fill
            claimed = ledger.executions_claim_many(execution_ids=chunk, alone=alone)
            mine = set(claimed)
            left = [pk for pk in chunk if pk not in mine]
            if left and not alone and ledger.isolating():
                solo += ledger.executions_isolated(left)
            results.update({pk: "not claimed" for pk in left if pk in asked and pk not in solo})
            if fill and queue and len(claimed) < n:
                # A concurrent batch costs about the same whatever its size: fill it up
                # with the queue's other due work, published or not (their messages then
                # find nothing to do), so single-record enrollments share calls too.
                more = ledger.executions_claim_due(
                    queue=queue, limit=n - len(claimed), published_too=True
                )
                if len(claimed) == 1 and not more:
                    ledger.execution_mark_alone(claimed[0])
                claimed += more
            if claimed:
                todo += run(claimed)  # next steps due now: claimed like any other, run next
        if not (steal and queue) or time.monotonic() >= deadline or heartbeat.stopping():
            break
        _leases_recover()
        claimed = ledger.executions_claim_due(
            queue=queue, limit=chunk_size(), published_too=fixed is not None
        )
        if not claimed:
            break
        todo += run(claimed)
    return results


def _hand_over(ids: list[int]) -> None:
    """Publish wake-ups for pending rows this stopping worker will not run."""
    rows = list(
        ActionExecution.objects.filter(pk__in=ids, status=Status.PENDING).values_list(
            "pk", "queue", "action_type"
        )
    )
    if rows:
        executions_publish(rows)


_last_recovery = 0.0


def _leases_recover() -> None:
    """What the sweeper does first (expired leases back to `pending`), at most once per
    sweep interval per process: while a backlog keeps the queue busy, beat's sweep
    message waits behind it (and expires), but work claimed by a killed worker must
    come back all the same."""
    global _last_recovery
    now = time.monotonic()
    if now - _last_recovery < setting("WORKFLOWS_SWEEP_SECONDS"):
        return
    _last_recovery = now
    ledger.leases_recover(timezone.now())


@dataclass
class Item:
    execution: ActionExecution
    step: dict[str, Any]
    action_type: registry.ActionType
    context: ExecutionContext
    outputs: dict[str, Any] = field(default_factory=dict)


def _guarded(execution: ActionExecution, call: Callable[[], Any]) -> tuple[bool, Any]:
    """(True, value) or (False, what the failure made of the execution). Lines logged
    meanwhile carry the execution's id and account (ops/logs.py)."""
    with log_context_of(execution):
        return _guarded_run(execution, call)


def _guarded_run(execution: ActionExecution, call: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, call()
    except RetryLater as later:
        return False, ledger.execution_postpone(execution=execution, at=later.at)
    except ValidationError as error:  # unknown action type, bad stored config
        return False, ledger.execution_fail(execution=execution, message=" ".join(error.messages))
    except PermanentError as error:
        return False, ledger.execution_fail(execution=execution, message=error.message)
    except TransientError as error:
        return False, ledger.execution_retry(
            execution=execution,
            message=error.message,
            retry_after=error.retry_after,
            kind=error.kind,
        )
    except SoftTimeLimitExceeded:
        return False, ledger.execution_retry(
            execution=execution, message=_("The action took too long.")
        )
    except Exception as error:  # a bug or an unclassified outside failure: retried, then failed
        logger.exception("execution %s raised", execution.pk)
        return False, ledger.execution_retry(
            execution=execution,
            message=_("Unexpected error: %(error)s")
            % {"error": str(error)[:500] or type(error).__name__},
            kind=Retry.UNEXPECTED,
        )


def _batch_run(ids: list[int], results: dict[int, str], *, inline: bool) -> list[int]:
    """Run executions this worker has just claimed. Returns the ids of next steps to
    claim and run inline."""
    if not ids:
        return []
    executions = list(
        ActionExecution.objects.filter(pk__in=ids).select_related("enrollment").order_by("pk")
    )
    versions = WorkflowVersion.objects.in_bulk({e.enrollment.version_id for e in executions})
    workflows = Workflow.objects.select_related("account").in_bulk(
        {e.workflow_id for e in executions}
    )
    runnable = []
    for execution in executions:
        execution.enrollment.version = versions[execution.enrollment.version_id]
        execution.workflow = workflows[execution.workflow_id]
        if execution.enrollment.status != Enrollment.Status.ACTIVE:
            results[execution.pk] = ledger.execution_cancel(execution)
        else:
            runnable.append(execution)
    records = Record.objects.in_bulk({e.enrollment.record_id for e in runnable})
    definitions: dict[tuple[int, str], dict[str, PropertyDefinition]] = {}
    earlier = _earlier_outputs(runnable)
    items: list[Item] = []
    for execution in runnable:

        def prepare(execution: ActionExecution = execution) -> Item:
            enrollment = execution.enrollment
            step = enrollment.version.step(execution.step_id)
            if step is None:
                raise PermanentError(_("This step no longer exists in the workflow."))
            action_type = registry.get(execution.action_type)
            record = records.get(enrollment.record_id)
            if record is None:
                raise PermanentError(_("The record was deleted.")) from None
            workflow = execution.workflow
            if record.account_id == workflow.account_id:
                record.account = workflow.account
            key = (workflow.account_id, workflow.object_type)
            if key not in definitions:
                definitions[key] = definitions_for(workflow.account, workflow.object_type)
            context = context_build(
                execution,
                record,
                step,
                action_type,
                definitions=definitions[key],
                earlier=earlier.get(execution.enrollment_id, {}),
            )
            execution.inputs = context.config  # kept by a failed or retried attempt too
            return Item(execution, step, action_type, context)

        ok, value = _guarded(execution, prepare)
        if ok:
            items.append(value)
        else:
            results[execution.pk] = value
    return _execute_and_complete(items, results, inline=inline)


def _execute_and_complete(items: list[Item], results: dict[int, str], *, inline: bool) -> list[int]:
    """The slow part, with no transaction open: each action type's `execute_many` over
    its items. What finished is completed in one transaction per group a concurrent type
    yields (its calls end at different times), otherwise once at the end. Returns the
    next steps to run inline."""
    by_type: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_type[item.action_type.key].append(item)
    follow: list[int] = []
    ready: list[Item] = []
    for group in by_type.values():
        action_type = group[0].action_type
        for finished in action_type.execute_many([item.context for item in group]):
            for index, outcome in finished:
                item = group[index]
                if isinstance(outcome, Success):
                    item.outputs = outcome.outputs
                    ready.append(item)
                else:
                    results[item.execution.pk] = ledger.execution_settle(item.execution, outcome)
            if action_type.concurrent and ready:
                follow += _items_complete(ready, results, inline=inline)
                ready = []
    if ready:
        follow += _items_complete(ready, results, inline=inline)
    return follow


def _items_complete(items: list[Item], results: dict[int, str], *, inline: bool) -> list[int]:
    """Complete executed items in one transaction; if that fails, each on its own."""
    follow: list[int] = []
    if len(items) > 1:
        try:
            with transaction.atomic():
                completed = _complete(items, inline=inline)
        except Exception as error:
            # Rolled back as a whole: complete each on its own (a lease lost, a duplicate
            # side effect or a permanent error then concerns that one execution only).
            logger.info("batch of %d completed one by one: %r", len(items), error)
        else:
            for item in items:
                results[item.execution.pk] = completed.results[item.execution.pk]
            return completed.follow
    for item in items:
        ok, value = _guarded(item.execution, partial(execution_complete, item, inline=inline))
        result, more = value if ok else (value, [])
        results[item.execution.pk] = result
        follow += more
    return follow


def _earlier_outputs(
    executions: list[ActionExecution],
) -> dict[int, dict[int, dict[str, Any]]]:
    """{enrollment id: {step id: outputs}} of succeeded steps, in one query. A run's
    first step has none (a step runs at most once per enrollment), so first steps cost
    nothing."""
    wanted = [
        e.enrollment_id for e in executions if e.step_id != e.enrollment.version.graph.get("start")
    ]
    found: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for start in range(0, len(wanted), 1000):
        rows = ActionExecution.objects.filter(
            enrollment_id__in=wanted[start : start + 1000], status=Status.SUCCEEDED
        ).values_list("enrollment_id", "step_id", "outputs")
        for enrollment_id, step_id, outputs in rows:
            found[enrollment_id][step_id] = outputs
    return found


def execution_complete(item: Item, *, inline: bool = False) -> tuple[str, list[int]]:
    """Complete one executed item in its own transaction: side effect, outputs, status
    and the next step — all or none. Returns (what happened, next steps to run inline).

    The side effect is written first and the conditional UPDATE of our row comes after:
    if the row is no longer this attempt's (lease lost to another worker), the UPDATE
    matches nothing and the whole transaction, side effect included, rolls back. Two
    workers completing at once collide on the side effect's unique key instead."""
    try:
        with transaction.atomic():
            completed = _complete([item], inline=inline)
    except ledger.LeaseLost:
        return "lease lost", []
    except IntegrityError:
        if ledger.mine(item.execution).exists():
            raise
        return "lease lost", []
    return completed.results[item.execution.pk], completed.follow


@dataclass
class _Completed:
    """What a completion transaction made of each execution ({execution id: "succeeded"
    or "completed"}), and the ids of the next steps to run inline."""

    results: dict[int, str] = field(default_factory=dict)
    follow: list[int] = field(default_factory=list)


def _complete(items: list[Item], *, inline: bool) -> _Completed:
    """The completion transaction of a batch (called inside `transaction.atomic`)."""
    by_type: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_type[item.action_type.key].append(item)
    final: dict[int, dict[str, Any]] = {}  # item.outputs stays what execute() returned,
    for group in by_type.values():  # for a retry one by one if this rolls back
        try:
            applied = group[0].action_type.apply_many([(i.context, i.outputs) for i in group])
        except ValidationError as error:
            raise PermanentError(" ".join(error.messages)) from None
        for item, outputs in zip(group, applied, strict=True):
            final[item.execution.pk] = outputs
    routes = [
        item.action_type.route(item.context, item.step, final[item.execution.pk]) for item in items
    ]
    now = timezone.now()
    ledger.executions_mark_succeeded(
        [(item.execution, final[item.execution.pk], item.context.config) for item in items],
        now,
    )
    completed = _Completed()
    finished: list[int] = []
    successors: list[ActionExecution] = []
    run_inline: list[ActionExecution] = []
    publish: list[ActionExecution] = []
    for item, route in zip(items, routes, strict=True):
        execution = item.execution
        execution.status = Status.SUCCEEDED
        execution.outputs = final[execution.pk]
        execution.finished_at = now
        # An enrollment unenrolled meanwhile is not re-checked here: its next step, if
        # any, is cancelled when a worker picks it up (the batch checks the status).
        next_step = execution.enrollment.version.step(route.next_step)
        if route.next_step is None or next_step is None:
            finished.append(execution.enrollment_id)
            completed.results[execution.pk] = "completed"
            continue
        completed.results[execution.pk] = "succeeded"
        due_at = route.due_at if route.due_at and route.due_at > now else now
        action_type = _type_of(next_step["type"])
        successor = ActionExecution(
            enrollment_id=execution.enrollment_id,
            workflow_id=execution.workflow_id,
            step_id=route.next_step,
            action_type=next_step["type"],
            queue=action_type.queue if action_type else "default",
            due_at=due_at,
            # A delayed step is published by the sweeper when it falls due.
            last_sent_at=now if due_at == now else None,
        )
        successors.append(successor)
        if due_at == now:
            run_here = (
                inline
                and action_type is not None
                and action_type.batchable
                and successor.queue == execution.queue
            )
            (run_inline if run_here else publish).append(successor)
    if finished:
        Enrollment.objects.filter(pk__in=finished, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.COMPLETED, finished_at=now
        )
    if successors:
        ActionExecution.objects.bulk_create(successors)
        completed.follow = [s.pk for s in run_inline]
    if publish:
        rows = [(s.pk, s.queue, s.action_type) for s in publish]
        transaction.on_commit(lambda: executions_publish(rows))
    ledger.finished_announce(
        [(item.execution, item.execution.enrollment_id in finished) for item in items]
    )
    return completed


def _type_of(key: str) -> registry.ActionType | None:
    try:
        return registry.get(key)
    except ValidationError:
        return None  # the engine fails it with a readable message when it runs
