"""How a batch of Ask OpenAI assistant steps runs (the action type's `execute_many`).

The engine hands over up to `batch_size()` claimed executions, outside any transaction:

1. Every execution's checks first, with what the batch shares read once (prepare.py):
   connection, allowed models, assistants, budgets, prices. What fails a check is a
   `Failure` now, with no call made.
2. The worker's database connection is released: none is held while calls run.
3. Every call starts at once in the process's call threads (`calls_pool()`; they never
   touch the database). Each takes its rate-limit permit right before it leaves and
   runs through its engine within our own deadline (limiter/policy.py decides when it
   waits and where).
4. What finished is yielded in groups — the first call to finish and whatever has
   finished by then (`group_seconds()`, 0 by default: no waiting for more) — and the
   engine completes each group in one transaction at once. An answer OpenAI has billed
   is at risk until that commit (a worker dying in between makes the step call again:
   paid twice), so nothing waits in between; answers arriving while a group commits
   make the next group, so a busy worker still commits many per transaction. A call
   still unfinished long past our deadline is given up (retried).

The tool loop: an answer that asks for CRM tools (a workspace assistant given some) is
not finished. Its calls run here, in the batch's thread (database reads, tools/), and
the call goes back to the call threads with the outputs for its next round — which
takes a permit of its own — until a final answer; the last round its assistant allows
(`max_tool_rounds`) is sent with `tool_choice: "none"`, so it answers. All rounds share
the call's deadline; tokens and cost are summed over them, and the rounds (tool,
arguments, result cut for display, tokens) are kept in the step's `_tool_rounds`
output for the run detail and the Test button. The tools are read-only: a step whose
worker dies mid-loop is run again from its first round with nothing to undo.

`execute_one` is a batch of one (the builder's Test button).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.notifications import Message
from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai import economy, pricing, tools
from marketplace.integrations.openai.errors import QUOTA_MESSAGE, AssistantError, ErrorKind
from marketplace.integrations.openai.limiter import budget, policy
from marketplace.integrations.openai.limiter.budget import BudgetBusy, BudgetLine
from marketplace.integrations.openai.limiter.window import Wait
from marketplace.integrations.openai.metrics import call_record, calls_flush
from marketplace.integrations.openai.notifications import admins_notify
from marketplace.integrations.openai.prepare import (
    BudgetRefused,
    Call,
    Lookups,
    call_prepare,
    input_note,
    workflow_name,
)
from marketplace.integrations.openai.specs import AssistantResult, Usage
from marketplace.integrations.openai.usage import budget_refusal_notify, execution_usage
from marketplace.models import Connection
from marketplace.services import connection_mark_needs_attention
from ops.logs import log_context
from workflows import services
from workflows.conf import tunable
from workflows.context import ExecutionContext
from workflows.engine.heartbeat import grace_seconds as shutdown_grace_seconds
from workflows.engine.heartbeat import stopping as worker_stopping
from workflows.outcomes import (
    Failure,
    HandBack,
    Outcome,
    PermanentError,
    Retry,
    Success,
    TransientError,
    outcome_of,
)
from workflows.outcomes import Wait as WaitOutcome

logger = logging.getLogger(__name__)

# Our own deadline on one call (a run polls within it). Below the Celery soft time
# limit (150 s). Setting or environment OPENAI_ASSISTANT_DEADLINE_SECONDS.
DEFAULT_DEADLINE_SECONDS = 120.0
# Executions one batch runs at once (OPENAI_BATCH_SIZE), threads for calls per process,
# how long after a batch's first answer the others are awaited before what finished is
# completed (OPENAI_GROUP_SECONDS), and how long past our deadline (and the longest
# permit wait) a call is awaited.
DEFAULT_BATCH_SIZE = 64
MAX_CONCURRENT_CALLS = 1024
DEFAULT_GROUP_SECONDS = 0.0
STUCK_GRACE_SECONDS = 15.0
# How often a batch waiting on its calls checks whether the worker is stopping.
STOP_CHECK_SECONDS = 1.0


def deadline_seconds() -> float:
    return float(tunable("OPENAI_ASSISTANT_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS))


def group_seconds() -> float:
    """How long a batch waits, after an answer, for others to commit with it (setting or
    environment OPENAI_GROUP_SECONDS; default 0: what has finished by then, no wait).
    Each second waited is a second in which a worker's death makes a billed answer
    be paid again."""
    return max(float(tunable("OPENAI_GROUP_SECONDS", DEFAULT_GROUP_SECONDS)), 0.0)


def batch_size() -> int:
    """Executions of this action one batch runs at once (setting or environment
    OPENAI_BATCH_SIZE). A worker thread runs one batch at a time, so an `assistant`
    worker keeps up to its concurrency × this many calls in flight."""
    return max(int(tunable("OPENAI_BATCH_SIZE", DEFAULT_BATCH_SIZE)), 1)


_calls_pool: ThreadPoolExecutor | None = None
_calls_pool_lock = threading.Lock()


def calls_pool() -> ThreadPoolExecutor:
    """The process's threads for OpenAI calls, shared by every batch. They never touch
    the database (only HTTP and the Redis rate limiter); idle ones are reused."""
    global _calls_pool
    with _calls_pool_lock:
        if _calls_pool is None:
            _calls_pool = ThreadPoolExecutor(
                max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="openai-call"
            )
        return _calls_pool


# --- In a call thread (step 3) -------------------------------------------------------


# What a call thread hands back (run.py `_finish` turns it into the step's outcome).
CallOutcome = AssistantResult | AssistantError | Wait | BudgetLine | BudgetBusy


def _call_run(call: Call) -> CallOutcome:
    """The call's estimate reserved against its budgets (or the budget that refuses it),
    a permit (or how long to wait), then the call, then what its answer taught the
    limiter, and its real cost settled. No database access here. Lines logged carry
    the execution's id."""
    with log_context(execution_id=call.context.execution_id, account_id=call.context.account.pk):
        counters = budget.counters()
        reserved = counters.reserve(call.budgets, tokens=call.estimate, usd=call.estimate_usd)
        reservation: budget.Reservation | None = None
        if isinstance(reserved, budget.Reservation):
            reservation = reserved
        elif not call.ref_earlier:
            return reserved
        # (refused for an earlier attempt's call: it is paid for, read it all the same)
        outcome: AssistantResult | AssistantError | Wait | None = None
        try:
            outcome = _call_run_logged(call)
            return outcome
        finally:
            if reservation is None:
                pass
            elif isinstance(outcome, AssistantResult):
                usd = pricing.quote(outcome.model, outcome.usage, call.prices).usd
                if call.economy and usd is not None:  # the Flex tier: the batch rate
                    usd = usd * economy.BATCH_DISCOUNT
                counters.settle(reservation, tokens=outcome.usage.total_tokens, usd=usd)
            else:
                counters.settle(reservation, tokens=0, usd=None)


def _call_run_logged(call: Call) -> AssistantResult | AssistantError | Wait:
    context = call.context
    if call.ref:  # OpenAI took the call on (this attempt or an earlier one): read it
        if call.ends_at is None:
            call.ends_at = time.monotonic() + deadline_seconds()
        started = time.monotonic()
        try:
            resumed = call.engine.resume(
                call.client,
                call.request,
                call.ref,
                deadline=max(call.ends_at - started, 0.05),
                earlier=call.ref_earlier,
            )
        except AssistantError as error:
            call_record(error.kind.value, time.monotonic() - started)
            return error
        if resumed is not None:
            call_record("ok", time.monotonic() - started)
            return resumed
        # Nothing to read (unknown to OpenAI, or an earlier attempt's call that ended
        # without an answer): a new call.
        call.ref, call.ref_earlier = "", False
    permit = policy.permit_take(
        key=call.key,
        model=call.model,
        tokens=call.estimate,
        requests=call.requests,
        waiter=f"exec:{context.execution_id}" if context.execution_id else None,
    )
    if isinstance(permit, Wait):
        return permit
    if call.ends_at is None:  # every round of a tool loop shares one deadline
        call.ends_at = time.monotonic() + deadline_seconds()
    seconds = max(call.ends_at - time.monotonic(), 0.05)
    started = time.monotonic()
    try:
        with policy.sending(policy.limiter(), permit, deadline=time.monotonic() + seconds):
            if call.resumable:
                taken = call.engine.start(call.client, call.request, deadline=seconds)
            else:
                result = call.engine.run(call.client, call.request, deadline=seconds)
    except AssistantError as error:
        call_record(error.kind.value, time.monotonic() - started)
        policy.answer_record(
            permit, key=call.key, model=call.model, headers=error.rate_limit_headers, tokens=0
        )
        return error
    if call.resumable:
        # OpenAI took the call on: its id goes to the database at once (the recorder
        # thread), and this thread reads the answer. Its tokens are not known yet: the
        # estimate stands for them in the limiter.
        if context.execution_id is not None:
            refs_recorder().record(context.execution_id, context.attempt, taken.ref)
        policy.answer_record(
            permit,
            key=call.key,
            model=call.model,
            headers=taken.rate_limit_headers,
            tokens=call.estimate,
        )
        call.requests_made += taken.http_requests
        call.ref, call.ref_earlier = taken.ref, False
        return _call_run_logged(call)
    call_record("ok", time.monotonic() - started)
    policy.answer_record(
        permit,
        key=call.key,
        model=call.model,
        headers=result.rate_limit_headers,
        tokens=result.usage.total_tokens,
    )
    return result


class RefsRecorder:
    """One thread per process commits the ids of the calls OpenAI has taken on, as soon
    as they are known and before their answers are awaited (services.call_refs_record):
    what came in meanwhile goes in one statement. The call threads never touch the
    database, and a batch busy completing a group does not hold the ids back; from the
    commit on, a worker's death costs no second call (the step's next attempt resumes
    it). The database down: the ids are dropped, the calls go on unrecorded (at least
    once, as with `store: false`)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.SimpleQueue[tuple[int, int, str]] = queue.SimpleQueue()
        self.idle = threading.Event()
        self.idle.set()
        threading.Thread(target=self._run, name="openai-call-ids", daemon=True).start()

    def record(self, execution_id: int, attempt: int, ref: str) -> None:
        self.idle.clear()
        self.queue.put((execution_id, attempt, ref))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was recorded so far is committed (tests)."""
        return self.idle.wait(timeout)

    def _run(self) -> None:
        from django.db import connection

        while True:
            refs = [self.queue.get()]
            while True:
                try:
                    refs.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                services.call_refs_record(refs=refs)
            except DatabaseError:
                logger.warning("could not record %d OpenAI call ids", len(refs), exc_info=True)
                connection.close()
            if self.queue.empty():
                self.idle.set()


_recorder: RefsRecorder | None = None
_recorder_lock = threading.Lock()


def refs_recorder() -> RefsRecorder:
    """This process's recorder (a forked pool process starts its own)."""
    global _recorder
    with _recorder_lock:
        if _recorder is None or _recorder.pid != os.getpid():
            _recorder = RefsRecorder()
        return _recorder


# --- The batch (steps 1-4) ----------------------------------------------------------


def batch_run(
    contexts: list[ExecutionContext],
    *,
    divert: Callable[[list[Call]], economy.Diverted] | None = None,
) -> Iterator[list[tuple[int, Outcome | WaitOutcome]]]:
    """A batch: the checks for every execution first (what they share is read once),
    then every call at once in the process's call threads, each taking its rate-limit
    permit right before it leaves; no database connection is held while they run.
    Yields what finished in groups: the first finished call and whatever has finished
    by then, or within `group_seconds()` (the engine completes each group in one
    transaction). `divert` sorts the economy-mode calls (default: workflow steps',
    economy.calls_divert; an evaluation's: evaluation_economy.divert_for)."""
    try:
        yield from _batch_calls(contexts, divert=divert)
    finally:
        calls_flush()  # its calls are counted in the metrics by the time it ends


def _batch_calls(
    contexts: list[ExecutionContext],
    *,
    divert: Callable[[list[Call]], economy.Diverted] | None,
) -> Iterator[list[tuple[int, Outcome | WaitOutcome]]]:
    lookups = Lookups()
    calls: list[Call] = []
    refused: list[tuple[int, Outcome | WaitOutcome]] = []
    for index, context in enumerate(contexts):
        try:
            prepared = call_prepare(index, context, lookups)
        except Exception as error:  # noqa: BLE001 - outcome_of classifies it
            refused.append((index, outcome_of(error)))
            continue
        if isinstance(prepared, Failure):
            refused.append((index, prepared))
        else:
            calls.append(prepared)
    if calls:
        try:
            diverted = (divert or economy.calls_divert)(calls)
        except Exception as error:  # noqa: BLE001 - the database down: retried
            refused += [(call.index, outcome_of(error)) for call in calls]
            calls = []
        else:
            calls = diverted.run_now
            for call in calls:
                _resumable_set(call)
            refused += diverted.waits
            for call, answer in diverted.answered:
                refused.append((call.index, _finish(call, _done(answer))))
            for call, line in diverted.refused:
                refused.append(
                    (call.index, line if isinstance(line, Failure) else _finish(call, _done(line)))
                )
            try:
                economy.answers_settle(diverted.answered)
            except Exception:  # noqa: BLE001 - Redis down: the reservations lapse
                logger.warning("economy reservations not settled", exc_info=True)
    if calls and worker_stopping():  # asked to stop while preparing: no call leaves
        yield [*refused, *((call.index, HandBack()) for call in calls)]
        return
    if calls:
        contexts[0].release_db_connection()  # no connection is held during the calls
    futures = {calls_pool().submit(_call_run, call): call for call in calls}
    if refused:
        yield refused
    pending = set(futures)
    # A call may first wait for its promised slot, then run until our deadline.
    give_up = (
        time.monotonic() + policy.longest_wait_seconds() + deadline_seconds() + STUCK_GRACE_SECONDS
    )
    hand_back_at: float | None = None
    while pending:
        contexts[0].release_db_connection()  # completing the last group reopened it
        if hand_back_at is None and worker_stopping():
            # The worker was asked to stop: what is not answered within the grace period
            # is handed back (pending again at once, for another worker).
            hand_back_at = time.monotonic() + shutdown_grace_seconds()
        limit = give_up if hand_back_at is None else min(give_up, hand_back_at)
        done, pending = wait(
            pending,
            timeout=max(min(limit - time.monotonic(), STOP_CHECK_SECONDS), 0),
            return_when=FIRST_COMPLETED,
        )
        if not done and hand_back_at is not None and time.monotonic() >= hand_back_at:
            yield [(futures[f].index, HandBack()) for f in pending]
            return
        if not done and time.monotonic() >= give_up:
            # Past our own deadline: never wait on a call forever.
            yield [(futures[f].index, Retry(_("The action took too long."))) for f in pending]
            return
        if not done:
            continue
        if pending:
            more, pending = wait(pending, timeout=group_seconds())
            done |= more
        finished: list[tuple[int, Outcome | WaitOutcome]] = []
        for future in done:
            call = futures[future]
            try:
                goes_on = _tool_round(call, future.result()) or _fallback_round(
                    call, future.result()
                )
            except Exception as error:  # noqa: BLE001 - a bug or the database down: retried
                finished.append((call.index, outcome_of(error)))
                continue
            if goes_on:
                next_round = calls_pool().submit(_call_run, call)
                futures[next_round] = call
                pending.add(next_round)
                # Its next permit may be waited for too; the deadline is shared.
                give_up = max(
                    give_up,
                    time.monotonic() + policy.longest_wait_seconds() + STUCK_GRACE_SECONDS,
                )
            else:
                finished.append((call.index, _finish(call, future)))
        if finished:
            yield finished


def _resumable_set(call: Call) -> None:
    """Whether the call is made in two halves, its id committed in between (engines.py
    `start`/`resume`): for a workflow step (not the Test button, not economy mode)
    whose engine can (a Responses call only when the account lets OpenAI keep
    responses: Settings › AI data). A call an earlier attempt recorded is resumed."""
    context = call.context
    call.resumable = (
        context.execution_id is not None
        and not context.is_test
        and not call.economy
        and call.engine.can_resume(
            call.request, store_allowed=bool(getattr(context.account, "ai_openai_store", False))
        )
    )
    if context.call_ref and context.execution_id is not None and not context.is_test:
        call.ref, call.ref_earlier = context.call_ref, True


def _done(outcome: CallOutcome) -> Future[CallOutcome]:
    """An outcome already known (a batch's answer), as `_finish` takes it."""
    future: Future[CallOutcome] = Future()
    future.set_result(outcome)
    return future


def execute_one(context: ExecutionContext) -> dict[str, Any]:
    """One call (the builder's Test button): outputs, or the error it ended with."""
    for group in batch_run([context]):
        for _index, outcome in group:
            if isinstance(outcome, Success):
                return outcome.outputs
            if isinstance(outcome, Failure):
                raise PermanentError(outcome.message)
            if isinstance(outcome, HandBack):
                raise TransientError(_("The worker is stopping; try again."))
            if isinstance(outcome, WaitOutcome):  # pragma: no cover - economy mode only
                raise TransientError(_("The action took too long."))
            raise TransientError(outcome.message, retry_after=outcome.after, kind=outcome.kind)
    raise TransientError(_("The action took too long."))  # pragma: no cover - always one


# --- The tool loop (in the batch's thread) -------------------------------------------


def _tool_round(call: Call, outcome: CallOutcome) -> bool:
    """True when the answer asks for tools and the loop goes on: the round's function
    calls run here (database reads), the round is recorded and the call's next request
    carries every call and output so far."""
    if not isinstance(outcome, AssistantResult) or not outcome.tool_calls:
        return False
    if call.tool_scope is None:
        return False
    request = call.request
    rounds_left = request.assistant.max_tool_rounds - (len(call.rounds) + 1)
    if rounds_left <= 0:
        return False  # _finish says the assistant kept asking
    outputs: list[dict[str, Any]] = []
    shown: list[dict[str, str]] = []
    for item in outcome.tool_calls:
        output = tools.call_run(call.tool_scope, item["name"], item["arguments"])
        outputs.append(
            {"type": "function_call_output", "call_id": item["call_id"], "output": output}
        )
        shown.append(
            {"tool": item["name"], "arguments": item["arguments"], "result": tools.shown(output)}
        )
    call.rounds.append(
        {"round": len(call.rounds) + 1, "calls": shown, "tokens": outcome.usage.total_tokens}
    )
    call.spent.append(outcome.usage)
    call.requests_made += outcome.http_requests
    call.next_round(
        replace(
            request,
            conversation=(*request.conversation, *outcome.tool_calls, *outputs),
            tool_choice="none" if rounds_left <= 1 else request.tool_choice,
        )
    )
    return True


# The fallback model (a step's optional "Fallback model") takes over when the chosen
# model answers 404 (gone, deprecated), after this many attempts ending in server errors
# (setting or environment OPENAI_FALLBACK_AFTER_ATTEMPTS), or on a rate limit asking to
# wait longer than OPENAI_FALLBACK_RATE_LIMIT_SECONDS.
DEFAULT_FALLBACK_AFTER_ATTEMPTS = 3
DEFAULT_FALLBACK_RATE_LIMIT_SECONDS = 30.0


def _fallback_reason(call: Call, outcome: CallOutcome) -> str:
    """Why this answer sends the call to its fallback model ("": it does not)."""
    if not call.fallback or call.fell_back or not isinstance(outcome, AssistantError):
        return ""
    if outcome.kind == ErrorKind.NOT_FOUND:
        return _("the model was not found or is deprecated")
    attempts = int(tunable("OPENAI_FALLBACK_AFTER_ATTEMPTS", DEFAULT_FALLBACK_AFTER_ATTEMPTS))
    if outcome.kind == ErrorKind.SERVER and call.context.attempt >= attempts:
        return _("it kept failing with server errors (%(n)s attempts)") % {
            "n": call.context.attempt
        }
    wait = float(tunable("OPENAI_FALLBACK_RATE_LIMIT_SECONDS", DEFAULT_FALLBACK_RATE_LIMIT_SECONDS))
    if outcome.kind == ErrorKind.RATE_LIMITED and (outcome.retry_after or 0) > wait:
        return _("its rate limit asked to wait %(s).0f s") % {"s": outcome.retry_after}
    return ""


def _fallback_round(call: Call, outcome: CallOutcome) -> bool:
    """True when the call goes on with its fallback model (in the batch's thread): the
    same request on the other model, with a deadline of its own; the run detail says
    so (`fallback_note`)."""
    reason = _fallback_reason(call, outcome)
    if not reason or call.fallback is None:
        return False
    chosen = call.request.model or call.model
    call.fell_back = _("Ran on %(fallback)s instead of %(model)s: %(reason)s.") % {
        "fallback": call.fallback,
        "model": chosen,
        "reason": reason,
    }
    call.request = replace(
        call.request, overrides=replace(call.request.overrides, model=call.fallback)
    )
    if call.economy == "flex" and not economy.flex_offered(call.fallback):
        call.economy = ""  # the fallback has no Flex tier: the default one, full price
        call.request = replace(call.request, service_tier=None)
    call.model = call.fallback
    call.ref, call.ref_earlier = "", False  # a new call, on the other model
    call.estimate_usd = pricing.quote(
        call.fallback, Usage(output_tokens=call.estimate), call.prices
    ).usd
    call.ends_at = None
    return True


def _usage_sum(usages: list[Usage]) -> Usage:
    return Usage(
        input_tokens=sum(u.input_tokens for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
        reasoning_tokens=sum(u.reasoning_tokens for u in usages),
        cached_tokens=sum(u.cached_tokens for u in usages),
    )


# --- What a call's answer makes of its execution (step 4) ----------------------------


def _finish(call: Call, future: Future[CallOutcome]) -> Outcome:
    """Outputs, a retry (not counted when no permit was had) or a failure."""
    context = call.context
    try:
        outcome = future.result()
        if isinstance(outcome, Wait):
            if context.is_test:
                return Retry(
                    _("OpenAI's rate limit is in use by running workflows; try again in %(s).0f s.")
                    % {"s": outcome.seconds + 0.5}
                )
            return Retry(
                "",
                at=timezone.now() + dt.timedelta(seconds=policy.postpone_seconds(outcome)),
                counts_attempt=False,
            )
        if isinstance(outcome, AssistantError):
            return _failure(context, call.connection, outcome)
        if isinstance(outcome, BudgetLine):
            budget_refusal_notify(
                connection=call.connection, notify_key=outcome.notify_key, message=outcome.message
            )
            return BudgetRefused(outcome.message)
        if isinstance(outcome, BudgetBusy):
            return Retry(
                _("Calls in flight hold the rest of the monthly AI budget; try again in a moment.")
                if context.is_test
                else "",
                after=outcome.seconds,  # the first wait; the ledger backs off from it
                at=timezone.now() + dt.timedelta(seconds=outcome.seconds),
                counts_attempt=False,
                kind=Retry.BUSY,
            )
        result = outcome
        if result.tool_calls:
            return Failure(
                _(
                    "The assistant still asked for CRM tools after %(n)s rounds, its limit. "
                    "Raise its maximum rounds or make the prompt more specific."
                )
                % {"n": len(call.rounds) + 1}
            )
        spent = _usage_sum([*call.spent, result.usage])
        price = pricing.quote(result.model, spent, call.prices)
        cost = price.usd
        if call.economy and cost is not None:
            cost = (cost * economy.BATCH_DISCOUNT).quantize(cost)
        context.usage.update(
            execution_usage(
                spent,
                model=result.model,
                engine=call.economy or result.engine,
                connection_id=call.connection.pk,
                cost=cost,
                cost_note=price.reason,
                requests=call.requests_made + result.http_requests,
                assistant_version_id=call.assistant_version_id,
                duration_ms=result.duration_ms,
            )
        )
        outputs: dict[str, Any] = {
            "response": result.text,
            "model": result.model,
            "total_tokens": spent.total_tokens,
        }
        if result.structured:
            outputs.update({k: v for k, v in result.structured.items() if k not in outputs})
        if call.request.input_cut:
            outputs["input_note"] = input_note(call.context.config, call.request.input_cut)
        if call.fell_back:
            outputs["fallback_note"] = call.fell_back
        if call.rounds:
            rounds = [
                *call.rounds,
                {"round": len(call.rounds) + 1, "calls": [], "tokens": result.usage.total_tokens},
            ]
            outputs["_tool_rounds"] = rounds
        return Success(outputs)
    except Exception as error:  # noqa: BLE001 - a bug or Redis down: retried
        return outcome_of(error)


def _failure(context: ExecutionContext, connection: Connection, error: AssistantError) -> Outcome:
    if error.kind == ErrorKind.RATE_LIMITED:
        policy.rate_limited(assistants_mod.connection_key(connection), error.retry_after)
    if error.transient:
        # Retried until the step's deadline (WORKFLOWS_RETRY_DEADLINE_SECONDS), a 429
        # shown as the rate limit it is.
        kind = Retry.RATE_LIMIT if error.kind == ErrorKind.RATE_LIMITED else Retry.TRANSIENT
        return Retry(str(error), after=error.retry_after, kind=kind)
    if error.kind == ErrorKind.QUOTA:
        admins_notify(
            connection=connection,
            key=f"openai-quota:{connection.pk}:{timezone.now():%Y-%m-%d}",
            title=Message(gettext_noop("Your OpenAI account is out of quota")),
            body=str(QUOTA_MESSAGE),
        )
        return Failure(str(QUOTA_MESSAGE))
    if error.kind == ErrorKind.AUTH:
        connection_mark_needs_attention(connection=connection, reason=str(error))
        return Failure(str(error))
    if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST):
        return Failure(
            _("%(error)s (workflow “%(workflow)s”)")
            % {"error": str(error), "workflow": workflow_name(context)}
        )
    return Failure(str(error))
