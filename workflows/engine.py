"""Running executions: claim, execute outside any transaction, complete in one.

Every state change is a conditional UPDATE on (id, status, attempt): a worker that
lost its lease (and so its claim) to another can never overwrite that one's result.

Executions run in batches (docs/engine.md, "Batches"): one Celery message may carry
several execution ids; they are claimed with one conditional UPDATE, executed one after
the other with no transaction open, and completed together in one short transaction
(side effects, `succeeded` rows, next steps). If anything in that transaction fails —
a lease lost to another worker, a duplicate side effect, a permanent error of one item —
it rolls back as a whole and every item is completed again on its own, exactly as a
batch of one. A next step that is due now, on the same queue and batchable is claimed
and run by the same worker right after the commit instead of being published.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import Notification, PropertyDefinition, Record, Role, User
from crm.services import definitions_for
from workflows import registry
from workflows.conf import setting
from workflows.context import ExecutionContext
from workflows.ledger import executions_publish
from workflows.models import ActionExecution, Enrollment, Workflow, WorkflowVersion
from workflows.outcomes import (
    Failure,
    PermanentError,
    Retry,
    RetryLater,
    Success,
    TransientError,
)
from workflows.signals import execution_finished, executions_finished
from workflows.tokens import TokenResolver

logger = logging.getLogger(__name__)
Status = ActionExecution.Status
TABLE = ActionExecution._meta.db_table


def execution_claim(*, execution_id: int) -> ActionExecution | None:
    """Take the row with one conditional UPDATE; None when it is not ours to run
    (finished, running elsewhere, or not yet due)."""
    now = timezone.now()
    claimed = ActionExecution.objects.filter(
        pk=execution_id, status=Status.PENDING, due_at__lte=now
    ).update(
        status=Status.RUNNING,
        attempt=F("attempt") + 1,
        lease_expires_at=now + dt.timedelta(seconds=setting("WORKFLOWS_LEASE_SECONDS")),
        started_at=now,
        finished_at=None,
    )
    if not claimed:
        return None
    return ActionExecution.objects.select_related("enrollment__version", "workflow__account").get(
        pk=execution_id
    )


def _claim_sql(where: str) -> str:
    return (
        f"UPDATE {TABLE} SET status = %s, attempt = attempt + 1, lease_expires_at = %s, "
        f"started_at = %s, finished_at = NULL WHERE {where} RETURNING id"
    )


def executions_claim_many(*, execution_ids: list[int]) -> list[int]:
    """Claim every due `pending` row among `execution_ids` with ONE conditional UPDATE
    (the same condition as `execution_claim`); returns the ids claimed."""
    if not execution_ids:
        return []
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    lease = now + dt.timedelta(seconds=setting("WORKFLOWS_LEASE_SECONDS"))
    marks = ", ".join(["%s"] * len(execution_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(f"id IN ({marks}) AND status = %s AND due_at <= %s"),
            [
                Status.RUNNING.value,
                adapt(lease),
                adapt(now),
                *execution_ids,
                Status.PENDING.value,
                adapt(now),
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def executions_claim_due(*, queue: str, limit: int, published_too: bool = False) -> list[int]:
    """Claim up to `limit` due `pending` rows of batchable action types on `queue` that
    no message is about to bring (never sent, or sent longer than
    WORKFLOWS_STEAL_AFTER_SECONDS ago: lost, or waiting behind a backlog of messages),
    or any due row with `published_too`. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
    concurrent workers take different rows; the outer condition re-checks `pending`
    either way. A message that finds its rows taken does nothing."""
    keys = registry.batchable_keys()
    if not keys or limit <= 0:
        return []
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    stale = now - dt.timedelta(seconds=setting("WORKFLOWS_STEAL_AFTER_SECONDS"))
    lease = now + dt.timedelta(seconds=setting("WORKFLOWS_LEASE_SECONDS"))
    lock = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    marks = ", ".join(["%s"] * len(keys))
    unsent = "" if published_too else " AND (last_sent_at IS NULL OR last_sent_at < %s)"
    inner = (
        f"SELECT id FROM {TABLE} WHERE status = %s AND due_at <= %s AND queue = %s "
        f"AND action_type IN ({marks}){unsent} ORDER BY due_at LIMIT %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(f"id IN ({inner}) AND status = %s"),
            [
                Status.RUNNING.value,
                adapt(lease),
                adapt(now),
                Status.PENDING.value,
                adapt(now),
                queue,
                *keys,
                *([] if published_too else [adapt(stale)]),
                int(limit),
                Status.PENDING.value,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def _mine(execution: ActionExecution):
    """The row, only while it is still this attempt's claim."""
    return ActionExecution.objects.filter(
        pk=execution.pk, status=Status.RUNNING, attempt=execution.attempt
    )


def context_build(
    execution: ActionExecution,
    record: Record,
    step: dict,
    action_type: registry.ActionType,
    *,
    definitions: dict[str, PropertyDefinition] | None = None,
    earlier: dict[int, dict] | None = None,
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
        config=resolver.resolve(raw, skip=action_type.raw_config_keys),
        raw_config=raw,
        earlier_outputs=earlier,
        step_id=execution.step_id,
        execution_id=execution.pk,
        attempt=execution.attempt,
        definitions=definitions,
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
        follow = _batch_run(claimed, results, inline=inline and began < deadline)
        per_item = (time.monotonic() - began) / len(claimed)
        return follow

    def chunk_size() -> int:
        if fixed is not None or per_item is None or per_item <= 0:
            return size
        return max(1, min(size, int(target / per_item)))

    while True:
        while todo:
            n = chunk_size()
            chunk, todo = todo[:n], todo[n:]
            claimed = executions_claim_many(execution_ids=chunk)
            mine = set(claimed)
            results.update({pk: "not claimed" for pk in chunk if pk in asked and pk not in mine})
            if (
                fixed is not None
                and steal
                and queue
                and len(claimed) < n
                and time.monotonic() < deadline
            ):
                # A concurrent batch costs about the same whatever its size: fill it up
                # with the queue's other due work, published or not (their messages then
                # find nothing to do), so single-record enrollments share calls too.
                claimed += executions_claim_due(
                    queue=queue, limit=n - len(claimed), published_too=True
                )
            if claimed:
                todo += run(claimed)  # next steps due now: claimed like any other, run next
        if not (steal and queue) or time.monotonic() >= deadline:
            break
        _leases_recover()
        claimed = executions_claim_due(
            queue=queue, limit=chunk_size(), published_too=fixed is not None
        )
        if not claimed:
            break
        todo += run(claimed)
    return results


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
    from workflows.sweeper import leases_recover

    leases_recover(timezone.now())


@dataclass
class _Item:
    execution: ActionExecution
    step: dict
    action_type: registry.ActionType
    context: ExecutionContext
    outputs: dict[str, Any] = field(default_factory=dict)


def _guarded(execution: ActionExecution, call) -> tuple[bool, Any]:
    """(True, value) or (False, what the failure made of the execution)."""
    try:
        return True, call()
    except RetryLater as later:
        return False, execution_postpone(execution=execution, at=later.at)
    except ValidationError as error:  # unknown action type, bad stored config
        return False, execution_fail(execution=execution, message=" ".join(error.messages))
    except PermanentError as error:
        return False, execution_fail(execution=execution, message=error.message)
    except TransientError as error:
        return False, execution_retry(
            execution=execution, message=error.message, retry_after=error.retry_after
        )
    except SoftTimeLimitExceeded:
        return False, execution_retry(execution=execution, message=_("The action took too long."))
    except Exception as error:  # a bug or an unclassified outside failure: retried, then failed
        logger.exception("execution %s raised", execution.pk)
        return False, execution_retry(
            execution=execution,
            message=_("Unexpected error: %(error)s")
            % {"error": str(error)[:500] or type(error).__name__},
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
            _mine(execution).update(
                status=Status.CANCELLED, finished_at=timezone.now(), lease_expires_at=None
            )
            results[execution.pk] = "cancelled"
        else:
            runnable.append(execution)
    records = Record.objects.in_bulk({e.enrollment.record_id for e in runnable})
    definitions: dict[tuple[int, str], dict] = {}
    earlier = _earlier_outputs(runnable)
    items: list[_Item] = []
    for execution in runnable:

        def prepare(execution=execution) -> _Item:
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
            return _Item(execution, step, action_type, context)

        ok, value = _guarded(execution, prepare)
        if ok:
            items.append(value)
        else:
            results[execution.pk] = value
    return _execute_and_complete(items, results, inline=inline)


def _settle(execution: ActionExecution, outcome: Retry | Failure) -> str:
    """What an outcome other than success makes of its execution."""
    if isinstance(outcome, Failure):
        return execution_fail(execution=execution, message=outcome.message)
    if not outcome.counts_attempt and outcome.at is not None:
        return execution_postpone(execution=execution, at=outcome.at)
    return execution_retry(execution=execution, message=outcome.message, retry_after=outcome.after)


def _execute_and_complete(
    items: list[_Item], results: dict[int, str], *, inline: bool
) -> list[int]:
    """The slow part, with no transaction open: each action type's `execute_many` over
    its items. What finished is completed in one transaction per group a concurrent type
    yields (its calls end at different times), otherwise once at the end. Returns the
    next steps to run inline."""
    by_type: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        by_type[item.action_type.key].append(item)
    follow: list[int] = []
    ready: list[_Item] = []
    for group in by_type.values():
        action_type = group[0].action_type
        for finished in action_type.execute_many([item.context for item in group]):
            for index, outcome in finished:
                item = group[index]
                if isinstance(outcome, Success):
                    item.outputs = outcome.outputs
                    ready.append(item)
                else:
                    results[item.execution.pk] = _settle(item.execution, outcome)
            if action_type.concurrent and ready:
                follow += _items_complete(ready, results, inline=inline)
                ready = []
    if ready:
        follow += _items_complete(ready, results, inline=inline)
    return follow


def _items_complete(items: list[_Item], results: dict[int, str], *, inline: bool) -> list[int]:
    """Complete executed items in one transaction; if that fails, each on its own."""
    follow: list[int] = []
    if len(items) > 1:
        try:
            with transaction.atomic():
                outcome = _complete(items, inline=inline)
        except Exception as error:
            # Rolled back as a whole: complete each on its own (a lease lost, a duplicate
            # side effect or a permanent error then concerns that one execution only).
            logger.info("batch of %d completed one by one: %r", len(items), error)
        else:
            for item in items:
                results[item.execution.pk] = outcome[item.execution.pk]
            return outcome.follow
    for item in items:
        ok, value = _guarded(item.execution, lambda item=item: _complete_one(item, inline))
        result, more = value if ok else (value, [])
        results[item.execution.pk] = result
        follow += more
    return follow


def _earlier_outputs(executions: list[ActionExecution]) -> dict[int, dict[int, dict]]:
    """{enrollment id: {step id: outputs}} of succeeded steps, in one query. A run's
    first step has none (a step runs at most once per enrollment), so first steps cost
    nothing."""
    wanted = [
        e.enrollment_id for e in executions if e.step_id != e.enrollment.version.graph.get("start")
    ]
    found: dict[int, dict[int, dict]] = defaultdict(dict)
    for start in range(0, len(wanted), 1000):
        rows = ActionExecution.objects.filter(
            enrollment_id__in=wanted[start : start + 1000], status=Status.SUCCEEDED
        ).values_list("enrollment_id", "step_id", "outputs")
        for enrollment_id, step_id, outputs in rows:
            found[enrollment_id][step_id] = outputs
    return found


class _LeaseLost(Exception):
    pass


def _complete_one(item: _Item, inline: bool) -> tuple[str, list[int]]:
    try:
        with transaction.atomic():
            outcome = _complete([item], inline=inline)
    except _LeaseLost:
        return "lease lost", []
    except IntegrityError:
        if _mine(item.execution).exists():
            raise
        return "lease lost", []
    return outcome[item.execution.pk], outcome.follow


def execution_complete(
    *,
    execution: ActionExecution,
    context: ExecutionContext,
    step: dict,
    action_type: registry.ActionType,
    outputs: dict[str, Any],
) -> str:
    """One short transaction: side effect, outputs, status and the next step — all or none.

    The side effect is written first and the conditional UPDATE of our row comes after:
    if the row is no longer this attempt's (lease lost to another worker), the UPDATE
    matches nothing and the whole transaction, side effect included, rolls back. Two
    workers completing at once collide on the side effect's unique key instead."""
    item = _Item(execution, step, action_type, context, outputs)
    return _complete_one(item, inline=False)[0]


class _Outcome(dict):
    follow: list[int]


def _complete(items: list[_Item], *, inline: bool) -> _Outcome:
    """The completion transaction of a batch (called inside `transaction.atomic`)."""
    by_type: dict[str, list[_Item]] = defaultdict(list)
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
    _mark_succeeded(items, final, now)
    outcome = _Outcome()
    outcome.follow = []
    finished: list[int] = []
    successors: list[ActionExecution] = []
    publish: list[ActionExecution] = []
    for item, route in zip(items, routes, strict=True):
        execution = item.execution
        execution.status = Status.SUCCEEDED
        execution.outputs = final[execution.pk]
        execution.finished_at = now
        # An enrollment unenrolled meanwhile is not re-checked here: its next step, if
        # any, is cancelled when a worker picks it up (the batch checks the status).
        next_step = execution.enrollment.version.step(route.next_step)
        if next_step is None:
            finished.append(execution.enrollment_id)
            outcome[execution.pk] = "completed"
            continue
        outcome[execution.pk] = "succeeded"
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
            (outcome.follow if run_here else publish).append(successor)
    if finished:
        Enrollment.objects.filter(pk__in=finished, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.COMPLETED, finished_at=now
        )
    if successors:
        ActionExecution.objects.bulk_create(successors)
        outcome.follow = [s.pk for s in outcome.follow]
    if publish:
        rows = [(s.pk, s.queue, s.action_type) for s in publish]
        transaction.on_commit(lambda: executions_publish(rows))
    _announce([(item.execution, item.execution.enrollment_id in finished) for item in items])
    return outcome


def _json(field_name: str, value: Any) -> Any:
    return ActionExecution._meta.get_field(field_name).get_db_prep_save(value, connection)


def _mark_succeeded(items: list[_Item], final: dict[int, dict[str, Any]], now: dt.datetime) -> None:
    """The conditional UPDATE of every row of the batch; raises _LeaseLost (rolling the
    batch back) unless each row is still this attempt's claim."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    rows = [
        (
            Status.SUCCEEDED.value,
            _json("outputs", final[item.execution.pk]),
            _json("inputs", item.context.config),
            _json("usage", item.context.usage),
            stamp,
            item.execution.pk,
            Status.RUNNING.value,
            item.execution.attempt,
        )
        for item in items
    ]
    sql = (
        f"UPDATE {TABLE} SET status = %s, outputs = %s, inputs = %s, usage = %s, "
        f"error = '', finished_at = %s, lease_expires_at = NULL "
        f"WHERE id = %s AND status = %s AND attempt = %s"
    )
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)
        if cursor.rowcount != len(rows):
            raise _LeaseLost


def _announce(finished: list[tuple[ActionExecution, bool]]) -> None:
    """workflows.signals, inside the completion transaction."""
    for execution, enrollment_finished in finished:
        execution_finished.send(
            ActionExecution, execution=execution, enrollment_finished=enrollment_finished
        )
    executions_finished.send(ActionExecution, executions=finished)


def _type_of(key: str) -> registry.ActionType | None:
    try:
        return registry.get(key)
    except ValidationError:
        return None  # the engine fails it with a readable message when it runs


def _queue_of(key: str) -> str:
    action_type = _type_of(key)
    return action_type.queue if action_type else "default"


def backoff_seconds(attempt: int) -> float:
    base = setting("WORKFLOWS_BACKOFF_SECONDS") * 2 ** max(attempt - 1, 0)
    # Full jitter on half the delay spreads retries of a burst of failures.
    return min(base, setting("WORKFLOWS_BACKOFF_MAX_SECONDS")) * random.uniform(0.5, 1.0)


def execution_retry(
    *, execution: ActionExecution, message: str, retry_after: float | None = None
) -> str:
    if execution.attempt >= setting("WORKFLOWS_MAX_ATTEMPTS"):
        return execution_fail(
            execution=execution,
            message=_("Gave up after %(n)d attempts. Last error: %(error)s")
            % {"n": execution.attempt, "error": message},
        )
    delay = max(retry_after if retry_after is not None else backoff_seconds(execution.attempt), 0)
    _mine(execution).update(
        status=Status.PENDING,
        error=message,
        lease_expires_at=None,
        last_sent_at=None,
        due_at=timezone.now() + dt.timedelta(seconds=delay),
        inputs=execution.inputs,
        attempts=attempt_record(execution, "retry", message, delay),
    )
    return "retry"


def execution_postpone(*, execution: ActionExecution, at: dt.datetime) -> str:
    """No permit yet: pending again at `at`, and this attempt does not count."""
    _mine(execution).update(
        status=Status.PENDING,
        attempt=F("attempt") - 1,
        lease_expires_at=None,
        last_sent_at=None,
        due_at=at,
        attempts=attempt_record(
            execution, "rate_limited", "", max((at - timezone.now()).total_seconds(), 0)
        ),
    )
    return "postponed"


@transaction.atomic
def execution_fail(
    *, execution: ActionExecution, message: str, expected_status: str = Status.RUNNING
) -> str:
    now = timezone.now()
    updated = ActionExecution.objects.filter(
        pk=execution.pk, status=expected_status, attempt=execution.attempt
    ).update(
        status=Status.FAILED,
        error=message[:5000],
        finished_at=now,
        lease_expires_at=None,
        inputs=execution.inputs,
        attempts=attempt_record(execution, "failed", message),
    )
    if not updated:
        return "lease lost"
    Enrollment.objects.filter(pk=execution.enrollment_id, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.FAILED, finished_at=now
    )
    execution.status, execution.error = Status.FAILED, message[:5000]
    _announce([(execution, True)])
    admins_notify_failure(workflow=Workflow.objects.get(pk=execution.workflow_id), message=message)
    return "failed"


ATTEMPTS_KEPT = 20


def attempt_record(
    execution: ActionExecution, kind: str, error: str, wait_seconds: float | None = None
) -> list[dict]:
    """`execution.attempts` plus this attempt, for the UPDATE that hands the row back.
    Only the claim holder writes the row, so read-modify-write is safe. Consecutive
    rate-limit waits of one attempt fold into one entry (`times`)."""
    attempts = list(execution.attempts or [])
    entry = {
        "n": execution.attempt,
        "at": timezone.now().isoformat(),
        "kind": kind,
        "error": error[:1000],
    }
    if wait_seconds is not None:
        entry["wait_seconds"] = round(wait_seconds, 3)
    if execution.replays:
        entry["replay"] = execution.replays
    last = attempts[-1] if attempts else None
    if (
        kind == "rate_limited"
        and last
        and last.get("kind") == kind
        and last.get("n") == entry["n"]
        and last.get("replay") == entry.get("replay")
    ):
        entry["times"] = last.get("times", 1) + 1
        entry["wait_seconds"] = round(last.get("wait_seconds", 0) + wait_seconds, 3)
        entry["at"] = last["at"]
        attempts[-1] = entry
    else:
        attempts.append(entry)
    execution.attempts = attempts[-ATTEMPTS_KEPT:]
    return execution.attempts


def admins_notify_failure(*, workflow: Workflow, message: str) -> None:
    """One notification per super admin, per workflow, per day — not one per failure."""
    key = f"workflow-failed:{workflow.pk}:{timezone.now().date().isoformat()}"
    admins = User.objects.filter(
        account_id=workflow.account_id, role=Role.SUPER_ADMIN, is_active=True
    )
    Notification.objects.bulk_create(
        [
            Notification(
                account_id=workflow.account_id,
                recipient=admin,
                idempotency_key=key,
                title=_("Workflow “%(name)s” has failed actions") % {"name": workflow.name},
                body=message[:2000],
            )
            for admin in admins
        ],
        ignore_conflicts=True,
    )
