"""Economy mode for evaluations: an evaluation started "in economy mode" asks its
records through OpenAI's Batch API (about half the price, results within 24 hours), or
on the Flex tier for a model that has one, with economy.py's machinery.

Why beside economy.py's workflow path rather than through it: an evaluation's answer is
no ledger step (no execution to wait, resume and complete), and its runner
(evaluation_run.py) already asks again whatever is due. So an answer's request is an
`EconomyItem` tied to the answer (`answer`, no execution), batched only with its own
evaluation's (`EconomyBatch.evaluation`), and the batch's end simply makes its answers
due and publishes the evaluation's task: the answers then complete through the Ask
action's batch path as any answer does (run.batch_run), with this module's `divert`
instead of the workflows' — the same `economy.items_divert` (budget reservations at the
batch price held for the whole wait, answered / returned / waiting / new), the same
submit (economy._submit) and poll (economy.economy_poll calls
`evaluation_batch_apply` for these batches).

What must stay true (as for workflow steps):
- An answer's request is sent once on purpose: its item is unique per answer; while it
  waits the answer is pending with `due_at` at the wait's end, and the evaluation's task
  is not re-published for it (evaluation_run._wrap_up): the batch's end publishes it.
- Usage of an answer from a batch is priced at the batch rate (engine `batch`; Flex:
  `flex`), and its reservation is settled once with its real cost.
- A request that failed in the batch, and every request of a batch that failed,
  expired or was cancelled, is asked again as an ordinary call (ordinary retries).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from marketplace.integrations.openai import economy
from marketplace.integrations.openai.models import (
    EconomyBatch,
    EconomyItem,
    Evaluation,
    EvaluationAnswer,
)
from marketplace.integrations.openai.prepare import Call
from marketplace.models import Connection

logger = logging.getLogger(__name__)

State = EconomyItem.State
ANSWER_PREFIX = "answer-"


# --- In an evaluation's batch of calls (run.batch_run) ------------------------------


def _batchable(call: Call) -> bool:
    return (
        economy.tier_capable(call)
        and not call.request.functions
        and not economy.flex_offered(call.request.model)
    )


def divert_for(answers: list[EvaluationAnswer]) -> Callable[[list[Call]], economy.Diverted]:
    """The divert step of run.batch_run for an economy-mode evaluation's calls, whose
    index is their answer's in `answers`."""

    def divert(calls: list[Call]) -> economy.Diverted:
        diverted = economy.Diverted(run_now=[], waits=[], answered=[])
        batched: list[Call] = []
        for call in calls:
            if _batchable(call):
                batched.append(call)
                continue
            flex = economy.tier_capable(call) and economy.flex_offered(call.request.model)
            if flex and not call.economy:
                economy.flex_set(call)
            diverted.run_now.append(call)
        if not batched:
            return diverted
        ids = [answers[call.index].pk for call in batched]
        items = {
            item.answer_id: item
            for item in EconomyItem.objects.defer("body").filter(answer_id__in=ids)
        }
        economy.items_divert(
            [
                (call, {"answer_id": answer_id, "execution_id": -answer_id}, items.get(answer_id))
                for call, answer_id in zip(batched, ids, strict=True)
            ],
            diverted,
        )
        return diverted

    return divert


# --- The beat job: submit queued answers, apply an ended batch ------------------------


def evaluations_submit() -> int:
    """Every evaluation's queued requests, in batch files of its own. Returns the
    number of batches created."""
    created = 0
    queued = (
        EconomyItem.objects.filter(state=State.QUEUED, answer__isnull=False)
        .values_list("answer__evaluation_id", "connection_id")
        .distinct()
    )
    for evaluation_id, connection_id in list(queued):
        connection = Connection.objects.get(pk=connection_id)
        created += economy.batches_submit(connection, evaluation_id=evaluation_id)
    return created


def evaluation_batch_apply(
    batch: EconomyBatch, *, output: Iterator[str], errors: Iterator[str]
) -> int:
    """Store each answer on its item (DONE), return every other item of the batch (its
    request failed, or the batch ended without it), once per batch (a row lock and
    `finished_at`); then make the batch's answers due and publish the evaluation's
    task, which completes them. Returns the answers stored."""
    from marketplace.integrations.openai import evaluation_run

    stored = 0
    with transaction.atomic():
        locked = EconomyBatch.objects.select_for_update().filter(
            pk=batch.pk, finished_at__isnull=True
        )
        if not locked.exists():
            return 0
        for answer_id, body in _answered(output):
            stored += EconomyItem.objects.filter(
                answer_id=answer_id, batch=batch, state=State.SUBMITTED
            ).update(state=State.DONE, result=body)
        failed = sum(1 for line in errors if line.strip())
        EconomyItem.objects.filter(batch=batch, state=State.SUBMITTED).update(state=State.RETURNED)
        EconomyBatch.objects.filter(pk=batch.pk).update(finished_at=timezone.now())
        EvaluationAnswer.objects.filter(
            economy_item__batch=batch, status=EvaluationAnswer.Status.PENDING
        ).update(due_at=None)
        if batch.evaluation_id is not None:
            evaluation_run.evaluation_send(batch.evaluation_id, on_commit=True)
    logger.info(
        "evaluation batch %s applied: %s answers, %s failed requests", batch.pk, stored, failed
    )
    return stored


def _answered(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(answer id, response body as JSON text) of each output line answered with 200."""
    for line in lines:
        try:
            data: Any = json.loads(line)
        except ValueError:
            continue
        custom = data.get("custom_id") if isinstance(data, dict) else None
        response = data.get("response") if isinstance(data, dict) else None
        if not (isinstance(custom, str) and custom.startswith(ANSWER_PREFIX)):
            continue
        if not custom[len(ANSWER_PREFIX) :].isdigit() or not isinstance(response, dict):
            continue
        if response.get("status_code") != 200 or not isinstance(response.get("body"), dict):
            continue
        body = json.dumps(response["body"], separators=(",", ":"), ensure_ascii=False)
        yield int(custom[len(ANSWER_PREFIX) :]), body


# --- The evaluation's page --------------------------------------------------------------


@dataclass(frozen=True)
class BatchWait:
    """What an economy-mode evaluation waits for: its requests in OpenAI's batches."""

    requests: int  # its requests in a batch, or queued for the next one
    queued: int  # … not sent yet (the beat job sends them within a minute)
    status: str  # the open batch's status, as people read it ("" while queued)
    sent_at: Any  # when the oldest open batch was created (None while queued)


def batch_wait(evaluation: Evaluation) -> BatchWait | None:
    """The evaluation's requests still out in a batch, None when none is."""
    counts = EconomyItem.objects.filter(answer__evaluation=evaluation).aggregate(
        queued=Count("pk", filter=Q(state=State.QUEUED)),
        submitted=Count("pk", filter=Q(state=State.SUBMITTED)),
    )
    if not counts["queued"] and not counts["submitted"]:
        return None
    batch = (
        EconomyBatch.objects.filter(evaluation=evaluation, finished_at__isnull=True)
        .order_by("created_at")
        .first()
    )
    return BatchWait(
        requests=counts["queued"] + counts["submitted"],
        queued=counts["queued"],
        status=batch.get_status_display() if batch is not None else "",
        sent_at=batch.created_at if batch is not None else None,
    )


# An evaluation's answers that wait for a batch (its task does not come back for them).
WAITING = Q(economy_item__state__in=[State.QUEUED, State.SUBMITTED])
