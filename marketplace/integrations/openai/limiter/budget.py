"""Hard monthly budgets: each call reserves its estimated cost before it leaves, in
Redis, atomically against every budget it falls under (the connection's, its
workflow's), and settles the real cost when it is back.

Per budget and month (`crmflow:openai:budget:{<budget id>}:<YYYY-MM>`): a counter of
what was spent (tokens or micro-USD; seeded from the database's sum of this month's
usage the first time it is used) and the reservations in flight (`…:held`, each
lapsing after HOLD_SECONDS should its call never settle). lua/reserve.lua:

- spent + estimate would pass the limit → refused for good (`BudgetLine`: the step
  fails "Monthly AI budget reached");
- only the reservations in flight stand in the way → `BudgetBusy`: the step goes back
  to pending (no attempt counted; "Waiting for budget" in its history), since those
  calls may cost less than they reserved. It asks again after BUSY_RETRY_SECONDS, then
  twice as long each time in a row, capped at WORKFLOWS_BUSY_MAX_SECONDS and jittered
  (the ledger's `busy_delay`): big economy batches hold a budget for hours, and the
  steps they keep out must not poll it every second meanwhile;
- else reserved.

So however many workers call at once, spend passes a cap by at most the estimate errors
of the calls in flight when it is reached; an estimate is an upper bound when the step
caps its output (max output tokens): characters / 4 of what is sent, priced at the
output rate. The Test button reserves and settles too: it counts against the budgets,
although it stores no usage row.

Economy mode (economy.py) reserves each batch request's estimate at the batch price
when the step joins a batch, held for the batch's whole window (`reserve_many`, one
round trip for many), and settles it once (lua/unreserve_once.lua) with the real cost
when the answer is applied, or with nothing when the request goes back to an ordinary
call (which then reserves its own).
"""

from __future__ import annotations

import math
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marketplace.integrations.openai.limiter import policy
from marketplace.integrations.openai.limiter.window import lua

PREFIX = "crmflow:openai:budget"
# A month and a few days: a counter outlives its month, never into the next one's key.
TTL_SECONDS = 35 * 24 * 3600
# A reservation lapses after this long if its call never settles (a killed worker):
# longer than a call can take (the task time limit is 150 s).
HOLD_SECONDS = 300
# How long a call the reservations in flight stand in the way of first waits before asking
# again (then longer each time: workflows' Retry.BUSY).
BUSY_RETRY_SECONDS = 1.0
MICRO = Decimal(1_000_000)


@dataclass(frozen=True)
class BudgetLine:
    """One budget a call falls under, as the reservation needs it."""

    key: str  # the Redis counter
    tokens: bool  # True: counts tokens; False: micro-USD
    limit: int
    seed: int  # spent this month according to the database
    message: str  # what a refused call fails with
    notify_key: str  # admins are told once per budget, limit and month


@dataclass(frozen=True)
class Reservation:
    lines: tuple[BudgetLine, ...]
    amounts: tuple[int, ...]
    id: str = ""


@dataclass(frozen=True)
class BudgetBusy:
    """Calls in flight hold the rest of `line`: ask again in a moment."""

    line: BudgetLine
    seconds: float = BUSY_RETRY_SECONDS


def counter_key(budget_id: int, month: str) -> str:
    return f"{PREFIX}:{{{budget_id}}}:{month}"


def _keys(lines: tuple[BudgetLine, ...]) -> list[str]:
    return [key for line in lines for key in (line.key, line.key + ":held")]


def usd_units(usd: Decimal | None) -> int:
    """Micro-USD, rounded up (an unpriced call counts 0)."""
    return 0 if usd is None else math.ceil(Decimal(usd) * MICRO)


def _amounts(lines: tuple[BudgetLine, ...], tokens: int, usd: Decimal | None) -> tuple[int, ...]:
    return tuple(tokens if line.tokens else usd_units(usd) for line in lines)


def _answer(
    lines: tuple[BudgetLine, ...], amounts: tuple[int, ...], reservation_id: str, answer: int
) -> Reservation | BudgetLine | BudgetBusy:
    """What reserve.lua's answer means."""
    if answer > 0:
        return lines[answer - 1]
    if answer < 0:
        return BudgetBusy(lines[-answer - 1])
    return Reservation(lines, amounts, reservation_id)


class BudgetCounters:
    """The scripts, registered once on the process's Redis client."""

    def __init__(self, client) -> None:
        self._reserve = client.register_script(lua("reserve"))
        self._unreserve = client.register_script(lua("unreserve"))
        self._unreserve_once = client.register_script(lua("unreserve_once"))
        self._client = client

    def reserve(
        self, lines: tuple[BudgetLine, ...], *, tokens: int, usd: Decimal | None
    ) -> Reservation | BudgetLine | BudgetBusy:
        """The reservation, the budget that refuses the call, or the one whose
        reservations in flight keep it waiting."""
        if not lines:
            return Reservation((), ())
        amounts = _amounts(lines, tokens, usd)
        reservation_id = uuid.uuid4().hex
        args: list[int | str] = [TTL_SECONDS, HOLD_SECONDS * 1000, reservation_id]
        for line, amount in zip(lines, amounts, strict=True):
            args += [line.seed, line.limit, amount]
        answer = int(self._reserve(keys=_keys(lines), args=args))
        return _answer(lines, amounts, reservation_id, answer)

    def reserve_many(
        self,
        asks: list[tuple[tuple[BudgetLine, ...], int, Decimal | None]],
        *,
        hold_seconds: float = HOLD_SECONDS,
    ) -> list[Reservation | BudgetLine | BudgetBusy]:
        """`reserve` for each (lines, tokens, usd), in order, in one round trip (each
        sees the ones before it), held `hold_seconds` unless settled."""
        pipe = self._client.pipeline(transaction=False)
        pending: list[tuple[tuple[BudgetLine, ...], tuple[int, ...], str]] = []
        for lines, tokens, usd in asks:
            amounts = _amounts(lines, tokens, usd)
            reservation_id = uuid.uuid4().hex
            pending.append((lines, amounts, reservation_id))
            if not lines:
                continue
            args: list[int | str] = [TTL_SECONDS, int(hold_seconds * 1000), reservation_id]
            for line, amount in zip(lines, amounts, strict=True):
                args += [line.seed, line.limit, amount]
            self._reserve(keys=_keys(lines), args=args, client=pipe)
        answers = iter(pipe.execute() if len(pipe) else [])
        results: list[Reservation | BudgetLine | BudgetBusy] = []
        for lines, amounts, reservation_id in pending:
            if not lines:
                results.append(Reservation((), ()))
                continue
            results.append(_answer(lines, amounts, reservation_id, int(next(answers))))
        return results

    def settle_many_once(self, settles: list[tuple[Reservation, int, Decimal | None]]) -> None:
        """Settle each (reservation, real tokens, real USD) at most once (a reservation
        no longer held adds nothing), in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for reservation, tokens, usd in settles:
            if not reservation.lines:
                continue
            real = _amounts(reservation.lines, tokens, usd)
            args: list[int | str] = [reservation.id]
            for amount, cost in zip(reservation.amounts, real, strict=True):
                args += [amount, cost]
            self._unreserve_once(keys=_keys(reservation.lines), args=args, client=pipe)
        if len(pipe):
            pipe.execute()

    def settle(self, reservation: Reservation, *, tokens: int, usd: Decimal | None) -> None:
        """Replace the reserved amounts by the real ones (0 and None: nothing was spent)."""
        if not reservation.lines:
            return
        real = _amounts(reservation.lines, tokens, usd)
        args: list[int | str] = [reservation.id]
        for amount, cost in zip(reservation.amounts, real, strict=True):
            args += [amount, cost]
        self._unreserve(keys=_keys(reservation.lines), args=args)


def reservation_dump(reservation: Reservation) -> dict[str, Any]:
    """What settling `reservation` later needs, as JSON (an economy item keeps it)."""
    return {
        "id": reservation.id,
        "keys": [line.key for line in reservation.lines],
        "tokens": [line.tokens for line in reservation.lines],
        "amounts": list(reservation.amounts),
    }


def reservation_load(data: Any) -> Reservation:
    """The reservation `reservation_dump` kept (an empty one from anything else)."""
    if not isinstance(data, dict) or not data.get("id"):
        return Reservation((), ())
    lines = tuple(
        BudgetLine(key=key, tokens=bool(tokens), limit=0, seed=0, message="", notify_key="")
        for key, tokens in zip(data["keys"], data["tokens"], strict=True)
    )
    return Reservation(lines, tuple(int(a) for a in data["amounts"]), str(data["id"]))


_counters: BudgetCounters | None = None
_counters_lock = threading.Lock()


def counters() -> BudgetCounters:
    """The process's counters, on the rate limiter's Redis client."""
    global _counters
    with _counters_lock:
        if _counters is None:
            _counters = BudgetCounters(policy.limiter().redis)
        return _counters
