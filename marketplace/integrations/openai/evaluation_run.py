"""Running an evaluation: every record of its set asked of one or two sides (a
version, or a version with another model) on a Celery worker of the `assistant` queue,
never in a web request.

What must stay true:
- The calls go through the Ask action's batch path (run.batch_run): the same checks,
  rate limiter, budget reservations, engines and usage as a workflow's steps. An
  answer is an `ExecutionContext` with no workflow and no execution; its usage row is
  marked with the evaluation, so budgets count it and workflow usage does not.
- A budget reached mid-evaluation stops it: the answers not asked yet are "not asked"
  and the evaluation says which budget stopped it. Calls already in flight finish and
  count.
- One worker runs an evaluation at a time (`leased_until`, claimed by a conditional
  UPDATE); a redelivered task comes back when the lease ends. Answers a rate limit or a
  transient error postponed are asked again by the task published for their time.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.services import definitions_for
from marketplace.integrations.openai import evaluation_economy, run, versions
from marketplace.integrations.openai.limiter import policy
from marketplace.integrations.openai.listing import ACTION_KEY
from marketplace.integrations.openai.models import (
    AssistantUsage,
    AssistantVersion,
    Evaluation,
    EvaluationAnswer,
    EvaluationSet,
)
from marketplace.integrations.openai.prepare import BudgetRefused
from marketplace.integrations.openai.usage import usage_row
from workflows import registry
from workflows.context import ExecutionContext
from workflows.outcomes import Failure, HandBack, Outcome, Retry, Success
from workflows.outcomes import Wait as WaitOutcome
from workflows.tokens import TokenResolver

logger = logging.getLogger(__name__)

EVALUATION_TASK = "marketplace_openai.evaluation_run"
QUEUE = "assistant"
# Answers one batch asks at once (they all start together, as a workflow batch's).
CHUNK = 500
# Tries of an answer that failed transiently (a 5xx, a timeout) before it fails.
MAX_ATTEMPTS = 3
LEASE_MARGIN_SECONDS = 60.0


def evaluation_send(evaluation_id: int, *, countdown: float = 0, on_commit: bool = False) -> None:
    """Publish the task that runs the evaluation (after `countdown` seconds)."""

    def send() -> None:
        from config.celery import app

        try:
            app.send_task(
                EVALUATION_TASK, args=[evaluation_id], queue=QUEUE, countdown=countdown or None
            )
        except Exception:  # broker trouble: logged; nothing re-sends it (known gap)
            logger.warning("could not publish evaluation %s", evaluation_id, exc_info=True)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()


def evaluation_start(
    *,
    evaluation_set: EvaluationSet,
    version_a: AssistantVersion,
    model_a: str = "",
    version_b: AssistantVersion | None = None,
    model_b: str = "",
    user: Any = None,
    economy: bool = False,
) -> Evaluation:
    """An evaluation of the set's records, queued for a worker (published on commit);
    with `economy`, its calls go through the Batch API or the Flex tier at the batch
    price (evaluation_economy.py)."""
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            account_id=evaluation_set.account_id,
            evaluation_set=evaluation_set,
            version_a=version_a,
            model_a=model_a,
            version_b=version_b,
            model_b=model_b,
            economy=economy,
            created_by=user if getattr(user, "pk", None) else None,
        )
        sides = ["a", "b"] if (version_b is not None or model_b) else ["a"]
        EvaluationAnswer.objects.bulk_create(
            [
                EvaluationAnswer(evaluation=evaluation, record_id=record_id, side=side)
                for record_id in evaluation_set.records
                for side in sides
            ],
            ignore_conflicts=True,
        )
        evaluation_send(evaluation.pk, on_commit=True)
    return evaluation


def _lease_seconds() -> float:
    return (
        policy.longest_wait_seconds()
        + run.deadline_seconds()
        + run.STUCK_GRACE_SECONDS
        + LEASE_MARGIN_SECONDS
    )


def _claim(evaluation_id: int) -> bool:
    now = timezone.now()
    return bool(
        Evaluation.objects.filter(
            Q(leased_until__isnull=True) | Q(leased_until__lt=now),
            pk=evaluation_id,
            status__in=[Evaluation.Status.QUEUED, Evaluation.Status.RUNNING],
        ).update(
            status=Evaluation.Status.RUNNING,
            leased_until=now + dt.timedelta(seconds=_lease_seconds()),
        )
    )


def evaluation_run(*, evaluation_id: int) -> str:
    """Ask what is due of the evaluation's answers; then finish it, or come back for
    the answers postponed. Returns what happened (for the worker's log)."""
    if not _claim(evaluation_id):
        evaluation = Evaluation.objects.filter(pk=evaluation_id).first()
        if evaluation is None or evaluation.is_finished:
            return "finished"
        if evaluation.leased_until:  # another worker has it: come back when its lease ends
            wait = (evaluation.leased_until - timezone.now()).total_seconds()
            evaluation_send(evaluation_id, countdown=max(wait, 1.0))
        return "leased"
    evaluation = Evaluation.objects.select_related(
        "evaluation_set__assistant", "evaluation_set__account", "version_a", "version_b"
    ).get(pk=evaluation_id)
    stopped = False
    while not stopped:
        due = list(
            evaluation.answers.filter(status=EvaluationAnswer.Status.PENDING)
            .filter(Q(due_at__isnull=True) | Q(due_at__lte=timezone.now()))
            .select_related("record")
            .order_by("id")[:CHUNK]
        )
        if not due:
            break
        stopped = _batch(evaluation, due)
    return _wrap_up(evaluation, stopped)


def _wrap_up(evaluation: Evaluation, stopped: bool) -> str:
    pending = evaluation.answers.filter(status=EvaluationAnswer.Status.PENDING)
    # Answers in an economy batch are not asked again until it ends: its end (the beat
    # job's poll) publishes this task.
    asked = pending.exclude(evaluation_economy.WAITING)
    if not stopped and pending.exists() and not asked.exists():
        Evaluation.objects.filter(pk=evaluation.pk).update(leased_until=None)
        return "waiting for its batch"
    if not stopped and pending.exists():
        next_at = asked.aggregate(at=Min("due_at"))["at"]
        countdown = max((next_at - timezone.now()).total_seconds(), 0.2) if next_at else 0.2
        Evaluation.objects.filter(pk=evaluation.pk).update(leased_until=None)
        evaluation_send(evaluation.pk, countdown=countdown)
        return "postponed"
    Evaluation.objects.filter(pk=evaluation.pk, status=Evaluation.Status.RUNNING).update(
        status=Evaluation.Status.DONE, finished_at=timezone.now(), leased_until=None
    )
    return "stopped" if stopped else "done"


def _contexts(evaluation: Evaluation, due: list[EvaluationAnswer]) -> list[ExecutionContext]:
    """Each answer as an Ask step's execution: the set's prompt, the side's pinned
    version and model, no workflow."""
    evaluation_set = evaluation.evaluation_set
    action = registry.get(ACTION_KEY)
    account = evaluation_set.account
    definitions = definitions_for(account, evaluation_set.object_type)
    sides = {
        "a": (evaluation.version_a, evaluation.model_a),
        "b": (evaluation.version_b or evaluation.version_a, evaluation.model_b),
    }
    contexts = []
    for answer in due:
        version, model = sides[answer.side]
        config: dict[str, Any] = {
            "assistant": evaluation_set.assistant.choice_value,
            "prompt": evaluation_set.prompt,
            versions.CONFIG_KEY: version.pk,
        }
        if model:
            config["model"] = model
        resolver = TokenResolver(record=answer.record, definitions=definitions, earlier_outputs={})
        contexts.append(
            ExecutionContext(
                account=account,
                workflow=None,
                record=answer.record,
                config=action.resolve_config(config, resolver),
                raw_config=config,
                definitions=definitions,
                economy=evaluation.economy,
            )
        )
    return contexts


def _batch(evaluation: Evaluation, due: list[EvaluationAnswer]) -> bool:
    """Ask `due` through the Ask action's batch path; True when a budget stopped it."""
    contexts = _contexts(evaluation, due)
    fields = {
        version.pk: {f.name for f in versions.snapshot_fields(version.snapshot)}
        for version in (evaluation.version_a, evaluation.version_b)
        if version is not None
    }
    stop_message = ""
    divert = evaluation_economy.divert_for(due) if evaluation.economy else None
    for group in run.batch_run(contexts, divert=divert):
        changed: list[EvaluationAnswer] = []
        usage: list[AssistantUsage] = []
        for index, outcome in group:
            answer, context = due[index], contexts[index]
            if isinstance(outcome, BudgetRefused):
                stop_message = stop_message or outcome.message
                answer.status = EvaluationAnswer.Status.SKIPPED
                answer.error = outcome.message
            else:
                version_id = context.raw_config[versions.CONFIG_KEY]
                _outcome_apply(answer, context, outcome, fields.get(version_id, set()))
                if answer.status == EvaluationAnswer.Status.OK and context.usage:
                    usage.append(usage_row(context, evaluation=evaluation))
            changed.append(answer)
        with transaction.atomic():
            EvaluationAnswer.objects.bulk_update(
                changed,
                [
                    "status",
                    "attempts",
                    "due_at",
                    "text",
                    "structured",
                    "tokens",
                    "cost_usd",
                    "latency_ms",
                    "error",
                ],
            )
            AssistantUsage.objects.bulk_create(usage)
    if stop_message:
        _stop(evaluation, stop_message)
        return True
    return False


def _outcome_apply(
    answer: EvaluationAnswer,
    context: ExecutionContext,
    outcome: Outcome | WaitOutcome,
    fields: set[str],
) -> None:
    now = timezone.now()
    if isinstance(outcome, Success):
        outputs = outcome.outputs
        usage = context.usage
        answer.status = EvaluationAnswer.Status.OK
        answer.text = str(outputs.get("response") or "")
        answer.structured = {k: v for k, v in outputs.items() if k in fields} or None
        answer.tokens = int(usage.get("total_tokens") or 0)
        cost = usage.get("cost_usd")
        answer.cost_usd = Decimal(cost) if cost is not None else None
        # A batch's answer has no latency of its own (it waited hours for its batch).
        batched = usage.get("engine") == "batch"
        answer.latency_ms = None if batched else usage.get("duration_ms")
        answer.error = ""
    elif isinstance(outcome, Failure):
        answer.status = EvaluationAnswer.Status.FAILED
        answer.error = outcome.message
    elif isinstance(outcome, HandBack):
        answer.due_at = None
    elif isinstance(outcome, WaitOutcome):  # asked again at its time (no call was made)
        answer.due_at = outcome.until
    elif isinstance(outcome, Retry):
        if not outcome.counts_attempt:  # the rate limiter said "not yet": no call was made
            answer.due_at = outcome.at or now
            return
        answer.attempts += 1
        if answer.attempts >= MAX_ATTEMPTS:
            answer.status = EvaluationAnswer.Status.FAILED
            answer.error = outcome.message
        else:
            answer.due_at = now + dt.timedelta(seconds=outcome.after or answer.attempts)


def _stop(evaluation: Evaluation, budget_message: str) -> None:
    """A budget is reached: what is not asked yet is not asked, and the evaluation
    says why."""
    with transaction.atomic():
        evaluation.answers.filter(status=EvaluationAnswer.Status.PENDING).update(
            status=EvaluationAnswer.Status.SKIPPED
        )
        not_asked = evaluation.answers.filter(status=EvaluationAnswer.Status.SKIPPED).count()
        Evaluation.objects.filter(pk=evaluation.pk).update(
            status=Evaluation.Status.STOPPED,
            finished_at=timezone.now(),
            leased_until=None,
            message=_(
                "The evaluation stopped: %(budget)s %(n)s answers were not asked. "
                "Raise the budget or evaluate a smaller set."
            )
            % {"budget": budget_message, "n": not_asked},
        )
