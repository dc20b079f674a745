"""Running one execution: claim, execute outside any transaction, complete in one.

Every state change is a conditional UPDATE on (id, status, attempt): a worker that
lost its lease (and so its claim) to another can never overwrite that one's result.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import Notification, Record, Role, User
from crm.services import definitions_for
from workflows import registry
from workflows.conf import setting
from workflows.context import ExecutionContext
from workflows.errors import PermanentError, RetryLater, TransientError
from workflows.ledger import execution_send
from workflows.models import ActionExecution, Enrollment, Workflow
from workflows.signals import execution_finished
from workflows.tokens import TokenResolver

logger = logging.getLogger(__name__)
Status = ActionExecution.Status


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
    return ActionExecution.objects.select_related(
        "enrollment__version", "workflow__account"
    ).get(pk=execution_id)


def _mine(execution: ActionExecution):
    """The row, only while it is still this attempt's claim."""
    return ActionExecution.objects.filter(
        pk=execution.pk, status=Status.RUNNING, attempt=execution.attempt
    )


def context_build(execution: ActionExecution, record: Record, step: dict,
                  action_type: registry.ActionType) -> ExecutionContext:
    workflow = execution.workflow
    definitions = definitions_for(workflow.account, workflow.object_type)
    earlier = dict(
        ActionExecution.objects.filter(
            enrollment_id=execution.enrollment_id, status=Status.SUCCEEDED
        ).values_list("step_id", "outputs")
    )
    raw = step.get("config") or {}
    resolver = TokenResolver(record=record, definitions=definitions, earlier_outputs=earlier)
    return ExecutionContext(
        account=workflow.account, workflow=workflow, record=record,
        config=resolver.resolve(raw, skip=action_type.raw_config_keys), raw_config=raw,
        earlier_outputs=earlier, step_id=execution.step_id, execution_id=execution.pk,
        attempt=execution.attempt, definitions=definitions,
    )


def execution_run(*, execution_id: int) -> str:
    """What a worker does with a wake-up message. Returns what happened (for logs/tests).

    Messages stored in the ledger (errors) are written in the site's default language,
    whatever language an earlier request or task left active in this thread."""
    with translation.override(settings.LANGUAGE_CODE):
        return _execution_run(execution_id=execution_id)


def _execution_run(*, execution_id: int) -> str:
    execution = execution_claim(execution_id=execution_id)
    if execution is None:
        return "not claimed"
    enrollment = execution.enrollment
    if enrollment.status != Enrollment.Status.ACTIVE:
        _mine(execution).update(status=Status.CANCELLED, finished_at=timezone.now(),
                                lease_expires_at=None)
        return "cancelled"
    try:
        step = enrollment.version.step(execution.step_id)
        if step is None:
            raise PermanentError(_("This step no longer exists in the workflow."))
        action_type = registry.get(execution.action_type)
        try:
            record = Record.objects.get(pk=enrollment.record_id)
        except ObjectDoesNotExist:
            raise PermanentError(_("The record was deleted.")) from None
        context = context_build(execution, record, step, action_type)
        execution.inputs = context.config  # kept by a failed or retried attempt too
        # The slow part: no transaction is open here.
        outputs = action_type.execute(context) or {}
    except RetryLater as later:
        return execution_postpone(execution=execution, at=later.at)
    except ValidationError as error:  # unknown action type, bad stored config
        return execution_fail(execution=execution, message=" ".join(error.messages))
    except PermanentError as error:
        return execution_fail(execution=execution, message=error.message)
    except TransientError as error:
        return execution_retry(execution=execution, message=error.message,
                               retry_after=error.retry_after)
    except SoftTimeLimitExceeded:
        return execution_retry(execution=execution, message=_("The action took too long."))
    except Exception as error:  # a bug or an unclassified outside failure: retried, then failed
        logger.exception("execution %s raised", execution.pk)
        return execution_retry(execution=execution, message=_("Unexpected error: %(error)s")
                               % {"error": str(error)[:500] or type(error).__name__})
    try:
        return execution_complete(execution=execution, context=context, step=step,
                                  action_type=action_type, outputs=outputs)
    except PermanentError as error:
        return execution_fail(execution=execution, message=error.message)
    except TransientError as error:
        return execution_retry(execution=execution, message=error.message,
                               retry_after=error.retry_after)
    except Exception as error:  # e.g. a database error while completing: retried, then failed
        logger.exception("execution %s could not complete", execution.pk)
        return execution_retry(execution=execution, message=_("Unexpected error: %(error)s")
                               % {"error": str(error)[:500] or type(error).__name__})


class _LeaseLost(Exception):
    pass


def execution_complete(*, execution: ActionExecution, context: ExecutionContext, step: dict,
                       action_type: registry.ActionType, outputs: dict[str, Any]) -> str:
    """One short transaction: side effect, outputs, status and the next step — all or none.

    The side effect is written first and the conditional UPDATE of our row comes after:
    if the row is no longer this attempt's (lease lost to another worker), the UPDATE
    matches nothing and the whole transaction, side effect included, rolls back. Two
    workers completing at once collide on the side effect's unique key instead."""
    try:
        with transaction.atomic():
            return _complete(execution, context, step, action_type, outputs)
    except _LeaseLost:
        return "lease lost"
    except IntegrityError:
        if _mine(execution).exists():
            raise
        return "lease lost"


def _complete(execution: ActionExecution, context: ExecutionContext, step: dict,
              action_type: registry.ActionType, outputs: dict[str, Any]) -> str:
    try:
        outputs = action_type.apply(context, outputs)
    except ValidationError as error:
        raise PermanentError(" ".join(error.messages)) from None
    route = action_type.route(context, step, outputs)
    now = timezone.now()
    if not _mine(execution).update(
        status=Status.SUCCEEDED, outputs=outputs, inputs=context.config, usage=context.usage,
        error="", finished_at=now, lease_expires_at=None,
    ):
        raise _LeaseLost
    execution.status = Status.SUCCEEDED
    execution.outputs = outputs
    # An enrollment unenrolled meanwhile is not re-checked here: its next step, if any,
    # is cancelled when a worker picks it up (execution_run checks the status).
    enrollment = execution.enrollment
    next_step = enrollment.version.step(route.next_step)
    if next_step is None:
        Enrollment.objects.filter(pk=enrollment.pk, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.COMPLETED, finished_at=now
        )
        execution_finished.send(ActionExecution, execution=execution, enrollment_finished=True)
        return "completed"
    due_at = route.due_at if route.due_at and route.due_at > now else now
    successor = ActionExecution.objects.create(
        enrollment=enrollment, workflow_id=execution.workflow_id, step_id=route.next_step,
        action_type=next_step["type"], queue=_queue_of(next_step["type"]), due_at=due_at,
        # A delayed step is published by the sweeper when it falls due.
        last_sent_at=now if due_at == now else None,
    )
    if due_at == now:
        execution_send(successor.pk, successor.queue, on_commit=True)
    execution_finished.send(ActionExecution, execution=execution, enrollment_finished=False)
    return "succeeded"


def _queue_of(key: str) -> str:
    try:
        return registry.get(key).queue
    except ValidationError:
        return "default"


def backoff_seconds(attempt: int) -> float:
    base = setting("WORKFLOWS_BACKOFF_SECONDS") * 2 ** max(attempt - 1, 0)
    # Full jitter on half the delay spreads retries of a burst of failures.
    return min(base, setting("WORKFLOWS_BACKOFF_MAX_SECONDS")) * random.uniform(0.5, 1.0)


def execution_retry(*, execution: ActionExecution, message: str,
                    retry_after: float | None = None) -> str:
    if execution.attempt >= setting("WORKFLOWS_MAX_ATTEMPTS"):
        return execution_fail(
            execution=execution,
            message=_("Gave up after %(n)d attempts. Last error: %(error)s")
            % {"n": execution.attempt, "error": message},
        )
    delay = max(retry_after if retry_after is not None else backoff_seconds(execution.attempt), 0)
    _mine(execution).update(
        status=Status.PENDING, error=message, lease_expires_at=None, last_sent_at=None,
        due_at=timezone.now() + dt.timedelta(seconds=delay), inputs=execution.inputs,
        attempts=attempt_record(execution, "retry", message, delay),
    )
    return "retry"


def execution_postpone(*, execution: ActionExecution, at: dt.datetime) -> str:
    """No permit yet: pending again at `at`, and this attempt does not count."""
    _mine(execution).update(
        status=Status.PENDING, attempt=F("attempt") - 1, lease_expires_at=None,
        last_sent_at=None, due_at=at,
        attempts=attempt_record(execution, "rate_limited", "",
                                max((at - timezone.now()).total_seconds(), 0)),
    )
    return "postponed"


@transaction.atomic
def execution_fail(*, execution: ActionExecution, message: str,
                   expected_status: str = Status.RUNNING) -> str:
    now = timezone.now()
    updated = ActionExecution.objects.filter(
        pk=execution.pk, status=expected_status, attempt=execution.attempt
    ).update(status=Status.FAILED, error=message[:5000], finished_at=now, lease_expires_at=None,
             inputs=execution.inputs, attempts=attempt_record(execution, "failed", message))
    if not updated:
        return "lease lost"
    Enrollment.objects.filter(pk=execution.enrollment_id, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.FAILED, finished_at=now
    )
    execution.status, execution.error = Status.FAILED, message[:5000]
    execution_finished.send(ActionExecution, execution=execution, enrollment_finished=True)
    admins_notify_failure(workflow=Workflow.objects.get(pk=execution.workflow_id), message=message)
    return "failed"


ATTEMPTS_KEPT = 20


def attempt_record(execution: ActionExecution, kind: str, error: str,
                   wait_seconds: float | None = None) -> list[dict]:
    """`execution.attempts` plus this attempt, for the UPDATE that hands the row back.
    Only the claim holder writes the row, so read-modify-write is safe. Consecutive
    rate-limit waits of one attempt fold into one entry (`times`)."""
    attempts = list(execution.attempts or [])
    entry = {"n": execution.attempt, "at": timezone.now().isoformat(), "kind": kind,
             "error": error[:1000]}
    if wait_seconds is not None:
        entry["wait_seconds"] = round(wait_seconds, 3)
    if execution.replays:
        entry["replay"] = execution.replays
    last = attempts[-1] if attempts else None
    if (kind == "rate_limited" and last and last.get("kind") == kind
            and last.get("n") == entry["n"] and last.get("replay") == entry.get("replay")):
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
    admins = User.objects.filter(account_id=workflow.account_id, role=Role.SUPER_ADMIN,
                                 is_active=True)
    Notification.objects.bulk_create(
        [
            Notification(
                account_id=workflow.account_id, recipient=admin, idempotency_key=key,
                title=_("Workflow “%(name)s” has failed actions") % {"name": workflow.name},
                body=message[:2000],
            )
            for admin in admins
        ],
        ignore_conflicts=True,
    )
