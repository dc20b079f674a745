"""The execution ledger's state changes: every write of an `ActionExecution` row's status
is here, and nowhere else. The runner (runner.py) and the sweeper (sweeper.py) call
these; tests drive the same functions.

Invariants (docs/engine.md):
1. The row is the truth; a Celery message only says "look at row N". Losing a message
   costs time (the sweeper re-sends due rows), never work.
2. Every change is a conditional UPDATE on (id, status, attempt): `pending` → `running`
   (a claim: attempt + 1, a lease), then from that claim only → `succeeded`, `pending`
   (retry, postponed) or `failed`. A worker that lost its lease (the sweeper gave the
   row back, another worker claimed it) matches nothing, so it can never overwrite
   the new owner's result, and its completion transaction rolls back whole.
3. A step succeeds, its side effect is written and its next step is inserted in one
   transaction (runner.py): all or none. Side effects are keyed by the execution
   (`exec:<id>`), so a second completion of the same execution collides and rolls back.
4. An attempt is counted when claimed; a postponement (no rate-limit permit: no call
   was made) or a hand-back (a stopping worker) gives it back. Transient errors are
   retried until the step's deadline (`retry_until`: first attempt +
   WORKFLOWS_RETRY_DEADLINE_SECONDS); unexpected errors after WORKFLOWS_MAX_ATTEMPTS.
5. A live worker renews its leases (heartbeat.py, `leases_renew`: this attempt's rows
   only). A `running` row whose lease expired (its worker died, was paused or cut off)
   goes back to `pending` (`leases_recover`). Poison-step guard: a worker's death is
   charged only to a step it held ALONE (`alone`: claimed as a batch of one), in
   `deaths`; after WORKFLOWS_MAX_WORKER_DEATHS it fails. A row whose worker died
   holding a batch is charged nothing but marked `alone`: it is claimed alone next
   time (a batch claim skips it), so a later death is its own. An attempt that ends
   any other way (retry, postponement, hand-back, wait) clears the mark: the step ran
   and its worker lived.
6. A step may wait (`Wait(until)`: a person's decision): `running` → `waiting`, its
   attempt given back, no lease, `due_at` = its time-out; no worker and no message
   are about it while it waits. It comes back to `pending` (due now) once only:
   resumed (`execution_resume`, a conditional UPDATE from `waiting`) or timed out
   (`waits_expire`, the sweeper); the step then runs again and reads the decision.
   A resume that arrives while the step is still `running` (between its outside
   write and `execution_wait`) moves `due_at` past `started_at`, and
   `execution_wait` then makes the row `pending` instead of `waiting`: no resume is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, JSONField, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.notifications import Message, super_admins_notify
from workflows import registry
from workflows.conf import setting
from workflows.engine import heartbeat
from workflows.models import ActionExecution, Enrollment, Workflow
from workflows.outcomes import Failure, HandBack, Retry, Wait
from workflows.signals import execution_finished, executions_finished

Status = ActionExecution.Status
TABLE = ActionExecution._meta.db_table
logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """A row of the batch is no longer this attempt's claim: roll the batch back."""


# --- Claims ----------------------------------------------------------------------


def _claim_sql(where: str, *, alone: bool = False) -> str:
    """A batch claim takes only rows not marked `alone` (`alone = FALSE` in `where`);
    a claim of one row takes it whatever its mark, and marks it `alone` when this
    process holds nothing else (its worker's death will be its own). The rows' `owner`
    is this process's heartbeat connection (NULL until its first beat sets it)."""
    owner = heartbeat.owner_pid()
    return (
        f"UPDATE {TABLE} SET status = %s, attempt = attempt + 1, lease_expires_at = %s, "
        f"started_at = %s, finished_at = NULL, owner = {int(owner) if owner else 'NULL'}, "
        f"alone = {'TRUE' if alone else 'FALSE'} "
        f"WHERE {where} RETURNING id, attempt"
    )


_held_alone: set[int] = set()  # rows this process claimed alone (and may still hold)


def isolating() -> bool:
    """Whether this process can hold a step alone: a prefork pool process or a solo
    worker runs one task at a time, in its main thread. A threads pool (the assistant
    worker) runs many at once in one process, whose death is then nobody's in
    particular: there a row marked `alone` is claimed with the others, as a solo run
    would cost a whole thread per call and tell nothing."""
    return threading.current_thread() is threading.main_thread()


def _claimed(cursor: Any, *, alone: bool = False) -> list[int]:
    """The ids a claim returned; their leases are this process's to renew from now.
    A process running several claims at once (a threads pool) holds nothing alone: if
    it holds other rows now, any row it marked `alone` loses the mark (a death now
    would be nobody's in particular)."""
    rows = [(row[0], row[1]) for row in cursor.fetchall()]
    heartbeat.hold(rows)
    ids = [pk for pk, _attempt in rows]
    if alone:
        _held_alone.update(ids)
    held = set(heartbeat.held())
    _held_alone.intersection_update(held)
    if _held_alone and len(held) > 1:
        shared = sorted(_held_alone)
        _held_alone.clear()
        ActionExecution.objects.filter(pk__in=shared, status=Status.RUNNING).update(alone=False)
    return ids


def executions_claim_many(*, execution_ids: list[int], alone: bool | None = None) -> list[int]:
    """Claim every due `pending` row among `execution_ids` with ONE conditional UPDATE
    (pending and due); returns the ids claimed. `alone` (default: one id given) claims
    one row as a batch of one; otherwise rows marked `alone` (their last worker died
    holding a batch) are left for a claim of their own (`executions_isolated`)."""
    if not execution_ids:
        return []
    if alone is None:
        alone = len(execution_ids) == 1
    if alone and len(execution_ids) != 1:
        raise ValueError("a claim alone takes one execution")
    isolated = "" if alone or not isolating() else " AND alone = FALSE"
    mark = alone and not heartbeat.held()
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    lease = now + dt.timedelta(seconds=setting("WORKFLOWS_LEASE_SECONDS"))
    marks = ", ".join(["%s"] * len(execution_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(f"id IN ({marks}) AND status = %s AND due_at <= %s{isolated}", alone=mark),
            [
                Status.RUNNING.value,
                adapt(lease),
                adapt(now),
                *execution_ids,
                Status.PENDING.value,
                adapt(now),
            ],
        )
        return _claimed(cursor, alone=mark)


def executions_isolated(execution_ids: list[int]) -> list[int]:
    """Those of `execution_ids` that are due, `pending` and marked `alone`: a batch
    claim left them, each is claimed on its own."""
    if not execution_ids:
        return []
    return list(
        ActionExecution.objects.due()
        .filter(pk__in=execution_ids, alone=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def execution_mark_alone(execution_id: int) -> None:
    """A row claimed for a batch that turned out to hold only it: if this process holds
    nothing else, its worker's death is its own."""
    if set(heartbeat.held()) == {execution_id}:
        ActionExecution.objects.filter(pk=execution_id, status=Status.RUNNING).update(alone=True)
        _held_alone.add(execution_id)


STEAL_SCAN = 4  # executions_claim_due: due rows looked at per row to claim


def executions_claim_due(*, queue: str, limit: int, published_too: bool = False) -> list[int]:
    """Claim up to `limit` due `pending` rows of batchable action types on `queue` that
    no message is about to bring (never sent, or sent longer than
    WORKFLOWS_STEAL_AFTER_SECONDS ago: lost, or waiting behind a backlog of messages),
    or any due row with `published_too`. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
    concurrent workers take different rows, each still `pending` once locked; elsewhere
    the outer condition re-checks `pending`. A message that finds its rows taken does
    nothing. Where this process can hold a step alone (`isolating`), rows marked `alone`
    are not taken here: their messages bring them, each claimed on its own."""
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
    isolated = " AND alone = FALSE" if isolating() else ""
    due = (
        f"SELECT id, last_sent_at FROM {TABLE} WHERE status = %s AND due_at <= %s "
        f"AND queue = %s AND action_type IN ({marks}){isolated} ORDER BY due_at LIMIT %s{lock}"
    )
    # Without `published_too`, only the first rows due are looked at (STEAL_SCAN times
    # the limit): rows a message brings in a moment fill the front of a busy queue, and
    # filtering them out over the whole backlog read every pending row on each claim
    # (webhooks). They are stolen once stale, after which what follows is reached. The
    # rows are picked once (a materialized CTE), whatever plan runs the UPDATE: an
    # `id IN (… LIMIT …)` subquery may run again per row and claim more than `limit`.
    # PostgreSQL updates them by primary key (`= ANY(ARRAY(…))`, an InitPlan run once),
    # with no second `status = 'pending'`: the rows are locked by this statement's FOR
    # UPDATE, which skipped any no longer pending. That condition matches the partial
    # index `execution_pending_due`, and with statistics taken before a burst of due
    # rows the planner walked every pending row to find the picked ones (an approval's
    # 2,000 steps ran a third slower: benchmarks/approvals.py). Elsewhere (no row locks)
    # the UPDATE re-checks `pending`.
    if connection.vendor == "postgresql":
        by_id, recheck = "id = ANY(ARRAY(SELECT id FROM picked))", []
    else:
        by_id, recheck = "id IN (SELECT id FROM picked) AND status = %s", [Status.PENDING.value]
    unsent = "" if published_too else "WHERE last_sent_at IS NULL OR last_sent_at < %s "
    sql = (
        f"WITH picked AS MATERIALIZED (SELECT id FROM ({due}) AS ahead {unsent}LIMIT %s) "
    ) + _claim_sql(by_id)
    params = [
        Status.PENDING.value,
        adapt(now),
        queue,
        *keys,
        int(limit) * (1 if published_too else STEAL_SCAN),
        *([] if published_too else [adapt(stale)]),
        int(limit),
        Status.RUNNING.value,
        adapt(lease),
        adapt(now),
        *recheck,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _claimed(cursor)


def statistics_refresh(inserted: int) -> None:
    """PostgreSQL, after a bulk insert of `inserted` pending rows (turning a workflow
    on, an import) of at least a fan-out window (WORKFLOWS_FANOUT_WINDOW, 20,000):
    ANALYZE the ledger table. The batch claim (`executions_claim_due`)
    must read `execution_pending_due` in `due_at` order and stop after its LIMIT; with
    statistics taken before the insert (autoanalyze waits for 10 % of a big table to
    change), the planner expects a handful of due rows and sorts every pending row on
    each claim instead: 0.3 s per claim of a 50k backlog, growing with it (measured:
    benchmarks/engine.py, 789 actions/s with a 1M backlog). Sampling costs a fraction
    of a second once per bulk insert. A database user that may not ANALYZE (not the
    table's owner) leaves it to autovacuum."""
    if connection.vendor != "postgresql" or inserted < setting("WORKFLOWS_FANOUT_WINDOW"):
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {TABLE}")
    except DatabaseError:
        logger.warning("could not ANALYZE %s after a bulk insert", TABLE, exc_info=True)


def leases_renew(claims: dict[int, int]) -> set[int]:
    """Push back the leases of {execution id: attempt} this worker holds: one conditional
    UPDATE per attempt number (`running` and that attempt), so a row taken back or
    claimed by another worker is never renewed. Returns the ids renewed."""
    if not claims:
        return set()
    adapt = connection.ops.adapt_datetimefield_value
    lease = timezone.now() + dt.timedelta(seconds=setting("WORKFLOWS_LEASE_SECONDS"))
    by_attempt: dict[int, list[int]] = {}
    for pk, attempt in claims.items():
        by_attempt.setdefault(attempt, []).append(pk)
    kept: set[int] = set()
    # The beating connection's backend is the worker's sign of life (leases_recover).
    owner = ", owner = pg_backend_pid()" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        for attempt, ids in by_attempt.items():
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(
                f"UPDATE {TABLE} SET lease_expires_at = %s{owner} WHERE id IN ({marks}) "
                f"AND status = %s AND attempt = %s RETURNING id",
                [adapt(lease), *ids, Status.RUNNING.value, attempt],
            )
            kept.update(row[0] for row in cursor.fetchall())
    return kept


def call_refs_record(refs: list[tuple[int, int, str]]) -> set[int]:
    """Commit the identity of outside calls their steps have started, before their
    answers are awaited: [(execution id, attempt, ref)] → `call_ref`, only while that
    attempt still holds the row (`running`, same attempt). One statement, autocommitted
    (no transaction of the caller's may hold it back). Returns the ids recorded: an
    attempt taking over after a worker death reads `ExecutionContext.call_ref` and
    resumes that call instead of paying for a new one."""
    if not refs:
        return set()
    cases = " ".join(["WHEN %s THEN %s"] * len(refs))
    matches = " OR ".join(["(id = %s AND attempt = %s)"] * len(refs))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET call_ref = CASE id {cases} ELSE call_ref END "
            f"WHERE status = %s AND ({matches}) RETURNING id",
            [
                *(value for pk, _attempt, ref in refs for value in (pk, ref[:200])),
                Status.RUNNING.value,
                *(value for pk, attempt, _ref in refs for value in (pk, attempt)),
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def mine(execution: ActionExecution) -> QuerySet[ActionExecution]:
    """The row, only while it is still this attempt's claim."""
    return ActionExecution.objects.filter(
        pk=execution.pk, status=Status.RUNNING, attempt=execution.attempt
    )


# --- Completion ------------------------------------------------------------------


def _json(field_name: str, value: Any) -> Any:
    field = ActionExecution._meta.get_field(field_name)
    if not isinstance(field, JSONField):
        raise TypeError(f"ActionExecution.{field_name} is not a JSON field")
    return field.get_db_prep_save(value, connection)


def executions_mark_succeeded(
    rows: list[tuple[ActionExecution, dict[str, Any], dict[str, Any]]],
    now: dt.datetime,
) -> None:
    """(execution, outputs, inputs) → `succeeded`, inside the completion transaction;
    raises LeaseLost (rolling the batch back) unless each row is still this attempt's
    claim. PostgreSQL: ONE conditional UPDATE for the batch, joined to the rows'
    (id, attempt, outputs, inputs) sent as one JSON array — a statement per row cost a
    third of the worker's time in the completion of a batch of Create task, and a VALUES
    list's 1,200 quoted parameters a tenth (docs/engine.md, "Batches"); SQLite
    (in-process, no round trips): one conditional UPDATE per row."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql" and len(rows) > 1:
        encoder = ActionExecution._meta.get_field("outputs").encoder
        values = json.dumps(
            [
                {"id": e.pk, "attempt": e.attempt, "outputs": outputs, "inputs": inputs}
                for e, outputs, inputs in rows
            ],
            cls=encoder,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} AS e SET status = %s, outputs = v.outputs, inputs = v.inputs, "
                f"error = '', finished_at = %s, lease_expires_at = NULL "
                f"FROM jsonb_to_recordset(%s::jsonb) "
                f"AS v (id bigint, attempt integer, outputs jsonb, inputs jsonb) "
                f"WHERE e.id = v.id AND e.status = %s AND e.attempt = v.attempt",
                [Status.SUCCEEDED.value, stamp, values, Status.RUNNING.value],
            )
            if cursor.rowcount != len(rows):
                raise LeaseLost
        return
    params = [
        (
            Status.SUCCEEDED.value,
            _json("outputs", outputs),
            _json("inputs", inputs),
            stamp,
            execution.pk,
            Status.RUNNING.value,
            execution.attempt,
        )
        for execution, outputs, inputs in rows
    ]
    sql = (
        f"UPDATE {TABLE} SET status = %s, outputs = %s, inputs = %s, "
        f"error = '', finished_at = %s, lease_expires_at = NULL "
        f"WHERE id = %s AND status = %s AND attempt = %s"
    )
    with connection.cursor() as cursor:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)
        if cursor.rowcount != len(params):
            raise LeaseLost


def finished_announce(finished: list[tuple[ActionExecution, bool]]) -> None:
    """workflows.signals for executions that finished (and whether their enrollment
    did), inside the transaction that finished them."""
    for execution, enrollment_finished in finished:
        execution_finished.send(
            ActionExecution, execution=execution, enrollment_finished=enrollment_finished
        )
    executions_finished.send(ActionExecution, executions=finished)


def execution_cancel(execution: ActionExecution) -> str:
    """A claimed row whose enrollment is no longer active (unenrolled, failed)."""
    mine(execution).update(
        status=Status.CANCELLED, finished_at=timezone.now(), lease_expires_at=None
    )
    return "cancelled"


# --- Other outcomes ---------------------------------------------------------------


def execution_settle(execution: ActionExecution, outcome: Retry | Failure | Wait | HandBack) -> str:
    """What an outcome other than success makes of a claimed execution."""
    if isinstance(outcome, Wait):
        return execution_wait(execution=execution, until=outcome.until)
    if isinstance(outcome, Failure):
        return execution_fail(execution=execution, message=outcome.message)
    if isinstance(outcome, HandBack):
        return execution_hand_back(execution=execution)
    if not outcome.counts_attempt and outcome.kind == Retry.BUSY:
        delay = busy_delay(_busy_waits(execution), outcome.after)
        at = timezone.now() + dt.timedelta(seconds=delay)
        return execution_postpone(execution=execution, at=at, kind="busy")
    if not outcome.counts_attempt and outcome.at is not None:
        return execution_postpone(execution=execution, at=outcome.at)
    return execution_retry(
        execution=execution, message=outcome.message, retry_after=outcome.after, kind=outcome.kind
    )


def backoff_seconds(attempt: int) -> float:
    base = setting("WORKFLOWS_BACKOFF_SECONDS") * 2.0 ** max(attempt - 1, 0)
    # Full jitter on half the delay spreads retries of a burst of failures.
    return min(base, setting("WORKFLOWS_BACKOFF_MAX_SECONDS")) * random.uniform(0.5, 1.0)


def busy_delay(waits: int, first: float | None) -> float:
    """The wait of a step postponed for the `waits`+1-th time in a row because
    something shared is busy (Retry.BUSY): `first` seconds doubling each time, capped
    at WORKFLOWS_BUSY_MAX_SECONDS, with full jitter on half of it so thousands of
    waiting steps spread out instead of asking together."""
    base = max(first or 1.0, 0.1) * 2.0 ** min(waits, 30)
    return min(base, setting("WORKFLOWS_BUSY_MAX_SECONDS")) * random.uniform(0.5, 1.0)


def _busy_waits(execution: ActionExecution) -> int:
    """Consecutive busy waits of the step's current attempt (this replay): the folded
    `times` of its last history entry when that entry is one."""
    attempts = execution.attempts or []
    last = attempts[-1] if attempts and isinstance(attempts[-1], dict) else {}
    if (
        last.get("kind") == "busy"
        and last.get("n") == execution.attempt
        and last.get("replay") == (execution.replays or None)
    ):
        return int(last.get("times", 1))
    return 0


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Retry-After when the service said how long (plus up to 20 % jitter, so a burst of
    429s does not come back at the same instant), else the exponential backoff."""
    if retry_after is not None:
        return max(retry_after, 0) * random.uniform(1.0, 1.2)
    return backoff_seconds(attempt)


def execution_retry(
    *,
    execution: ActionExecution,
    message: str,
    retry_after: float | None = None,
    kind: str = Retry.TRANSIENT,
) -> str:
    """Pending again after a delay, or failed: an unexpected error after
    WORKFLOWS_MAX_ATTEMPTS attempts, a transient one once the next try would fall past
    the step's deadline (`retry_until`, set at its first retry)."""
    now = timezone.now()
    if kind == Retry.UNEXPECTED and execution.attempt >= setting("WORKFLOWS_MAX_ATTEMPTS"):
        return execution_fail(
            execution=execution,
            message=_("Gave up after %(n)d attempts. Last error: %(error)s")
            % {"n": execution.attempt, "error": message},
        )
    until = execution.retry_until or (execution.started_at or now) + dt.timedelta(
        seconds=setting("WORKFLOWS_RETRY_DEADLINE_SECONDS")
    )
    delay = retry_delay(_backoffs(execution) + 1, retry_after)
    due = now + dt.timedelta(seconds=delay)
    if due > until:
        return execution_fail(
            execution=execution,
            message=_("Gave up after retrying for %(time)s (%(n)d attempts). Last error: %(error)s")
            % {
                "time": _duration(until - (execution.started_at or now)),
                "n": execution.attempt,
                "error": message,
            },
        )
    mine(execution).update(
        status=Status.PENDING,
        alone=False,
        error=message,
        lease_expires_at=None,
        last_sent_at=None,
        due_at=due,
        retry_until=until,
        inputs=execution.inputs,
        attempts=attempt_record(
            execution, "rate_limit" if kind == Retry.RATE_LIMIT else "retry", message, delay
        ),
    )
    return "retry"


def _backoffs(execution: ActionExecution) -> int:
    """Retries of this step (this replay) that backed off: the exponent of the next
    backoff. Not the attempt number, which also counts rate-limit waits (each with its
    own Retry-After) and worker deaths: a step rate-limited six times, then answered
    with a 500, waits 10 s, not 10 min."""
    return sum(
        1
        for entry in execution.attempts or []
        if entry.get("kind") == "retry" and entry.get("replay", 0) == execution.replays
    )


def _duration(delta: dt.timedelta) -> str:
    seconds = max(delta.total_seconds(), 0)
    if seconds >= 3600:
        return _("%(n).1f h") % {"n": seconds / 3600}
    if seconds >= 60:
        return _("%(n).0f min") % {"n": seconds / 60}
    return _("%(n).0f s") % {"n": seconds}


def execution_hand_back(*, execution: ActionExecution) -> str:
    """A stopping worker gives a claimed row back: pending now, the attempt not counted
    (its call, if one left, may still be answered and paid: at least once)."""
    mine(execution).update(
        status=Status.PENDING,
        alone=False,
        attempt=F("attempt") - 1,
        lease_expires_at=None,
        last_sent_at=None,
        due_at=timezone.now(),
        attempts=attempt_record(execution, "handed_back", ""),
    )
    return "handed back"


def execution_postpone(
    *, execution: ActionExecution, at: dt.datetime, kind: str = "rate_limited"
) -> str:
    """No permit yet (`rate_limited`), or something shared is busy (`busy`): pending
    again at `at`, and this attempt does not count."""
    mine(execution).update(
        status=Status.PENDING,
        alone=False,
        attempt=F("attempt") - 1,
        lease_expires_at=None,
        last_sent_at=None,
        due_at=at,
        attempts=attempt_record(execution, kind, "", max((at - timezone.now()).total_seconds(), 0)),
    )
    return "postponed"


def execution_wait(*, execution: ActionExecution, until: dt.datetime) -> str:
    """`running` → `waiting` until `until` (its attempt given back), or straight back to
    `pending` if it was resumed while running (invariant 6)."""
    resumed = Q(due_at__gt=F("started_at"))
    mine(execution).update(
        status=Case(When(resumed, then=Value(Status.PENDING)), default=Value(Status.WAITING)),
        due_at=Case(When(resumed, then=F("due_at")), default=Value(until)),
        alone=False,
        attempt=F("attempt") - 1,
        lease_expires_at=None,
        last_sent_at=None,
        inputs=execution.inputs,
    )
    return "waiting"


def executions_resume(*, execution_ids: list[int]) -> list[int]:
    """Waiting executions are due now (their wait is over: someone decided); returns
    the ids that were waiting. A row still `running` is nudged, so that
    `execution_wait` sends it back to `pending` (invariant 6). Anything else (already
    resumed, timed out, cancelled) is left as it is."""
    if not execution_ids:
        return []
    now = timezone.now()
    resumed: list[int] = []
    for start in range(0, len(execution_ids), 500):
        chunk = execution_ids[start : start + 500]
        waiting = ActionExecution.objects.filter(pk__in=chunk, status=Status.WAITING)
        ids = list(waiting.values_list("pk", flat=True))
        if ids:
            ActionExecution.objects.filter(pk__in=ids, status=Status.WAITING).update(
                status=Status.PENDING, due_at=now, last_sent_at=now
            )
            resumed += ids
        ActionExecution.objects.filter(pk__in=chunk, status=Status.RUNNING).update(due_at=now)
    return resumed


def waits_expire(now: dt.datetime) -> int:
    """Waiting rows past their time-out → `pending`, due now and never published: the
    step runs again and takes its time-out path. The sweeper calls it; it reads only
    the partial index of waiting rows, so 10,000 waits cost nothing until they expire."""
    return ActionExecution.objects.filter(status=Status.WAITING, due_at__lte=now).update(
        status=Status.PENDING, last_sent_at=None
    )


@transaction.atomic
def execution_fail(
    *,
    execution: ActionExecution,
    message: str,
    expected_status: str = Status.RUNNING,
    **also: Any,
) -> str:
    now = timezone.now()
    updated = ActionExecution.objects.filter(
        pk=execution.pk, status=expected_status, attempt=execution.attempt
    ).update(
        **also,
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
    finished_announce([(execution, True)])
    _admins_notify_failure(Workflow.objects.get(pk=execution.workflow_id), message)
    return "failed"


ATTEMPTS_KEPT = 20


def attempt_record(
    execution: ActionExecution, kind: str, error: str, wait_seconds: float | None = None
) -> list[dict[str, Any]]:
    """`execution.attempts` plus this attempt, for the UPDATE that hands the row back.
    Only the claim holder writes the row, so read-modify-write is safe. Consecutive
    rate-limit waits (or busy waits) of one attempt fold into one entry (`times`)."""
    attempts: list[dict[str, Any]] = list(execution.attempts or [])
    entry: dict[str, Any] = {
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
        kind in ("rate_limited", "busy")
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
    kept = attempts[-ATTEMPTS_KEPT:]
    execution.attempts = kept
    return kept


def _admins_notify_failure(workflow: Workflow, message: str) -> None:
    """One notification per super admin, per workflow, per day — not one per failure."""
    super_admins_notify(
        account=workflow.account,
        title=Message(
            gettext_noop("Workflow “%(name)s” has failed actions"), {"name": workflow.name}
        ),
        body=message[:2000],
        url=reverse("history:logs", args=[workflow.pk]) + "?event=failed",
        idempotency_key=f"workflow-failed:{workflow.pk}:{timezone.now().date().isoformat()}",
    )


# --- Lost workers ------------------------------------------------------------------


def dead_owners_expire(now: dt.datetime) -> int:
    """PostgreSQL: end now the leases of `running` rows whose worker process died — the
    backend of its heartbeat connection (`owner`) is gone, which PostgreSQL sees as soon
    as a killed process's socket closes — and that missed two beats (a live worker whose
    connection dropped, e.g. a database restart, beats again on a new one within a
    beat and sets its new pid). A step held by a SIGKILLed worker is back in about two
    heartbeats instead of a lease. A paused (SIGSTOP) or cut-off worker keeps its
    backend: its rows wait for their lease as before. A reused pid only delays the
    recovery to the lease. Returns the rows whose lease it ended."""
    if connection.vendor != "postgresql" or not setting("WORKFLOWS_DEAD_WORKER_CHECK"):
        return 0
    lease = setting("WORKFLOWS_LEASE_SECONDS")
    silent = lease - 2 * heartbeat.interval_seconds()
    if silent <= 0:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET lease_expires_at = %s WHERE status = %s "
            f"AND lease_expires_at >= %s AND lease_expires_at < %s AND owner IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = {TABLE}.owner)",
            [
                adapt(now - dt.timedelta(microseconds=1)),
                Status.RUNNING.value,
                adapt(now),
                adapt(now + dt.timedelta(seconds=silent)),
            ],
        )
        return int(cursor.rowcount)


def leases_recover(now: dt.datetime) -> tuple[int, int]:
    """`running` rows whose lease expired (worker killed, paused or cut off: no beat
    for a lease) → `pending`, due now and never published (so the sweeper or a worker
    claiming due work picks them up). Returns (requeued, given up). The sweeper calls
    it, and so do busy batch workers (runner.py): beat's sweep can wait behind a busy
    queue.

    Poison-step guard (a step that kills its worker every time must not take down every
    worker in turn): a death is charged to a step only when its worker held it alone
    (`alone`); at WORKFLOWS_MAX_WORKER_DEATHS charged deaths the step fails. The rows of
    a batch whose worker died are charged nothing (any of them, or something else,
    may have been the cause) and marked `alone`: each is claimed on its own next time,
    so a step that kills its worker is found out within a batch death and
    WORKFLOWS_MAX_WORKER_DEATHS deaths of its own, and its batch-mates are not blamed."""
    max_deaths = max(int(setting("WORKFLOWS_MAX_WORKER_DEATHS")), 1)
    dead_owners_expire(now)
    expired = ActionExecution.objects.lease_expired(now)
    given_up = 0
    for execution in expired.filter(alone=True, deaths__gte=max_deaths - 1):
        execution.deaths += 1
        given_up += (
            execution_fail(
                execution=execution,
                message=_(
                    "The worker stopped every time this step ran (%(n)d times): the step "
                    "may be too big for a worker (e.g. its memory). Replay it once fixed."
                )
                % {"n": execution.deaths},
                deaths=execution.deaths,
            )
            == "failed"
        )
    back = {
        "status": Status.PENDING,
        "lease_expires_at": None,
        "last_sent_at": None,
        "due_at": now,
        "error": _("The worker running this action stopped; retrying."),
    }
    requeued = expired.filter(alone=True, deaths__lt=max_deaths - 1).update(
        **back, deaths=F("deaths") + 1
    )
    requeued += expired.filter(alone=False).update(**back, alone=True)
    return requeued, given_up
