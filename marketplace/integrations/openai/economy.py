"""Economy mode: the Ask steps of records enrolled when a workflow was turned on "in
economy mode" go through OpenAI's Batch API at about half the price, within 24 hours.

What must stay true:
- A step is never called twice on purpose: its request is written once as an
  `EconomyItem` (unique per execution) and its step waits (`Wait`, the ledger's
  `waiting` status, no worker held) until its batch ends. A step that comes back
  earlier (a worker died before the wait was recorded) finds its item and waits again.
- Results flow into the ledger as if each step had run: the batch's end resumes every
  waiting step, which runs again, finds its answer (`DONE`) and completes through the
  action's normal path (outputs, usage row, next step) with no call; the usage is
  priced at the batch rate (`BATCH_DISCOUNT` of the table's price, engine `batch`).
  The answered steps are not sent to the `assistant` workers one message each: right
  after the batch's commit they are cut into chunks (`answers_complete`), each
  published as one message for the `default` workers (one process each, one per core)
  while the beat job completes the chunks itself from the other end; each chunk runs
  in the ledger's batches (a claim and a completion transaction per
  WORKFLOWS_BATCH_SIZE steps). The claim makes a chunk taken by both, or delivered
  twice, complete each step once; a process that dies leaves leased rows the sweeper
  gives back.
- Budgets are never passed by batches in flight: a new item reserves its request's
  estimate at the batch price against the call's monthly budgets (limiter/budget.py,
  held for the whole wait) or is not created (the step fails saying so); the answer's
  real cost settles it once (`answers_settle`), a return to an ordinary call releases
  it.
- A request that failed in the batch (its line in the error file), a batch that failed,
  expired or was cancelled, and a step whose wait outlived the batch window all
  `RETURN` the item: the step runs as an ordinary call, with the ordinary retries.

Which steps: economy-mode enrollments (`ExecutionContext.economy`) of workspace
assistants without CRM tools (one request each, Responses API) on a connection to
OpenAI itself; everything else runs normally. A model OpenAI serves on its Flex
processing tier (`flex_offered`: o3, o4-mini, the gpt-5 family) is not batched: its
economy-mode steps are sent at once with `service_tier: "flex"` as ordinary calls
(retries, tools, reservations as usual), priced at the batch rate, engine `flex`. The jobs (`economy_submit`,
`economy_poll`, beat every POLL_SECONDS) are safe to run twice: items
are claimed for a batch with one conditional UPDATE, and a batch's results are applied
under a row lock once.

An evaluation run in economy mode uses the same items (tied to its answers), budget
reservations (`items_divert`), submit and poll; its batches hold only its answers and
their end resumes the evaluation, not ledger steps (evaluation_economy.py).

The batch file is written to a temporary file row by row and uploaded from it, so the
worker's memory does not grow with the number of rows (benchmarks/economy.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Literal

from django.db import connection as db
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai import pricing, versions
from marketplace.integrations.openai.client import connection_client
from marketplace.integrations.openai.endpoints import endpoint_for
from marketplace.integrations.openai.engines import ResponsesEngine
from marketplace.integrations.openai.errors import AssistantError, classify
from marketplace.integrations.openai.limiter import budget
from marketplace.integrations.openai.limiter.budget import BudgetLine
from marketplace.integrations.openai.limiter.window import estimate_tokens
from marketplace.integrations.openai.models import EconomyBatch, EconomyItem, EndpointKind
from marketplace.integrations.openai.prepare import (
    OUTPUT_ALLOWANCE,
    BudgetRefused,
    Call,
    Lookups,
    positive,
)
from marketplace.integrations.openai.specs import AssistantResult, Usage
from marketplace.models import Connection
from workflows.conf import tunable
from workflows.engine import heartbeat, ledger, runner
from workflows.models import Workflow
from workflows.outcomes import Wait
from workflows.services import executions_resume

if TYPE_CHECKING:
    # Imported where it is used: the SDK costs a process ~30 MB and ~1 s to load, and
    # the web, beat and default workers never call OpenAI.
    import openai

logger = logging.getLogger(__name__)

BATCH_ENDPOINT: Literal["/v1/responses"] = "/v1/responses"
# OpenAI bills the Batch API at half its standard price.
BATCH_DISCOUNT = Decimal("0.5")
# How long a step waits for its batch: the 24 h completion window, plus time to submit
# and to notice the end. Past it the step runs as an ordinary call.
WAIT_SECONDS = 26 * 3600
# Requests per batch file (OpenAI: at most 50,000 and 200 MB).
DEFAULT_BATCH_ROWS = 50_000
# A batch still uploading after this long is given up (its worker died): its items go
# back to the queue.
UPLOAD_GIVE_UP_SECONDS = 1800
# Seconds between runs of the beat job (submit, poll).
POLL_SECONDS = 60.0
# Items written or updated per statement.
CHUNK = 2000
# Answered steps per chunk (`answers_complete`): one message for the `default`
# workers, one round of the ledger's batches. Small enough that the beat job and the
# workers share the last chunks evenly (100,000 answers: 50 messages).
APPLY_CHUNK = 2000
# For how long the beat job completes chunks itself (setting or environment
# OPENAI_ECONOMY_APPLY_SECONDS; below the task's soft time limit, 150 s) before leaving
# the rest to the workers' messages.
DEFAULT_APPLY_SECONDS = 100.0
# The task that completes a chunk of answered steps on a worker (tasks.py), and its
# queue: the `default` workers, one process each (run one per core), so the chunks use
# every core (an `assistant` worker's threads share one interpreter).
ANSWERS_TASK = "marketplace_openai.economy_answers"
ANSWERS_QUEUE = "default"

Status = EconomyBatch.Status
State = EconomyItem.State
OPEN = (Status.VALIDATING, Status.IN_PROGRESS, Status.FINALIZING, Status.CANCELLING)


def batch_rows() -> int:
    return max(int(tunable("OPENAI_ECONOMY_BATCH_ROWS", DEFAULT_BATCH_ROWS)), 1)


def custom_id(execution_id: int) -> str:
    return f"exec-{execution_id}"


def answer_custom_id(answer_id: int) -> str:
    """An evaluation answer's line (evaluation_economy.py)."""
    return f"answer-{answer_id}"


def _execution_of(custom: object) -> int | None:
    if isinstance(custom, str) and custom.startswith("exec-") and custom[5:].isdigit():
        return int(custom[5:])
    return None


# --- In a batch of Ask steps (run.py) ------------------------------------------------


# The models OpenAI serves on its Flex processing tier (`service_tier: "flex"`, priced
# as the Batch API), with their dated snapshots; the gpt-5 family by prefix.
FLEX_MODELS = ("o3", "o4-mini")
FLEX_PREFIXES = ("gpt-5",)


def flex_offered(model: str) -> bool:
    """True when OpenAI serves `model` on the Flex processing tier."""
    if model.startswith(FLEX_PREFIXES):
        return True
    return any(
        re.fullmatch(rf"{re.escape(m)}(-\d{{4}}-\d{{2}}-\d{{2}})?", model) for m in FLEX_MODELS
    )


def tier_capable(call: Call) -> bool:
    """True when this economy-mode call may take a cheaper tier: the Responses API on a
    connection to OpenAI itself, not the Test button."""
    context = call.context
    return (
        context.economy
        and not context.is_test
        and isinstance(call.engine, ResponsesEngine)
        and endpoint_for(call.connection).kind == EndpointKind.OPENAI
    )


def _economy_call(call: Call) -> bool:
    return tier_capable(call) and call.context.execution_id is not None


def flex_eligible(call: Call) -> bool:
    """True when this economy-mode call is sent now on the Flex tier (its model has
    one; CRM tools allowed: it is an ordinary call)."""
    return _economy_call(call) and flex_offered(call.request.model)


def eligible(call: Call) -> bool:
    """True when this call goes through the Batch API (see the module's docstring)."""
    return (
        _economy_call(call) and not call.request.functions and not flex_offered(call.request.model)
    )


@dataclass
class Diverted:
    """What economy mode makes of a batch's calls: those that run now, those that wait
    for their batch, those whose batch answered (a result, or the error it stands
    for), and those the monthly budget keeps out of a batch (the failure they end
    with)."""

    run_now: list[Call]
    waits: list[tuple[int, Wait]]
    answered: list[tuple[Call, AssistantResult | AssistantError]]
    refused: list[tuple[Call, BudgetLine | BudgetRefused]] = field(default_factory=list)


def batch_usd(call: Call) -> Decimal | None:
    """The call's estimated cost at the batch price (what its item reserves)."""
    if call.estimate_usd is None:
        return None
    return call.estimate_usd * BATCH_DISCOUNT


def flex_set(call: Call) -> None:
    """Send this economy-mode call now on the Flex tier, at the batch price."""
    call.economy = "flex"
    call.request = replace(call.request, service_tier="flex")
    call.estimate_usd = batch_usd(call)


def calls_divert(calls: list[Call]) -> Diverted:
    """Sort a batch's calls (in the batch's thread: database reads and writes, and the
    budget reservations of the new items in one Redis round trip)."""
    diverted = Diverted(run_now=[], waits=[], answered=[])
    for call in calls:
        if flex_eligible(call) and not call.economy:
            flex_set(call)
    economy = [call for call in calls if eligible(call)]
    if not economy:
        diverted.run_now = calls
        return diverted
    chosen = {id(call) for call in economy}
    diverted.run_now = [call for call in calls if id(call) not in chosen]
    items = EconomyItem.objects.defer("body").in_bulk(  # the request is not read again
        [call.context.execution_id for call in economy], field_name="execution_id"
    )
    pairs: list[tuple[Call, dict[str, int], EconomyItem | None]] = []
    for call in economy:
        execution_id = call.context.execution_id or 0  # eligible: never None
        pairs.append((call, {"execution_id": execution_id}, items.get(execution_id)))
    items_divert(pairs, diverted)
    return diverted


def items_divert(
    calls: list[tuple[Call, dict[str, int], EconomyItem | None]], diverted: Diverted
) -> None:
    """Sort batchable calls by their item (None: none yet; the dict names the item's
    owner — its execution, or its evaluation answer — for a new one): answered, back to
    an ordinary call, still waiting for its batch, or new (reserved, then queued)."""
    now = timezone.now()
    fresh: list[tuple[Call, dict[str, int]]] = []
    late: list[int] = []
    released: list[budget.Reservation] = []
    for call, owner, item in calls:
        if item is None:
            fresh.append((call, owner))
        elif item.state == State.DONE:
            call.economy = "batch"
            diverted.answered.append((call, _answer(call, item)))
            # Settled with the real cost by answers_settle (run.py, with the outcome).
            call.reservation = budget.reservation_load(item.reservation)
        elif item.state == State.RETURNED:
            released.append(budget.reservation_load(item.reservation))
            diverted.run_now.append(call)
        elif now < item.created_at + dt.timedelta(seconds=WAIT_SECONDS):
            # Back before its batch ended (its worker died before the wait was written).
            until = item.created_at + dt.timedelta(seconds=WAIT_SECONDS)
            diverted.waits.append((call.index, Wait(until)))
        else:
            late.append(item.pk)
            released.append(budget.reservation_load(item.reservation))
            diverted.run_now.append(call)
    if late:
        EconomyItem.objects.filter(pk__in=late).update(state=State.RETURNED)
    if released:
        # Back to an ordinary call, which reserves its own estimate: nothing spent here.
        budget.counters().settle_many_once([(r, 0, None) for r in released])
    if fresh:
        _items_create(fresh, diverted, now)


def _items_create(
    calls: list[tuple[Call, dict[str, int]]], diverted: Diverted, now: dt.datetime
) -> None:
    """Each new request's estimate at the batch price reserved against its budgets for
    the batch's whole window, then its item written; a request the budget cannot take
    is not added to a batch (the step fails saying why)."""
    reservations = budget.counters().reserve_many(
        [(call.budgets, call.estimate, batch_usd(call)) for call, _owner in calls],
        hold_seconds=WAIT_SECONDS + 3600,
    )
    new: list[EconomyItem] = []
    for (call, owner), reservation in zip(calls, reservations, strict=True):
        if isinstance(reservation, BudgetLine):
            message = _(
                "Not added to an economy batch: its estimated cost at the batch price "
                "would pass the monthly AI budget."
            )
            diverted.refused.append(
                (call, replace(reservation, message=f"{message} {reservation.message}"))
            )
            continue
        if isinstance(reservation, budget.BudgetBusy):
            diverted.refused.append(
                (
                    call,
                    BudgetRefused(
                        _(
                            "Not added to an economy batch: the batches in flight hold the "
                            "rest of the monthly AI budget. Replay the failed runs once their "
                            "answers are in, or raise the budget on the OpenAI app's Usage tab."
                        )
                    ),
                )
            )
            continue
        body = ResponsesEngine().build_params(call.request)
        new.append(
            EconomyItem(
                **owner,
                connection=call.connection,
                body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                reservation=budget.reservation_dump(reservation),
            )
        )
        diverted.waits.append((call.index, Wait(now + dt.timedelta(seconds=WAIT_SECONDS))))
    if new:
        EconomyItem.objects.bulk_create(new, ignore_conflicts=True)


def answers_settle(answered: list[tuple[Call, AssistantResult | AssistantError]]) -> None:
    """Settle the answered calls' reservations with their real cost at the batch price
    (an answer that is an error: nothing spent), once each, in one round trip."""
    settles: list[tuple[budget.Reservation, int, Decimal | None]] = []
    for call, answer in answered:
        if call.reservation is None:
            continue
        if isinstance(answer, AssistantResult):
            usd = pricing.quote(answer.model, answer.usage, call.prices).usd
            usd = None if usd is None else usd * BATCH_DISCOUNT
            settles.append((call.reservation, answer.usage.total_tokens, usd))
        else:
            settles.append((call.reservation, 0, None))
    if settles:
        budget.counters().settle_many_once(settles)


def _answer(call: Call, item: EconomyItem) -> AssistantResult | AssistantError:
    try:
        body = json.loads(item.result)
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        return ResponsesEngine().result_from(call.request, body)
    except AssistantError as error:
        return error
    except ValueError as error:
        return classify(error)


# --- The review page ------------------------------------------------------------------


def budget_note(workflow: Workflow, config: dict[str, Any], count: int) -> str:
    """What the review page says when a monthly budget cannot take this Ask step's
    batch requests for `count` records (each reserves its estimate at the batch price
    when it joins a batch; those that do not fit fail saying so), "" otherwise. An
    estimate: the prompt is counted as written, its tokens unresolved."""
    lookups = Lookups()
    account = workflow.account
    connection = lookups.connection(account)
    if connection is None or endpoint_for(connection).kind != EndpointKind.OPENAI:
        return ""
    selection = assistants_mod.selection_parse(config.get("assistant"))
    found = (
        lookups.spec(account, connection, selection, config.get(versions.CONFIG_KEY))
        if selection is not None
        else None
    )
    if found is None or found[0].openai_assistant_id or found[0].tools:
        return ""  # not an economy-mode step: it runs as ordinary calls
    spec = found[0]
    estimate = estimate_tokens(
        spec.instructions,
        str(config.get("prompt") or ""),
        output_allowance=positive(config.get("max_output_tokens")) or OUTPUT_ALLOWANCE,
    )
    model = str(config.get("model") or "").strip() or spec.model
    usd = pricing.quote(model, Usage(output_tokens=estimate), lookups.prices(account)).usd
    for line in lookups.budget_lines(connection, workflow):
        each = (
            estimate
            if line.tokens
            else budget.usd_units(None if usd is None else usd * BATCH_DISCOUNT)
        )
        left = max(line.limit - line.seed, 0)
        if each <= 0 or each * count <= left:
            continue
        return ngettext(
            "At the batch price, a monthly AI budget has room for about %(fit)s of these "
            "%(count)s record (estimated). The others are not added to a batch: their "
            "runs fail saying so, and can be replayed once the budget allows.",
            "At the batch price, a monthly AI budget has room for about %(fit)s of these "
            "%(count)s records (estimated). The others are not added to a batch: their "
            "runs fail saying so, and can be replayed once the budget allows.",
            count,
        ) % {"fit": left // each, "count": count}
    return ""


# --- The beat job: submit the queued items, poll the batches ------------------------


def economy_run() -> dict[str, int]:
    """One run of the beat job: give up dead uploads, poll the open batches, submit
    what is queued. Returns counts (for logs and tests)."""
    from marketplace.integrations.openai import evaluation_economy

    given_up = uploads_give_up()
    polled, applied = economy_poll()
    submitted = economy_submit() + evaluation_economy.evaluations_submit()
    return {"given_up": given_up, "polled": polled, "applied": applied, "submitted": submitted}


def uploads_give_up() -> int:
    stale = timezone.now() - dt.timedelta(seconds=UPLOAD_GIVE_UP_SECONDS)
    count = 0
    for batch in EconomyBatch.objects.filter(status=Status.UPLOADING, created_at__lt=stale):
        with transaction.atomic():
            EconomyItem.objects.filter(batch=batch, state=State.SUBMITTED).update(
                state=State.QUEUED, batch=None
            )
            EconomyBatch.objects.filter(pk=batch.pk).update(
                status=Status.FAILED, finished_at=timezone.now()
            )
        count += 1
    return count


def economy_submit() -> int:
    """Every connection's queued items of workflow steps, in batch files of at most
    `batch_rows()`. Returns the number of batches created."""
    created = 0
    connections = (
        EconomyItem.objects.filter(state=State.QUEUED, answer__isnull=True)
        .values_list("connection_id", flat=True)
        .distinct()
    )
    for connection in Connection.objects.filter(pk__in=list(connections)):
        created += batches_submit(connection)
    return created


def batches_submit(connection: Connection, *, evaluation_id: int | None = None) -> int:
    """The connection's queued items — of workflow steps, or of one evaluation's answers
    — in batch files of at most `batch_rows()`. Returns the number of batches created."""
    import openai

    created = 0
    while True:
        batch = _claim(connection, evaluation_id)
        if batch is None:
            break
        try:
            _submit(connection, batch)
        except openai.OpenAIError as error:
            logger.warning("economy batch %s not submitted: %s", batch.pk, classify(error))
            _unclaim(batch)
            break
        created += 1
    return created


def _claim(connection: Connection, evaluation_id: int | None) -> EconomyBatch | None:
    """A new batch row holding up to `batch_rows()` queued items (one UPDATE): of
    workflow steps, or of one evaluation's answers (a batch never mixes them)."""
    with transaction.atomic():
        batch = EconomyBatch.objects.create(connection=connection, evaluation_id=evaluation_id)
        queued = EconomyItem.objects.filter(connection=connection, state=State.QUEUED)
        if evaluation_id is None:
            queued = queued.filter(answer__isnull=True)
        else:
            queued = queued.filter(answer__evaluation_id=evaluation_id)
        ids = queued.order_by("pk").values("pk")[: batch_rows()]
        rows = EconomyItem.objects.filter(pk__in=ids, state=State.QUEUED).update(
            state=State.SUBMITTED, batch=batch
        )
        if not rows:
            transaction.set_rollback(True)
            return None
        EconomyBatch.objects.filter(pk=batch.pk).update(rows=rows)
        batch.rows = rows
    return batch


def _unclaim(batch: EconomyBatch) -> None:
    with transaction.atomic():
        EconomyItem.objects.filter(batch=batch, state=State.SUBMITTED).update(
            state=State.QUEUED, batch=None
        )
        EconomyBatch.objects.filter(pk=batch.pk).update(
            status=Status.FAILED, finished_at=timezone.now()
        )


def batch_file_write(batch: EconomyBatch, out: IO[bytes]) -> int:
    """The batch's JSONL, one request a line, read from the database in chunks and
    written as it is read (the bodies are stored as JSON text). Returns the rows."""
    rows = 0
    prefix = b'{"method":"POST","url":"' + BATCH_ENDPOINT.encode() + b'","custom_id":"'
    items = (
        EconomyItem.objects.filter(batch=batch, state=State.SUBMITTED)
        .order_by("pk")
        .values_list("execution_id", "answer_id", "body")
    )
    for execution_id, answer_id, body in items.iterator(chunk_size=CHUNK):
        line_id = custom_id(execution_id) if answer_id is None else answer_custom_id(answer_id)
        out.write(prefix + line_id.encode() + b'","body":' + body.encode() + b"}\n")
        rows += 1
    return rows


def _submit(connection: Connection, batch: EconomyBatch) -> None:
    client = connection_client(connection).with_options(timeout=600.0)
    with tempfile.TemporaryFile() as out:
        batch_file_write(batch, out)
        out.seek(0)
        upload = client.files.create(
            file=(f"crmflow-economy-{batch.pk}.jsonl", out), purpose="batch"
        )
    created = client.batches.create(
        input_file_id=upload.id,
        endpoint=BATCH_ENDPOINT,
        completion_window="24h",
        metadata={"crmflow_batch": str(batch.pk)},
    )
    EconomyBatch.objects.filter(pk=batch.pk).update(
        openai_batch_id=created.id,
        input_file_id=upload.id,
        status=created.status,
        checked_at=timezone.now(),
    )


def economy_poll() -> tuple[int, int]:
    """Ask OpenAI about every open batch; apply those that ended (an evaluation's:
    evaluation_economy.py). Returns (batches polled, results applied)."""
    import openai

    from marketplace.integrations.openai import evaluation_economy

    polled = applied = 0
    open_batches = EconomyBatch.objects.filter(
        finished_at__isnull=True, status__in=OPEN
    ).select_related("connection")
    for batch in open_batches:
        client = connection_client(batch.connection).with_options(timeout=600.0)
        try:
            remote = client.batches.retrieve(batch.openai_batch_id)
        except openai.OpenAIError as error:
            logger.warning("economy batch %s not polled: %s", batch.pk, classify(error))
            continue
        polled += 1
        EconomyBatch.objects.filter(pk=batch.pk).update(
            status=remote.status, checked_at=timezone.now()
        )
        if remote.status in OPEN:
            continue
        apply = (
            batch_results_apply
            if batch.evaluation_id is None
            else evaluation_economy.evaluation_batch_apply
        )
        try:
            applied += apply(
                batch,
                output=_lines(client, remote.output_file_id),
                errors=_lines(client, remote.error_file_id),
            )
        except openai.OpenAIError as error:
            logger.warning("economy batch %s results not read: %s", batch.pk, classify(error))
    return polled, applied


def _lines(client: openai.OpenAI, file_id: str | None) -> Iterator[str]:
    """The file's lines, streamed (not held in memory whole)."""
    if not file_id:
        return
    with client.files.with_streaming_response.content(file_id) as response:
        yield from response.iter_lines()


def batch_results_apply(
    batch: EconomyBatch, *, output: Iterator[str], errors: Iterator[str]
) -> int:
    """Store each answer on its item (DONE), return every other item of the batch
    (its request failed, or the batch ended without it) and resume their steps, once
    per batch (a row lock and `finished_at`); then complete the answered steps here
    and on the workers, in chunks (`answers_complete`). Returns the answers stored."""
    stored = 0
    with transaction.atomic():
        locked = EconomyBatch.objects.select_for_update().filter(
            pk=batch.pk, finished_at__isnull=True
        )
        if not locked.exists():
            return 0
        answers: list[tuple[int, str]] = []
        for line in output:
            answer = _answer_line(line)
            if answer is None:
                continue
            answers.append(answer)
            if len(answers) >= CHUNK:
                stored += _answers_store(batch, answers)
                answers = []
        stored += _answers_store(batch, answers)
        failed = sum(1 for line in errors if line.strip())
        EconomyItem.objects.filter(batch=batch, state=State.SUBMITTED).update(state=State.RETURNED)
        EconomyBatch.objects.filter(pk=batch.pk).update(finished_at=timezone.now())
        items = EconomyItem.objects.filter(batch=batch).order_by("execution_id")
        # Returned items run as ordinary calls: their wake-ups are published on commit.
        executions_resume(
            execution_ids=list(
                items.filter(state=State.RETURNED).values_list("execution_id", flat=True)
            )
        )
        # Answered ones are due now, marked sent: right after the commit they are
        # handed out in chunks to the workers and this process (answers_complete);
        # should it die first, the sweeper re-sends them after
        # WORKFLOWS_RESEND_AFTER_SECONDS and workers complete them the same way.
        answered = ledger.executions_resume(
            execution_ids=list(
                items.filter(state=State.DONE).values_list("execution_id", flat=True)
            )
        )
    logger.info(
        "economy batch %s applied: %s answers, %s failed requests", batch.pk, stored, failed
    )
    answers_complete(answered)
    return stored


def answers_complete(execution_ids: list[int]) -> dict[str, int]:
    """Complete answered steps on both sides of the machine: the ids are cut into chunks
    of APPLY_CHUNK, every chunk is published (last first) as an `ANSWERS_TASK` message
    for the `default` workers, and this process completes the chunks in order from the
    first, so the two meet in the middle. Each chunk runs in the ledger's batches
    (runner.executions_run: a claim and a completion transaction — outputs, usage rows
    at the batch rate, next steps — per WORKFLOWS_BATCH_SIZE steps); the claim makes a
    chunk run by both sides, or delivered twice, complete each step once. Past
    OPENAI_ECONOMY_APPLY_SECONDS (or when its worker stops) this process stops and
    leaves the rest to the messages. Returns {what happened here: how many}."""
    done: dict[str, int] = {}
    chunks = [
        execution_ids[start : start + APPLY_CHUNK]
        for start in range(0, len(execution_ids), APPLY_CHUNK)
    ]
    _chunks_publish(chunks[::-1])
    deadline = time.monotonic() + float(
        tunable("OPENAI_ECONOMY_APPLY_SECONDS", DEFAULT_APPLY_SECONDS)
    )
    for chunk in chunks:
        if time.monotonic() >= deadline or heartbeat.stopping():
            break
        for result in answers_chunk_complete(chunk).values():
            done[result] = done.get(result, 0) + 1
    return done


def answers_chunk_complete(execution_ids: list[int]) -> dict[int, str]:
    """One chunk of answered steps completed (what `ANSWERS_TASK` runs): those another
    process claimed or completed already are "not claimed"."""
    return runner.executions_run(execution_ids=execution_ids, inline=False)


def _chunks_publish(chunks: list[list[int]]) -> None:
    """One `ANSWERS_TASK` message per chunk, over one broker connection. A message that
    cannot be published is only logged: this process completes its chunk, or the
    sweeper re-sends its rows after WORKFLOWS_RESEND_AFTER_SECONDS."""
    from config.celery import app

    try:
        with app.producer_or_acquire() as producer:
            for chunk in chunks:
                app.send_task(ANSWERS_TASK, args=[chunk], queue=ANSWERS_QUEUE, producer=producer)
    except Exception:  # noqa: BLE001 - any broker trouble: the ledger still has the rows
        logger.warning("economy answers not handed to the workers", exc_info=True)


def _answer_line(line: str) -> tuple[int, str] | None:
    """An output line's answer (status 200 only; anything else is returned)."""
    try:
        data: Any = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    execution_id = _execution_of(data.get("custom_id"))
    response = data.get("response")
    if execution_id is None or not isinstance(response, dict):
        return None
    if response.get("status_code") != 200 or not isinstance(response.get("body"), dict):
        return None
    body = json.dumps(response["body"], separators=(",", ":"), ensure_ascii=False)
    return execution_id, body


def _answers_store(batch: EconomyBatch, answers: list[tuple[int, str]]) -> int:
    """The answers on their items (still SUBMITTED in this batch), one UPDATE each sent
    together (executemany); returns the items updated."""
    if not answers:
        return 0
    table = db.ops.quote_name(EconomyItem._meta.db_table)
    sql = (
        f"UPDATE {table} SET result = %s, state = %s "
        "WHERE execution_id = %s AND batch_id = %s AND state = %s"
    )
    params = [
        (result, State.DONE.value, execution_id, batch.pk, State.SUBMITTED.value)
        for execution_id, result in answers
    ]
    with db.cursor() as cursor:
        cursor.executemany(sql, params)
        return max(cursor.rowcount, 0)
