"""Usage, cost and budgets of the "Ask OpenAI assistant" action.

Reads are indexed sums over `AssistantUsage` (one row per succeeded execution). A
budget is checked before a call is made; it is a soft cap — calls already in flight
when it is reached still finish (and count).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.integrations.openai import pricing
from marketplace.integrations.openai.models import (
    AssistantBudget,
    AssistantUsage,
    BudgetUnit,
    ModelPrice,
)
from marketplace.integrations.openai.notifications import admins_notify

BUDGET_MESSAGE = (
    "Monthly AI budget reached ({scope}: {used} of {limit} {unit} this month). No call "
    "was made. A super admin can raise the budget on the OpenAI app's Usage tab, then "
    "replay the failed runs."
)


# --- Prices ------------------------------------------------------------------------


def prices_seed(*, account) -> None:
    """Give the account the default price table (once; admins edit it afterwards)."""
    as_of = dt.date.fromisoformat(pricing.PRICES_AS_OF)
    ModelPrice.objects.bulk_create(
        [
            ModelPrice(
                account=account,
                model=model,
                input=p.input,
                cached_input=p.cached_input,
                output=p.output,
                as_of=as_of,
            )
            for model, p in pricing.DEFAULT_PRICES.items()
        ],
        ignore_conflicts=True,
    )


def prices_for(*, account) -> dict[str, pricing.ModelPrice]:
    rows = list(ModelPrice.objects.filter(account=account))
    if not rows:
        prices_seed(account=account)
        rows = list(ModelPrice.objects.filter(account=account))
    return {r.model: pricing.ModelPrice(r.input, r.cached_input, r.output) for r in rows}


# --- Sums --------------------------------------------------------------------------


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Spent:
    tokens: int
    usd: Decimal
    executions: int


def _spent(queryset) -> Spent:
    sums = queryset.aggregate(t=Sum("total_tokens"), c=Sum("cost_usd"), n=Count("id"))
    return Spent(sums["t"] or 0, sums["c"] or Decimal(0), sums["n"] or 0)


def spent_this_month(*, connection=None, workflow=None) -> Spent:
    rows = AssistantUsage.objects.filter(created_at__gte=month_start())
    if workflow is not None:
        rows = rows.filter(workflow=workflow)
    else:
        rows = rows.filter(connection=connection)
    return _spent(rows)


def usage_by_month(*, account, months: int = 6) -> list[dict]:
    """[{month, tokens, usd, executions}] oldest first, the last `months` months."""
    start = month_start()
    for _i in range(months - 1):
        start = month_start(start - dt.timedelta(days=1))
    rows = (
        AssistantUsage.objects.filter(account=account, created_at__gte=start)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(tokens=Sum("total_tokens"), usd=Sum("cost_usd"), executions=Count("id"))
        .order_by("month")
    )
    found = {r["month"].date().replace(day=1): r for r in rows}
    result = []
    cursor = start.date()
    for _i in range(months):
        row = found.get(cursor, {})
        result.append(
            {
                "month": cursor,
                "tokens": row.get("tokens") or 0,
                "usd": row.get("usd") or Decimal(0),
                "executions": row.get("executions") or 0,
            }
        )
        cursor = (cursor + dt.timedelta(days=32)).replace(day=1)
    return result


def usage_by_workflow(*, account, since: dt.datetime | None = None) -> list[dict]:
    rows = AssistantUsage.objects.filter(account=account, created_at__gte=since or month_start())
    return list(
        rows.values("workflow_id", "workflow__name")
        .annotate(tokens=Sum("total_tokens"), usd=Sum("cost_usd"), executions=Count("id"))
        .order_by("-usd", "-tokens")
    )


def recent_usage(*, account, limit: int = 50):
    return (
        AssistantUsage.objects.filter(account=account)
        .select_related("workflow")
        .order_by("-created_at", "-id")[:limit]
    )


# --- Budgets -----------------------------------------------------------------------


def _amount(budget: AssistantBudget, spent: Spent) -> Decimal:
    return Decimal(spent.tokens) if budget.unit == BudgetUnit.TOKENS else spent.usd


def budget_reached(*, connection, workflow) -> str | None:
    """The message to fail with when a monthly cap of this connection or workflow is
    reached (and the admins are told, once per budget per month); None otherwise."""
    # One query on every call: the connection's budget first, then the workflow's.
    which = Q(workflow__isnull=True) | (
        Q(workflow=workflow) if workflow is not None else Q(pk=None)
    )
    budgets = list(
        AssistantBudget.objects.filter(which, connection=connection).order_by(
            F("workflow_id").asc(nulls_first=True)
        )
    )
    for budget in budgets:
        if budget.workflow_id:
            spent = spent_this_month(workflow=workflow)
            scope = _("workflow “%(name)s”") % {"name": workflow.name}
        else:
            spent = spent_this_month(connection=connection)
            scope = _("OpenAI connection")
        used = _amount(budget, spent)
        if used >= budget.monthly_limit:
            unit = _("tokens") if budget.unit == BudgetUnit.TOKENS else "USD"
            message = BUDGET_MESSAGE.format(
                scope=scope, used=_number(used), limit=_number(budget.monthly_limit), unit=unit
            )
            admins_notify(
                connection=connection,
                key=f"openai-budget:{budget.pk}:{budget.monthly_limit}:{month_start():%Y-%m}",
                title=_("Monthly AI budget reached"),
                body=message,
            )
            return message
    return None


def _number(value: Decimal) -> str:
    value = Decimal(value)
    return f"{value:,.0f}" if value == value.to_integral() else f"{value:,.2f}"
