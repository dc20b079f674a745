"""Usage, cost and budgets of the "Ask OpenAI assistant" action, and which workflows use it.

A succeeded call's usage is stored twice for now, in its completion transaction: as
JSON on the execution (`execution_usage`, what run history shows) and as one
`AssistantUsage` row (`usage_rows_add`, unique per execution). Reads are indexed sums
over those rows. A budget is checked before a call is made; it is a soft cap — calls
already in flight when it is reached still finish (and count). `workflows_using_openai`
is the marketplace's usage provider (registered in apps.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.audit import AuditAction, audit_record
from crm.models import Account
from crm.notifications import Message
from marketplace.integrations.openai import pricing
from marketplace.integrations.openai.assistants import WORKSPACE, selection_parse
from marketplace.integrations.openai.limiter.budget import BudgetLine, counter_key, usd_units
from marketplace.integrations.openai.listing import ACTION_KEY
from marketplace.integrations.openai.models import (
    AssistantBudget,
    AssistantUsage,
    BudgetUnit,
    ModelPrice,
    WorkspaceAssistant,
)
from marketplace.integrations.openai.notifications import admins_notify
from marketplace.integrations.openai.specs import Usage
from marketplace.models import Connection
from marketplace.registry import AppUsage
from workflows.context import ExecutionContext
from workflows.models import Workflow
from workflows.registry import StepUsage

BUDGET_MESSAGE = (
    "Monthly AI budget reached ({scope}: {used} of {limit} {unit} this month). No call "
    "was made. A super admin can raise the budget on the OpenAI app's Usage tab, then "
    "replay the failed runs."
)


# --- Prices ------------------------------------------------------------------------


def prices_seed(*, account: Account) -> None:
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


def prices_for(*, account: Account) -> dict[str, pricing.ModelPrice]:
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


def _spent(queryset: QuerySet[AssistantUsage]) -> Spent:
    sums = queryset.aggregate(t=Sum("total_tokens"), c=Sum("cost_usd"), n=Count("id"))
    return Spent(sums["t"] or 0, sums["c"] or Decimal(0), sums["n"] or 0)


def spent_this_month(
    *, connection: Connection | None = None, workflow: Workflow | None = None
) -> Spent:
    rows = AssistantUsage.objects.filter(created_at__gte=month_start())
    if workflow is not None:
        rows = rows.filter(workflow=workflow)
    else:
        rows = rows.filter(connection=connection)
    return _spent(rows)


def usage_by_month(*, account: Account, months: int = 6) -> list[dict[str, Any]]:
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
    found: dict[dt.date, Mapping[str, Any]] = {r["month"].date().replace(day=1): r for r in rows}
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


def usage_by_workflow(*, account: Account, since: dt.datetime | None = None) -> list[Any]:
    """[{workflow_id, workflow__name, tokens, usd, executions}], the costliest first."""
    rows = AssistantUsage.objects.filter(account=account, created_at__gte=since or month_start())
    return list(
        rows.values("workflow_id", "workflow__name")
        .annotate(tokens=Sum("total_tokens"), usd=Sum("cost_usd"), executions=Count("id"))
        .order_by("-usd", "-tokens")
    )


def recent_usage(*, account: Account, limit: int = 50) -> QuerySet[AssistantUsage]:
    return (
        AssistantUsage.objects.filter(account=account)
        .select_related("workflow")
        .order_by("-created_at", "-id")[:limit]
    )


# --- Budgets -----------------------------------------------------------------------


def _amount(budget: AssistantBudget, spent: Spent) -> Decimal:
    return Decimal(spent.tokens) if budget.unit == BudgetUnit.TOKENS else spent.usd


def _budgets_used(
    connection: Connection, workflow: Workflow | None
) -> list[tuple[AssistantBudget, Decimal, str]]:
    """The budgets a call of `workflow` falls under (the connection's first, then the
    workflow's), each with what was spent this month and its scope's name."""
    which = Q(workflow__isnull=True) | (
        Q(workflow=workflow) if workflow is not None else Q(pk=None)
    )
    budgets = list(
        AssistantBudget.objects.filter(which, connection=connection).order_by(
            F("workflow_id").asc(nulls_first=True)
        )
    )
    rows = []
    for budget in budgets:
        if budget.workflow_id and workflow is not None:  # only its workflow's is read
            spent = spent_this_month(workflow=workflow)
            scope = _("workflow “%(name)s”") % {"name": workflow.name}
        else:
            spent = spent_this_month(connection=connection)
            scope = _("OpenAI connection")
        rows.append((budget, _amount(budget, spent), scope))
    return rows


def _budget_message(budget: AssistantBudget, used: Decimal, scope: str) -> str:
    unit = _("tokens") if budget.unit == BudgetUnit.TOKENS else "USD"
    return BUDGET_MESSAGE.format(
        scope=scope, used=_number(used), limit=_number(budget.monthly_limit), unit=unit
    )


def _budget_notify_key(budget: AssistantBudget) -> str:
    return f"openai-budget:{budget.pk}:{budget.monthly_limit}:{month_start():%Y-%m}"


def budget_reached(*, connection: Connection, workflow: Workflow | None) -> str | None:
    """The message to fail with when a monthly cap of this connection or workflow is
    reached (and the admins are told, once per budget per month); None otherwise."""
    for budget, used, scope in _budgets_used(connection, workflow):
        if used >= budget.monthly_limit:
            message = _budget_message(budget, used, scope)
            budget_refusal_notify(
                connection=connection, notify_key=_budget_notify_key(budget), message=message
            )
            return message
    return None


def budget_refusal_notify(*, connection: Connection, notify_key: str, message: str) -> None:
    admins_notify(
        connection=connection,
        key=notify_key,
        title=Message(gettext_noop("Monthly AI budget reached")),
        body=message,
    )


def budget_lines(*, connection: Connection, workflow: Workflow | None) -> tuple[BudgetLine, ...]:
    """The budgets a call must reserve its estimate against (limiter/budget.py)."""
    month = f"{month_start():%Y-%m}"
    lines = []
    for budget, used, scope in _budgets_used(connection, workflow):
        tokens = budget.unit == BudgetUnit.TOKENS
        lines.append(
            BudgetLine(
                key=counter_key(budget.pk, month),
                tokens=tokens,
                limit=int(budget.monthly_limit) if tokens else usd_units(budget.monthly_limit),
                seed=int(used) if tokens else usd_units(used),
                message=_budget_message(budget, budget.monthly_limit, scope),
                notify_key=_budget_notify_key(budget),
            )
        )
    return tuple(lines)


def _number(value: Decimal) -> str:
    value = Decimal(value)
    return f"{value:,.0f}" if value == value.to_integral() else f"{value:,.2f}"


# --- Prices and budgets: the Usage tab's verbs ------------------------------------------


def price_save(
    *, account: Account, model: str, input: Decimal, cached_input: Decimal, output: Decimal
) -> ModelPrice:
    """Add or change a model's price; dated today, it applies to calls from now on
    (stored costs are not recomputed)."""
    with transaction.atomic():
        price, _created = ModelPrice.objects.update_or_create(
            account=account,
            model=model.strip(),
            defaults={
                "input": input,
                "cached_input": cached_input,
                "output": output,
                "as_of": timezone.now().date(),
            },
        )
        audit_record(
            action=AuditAction.PRICE_CHANGED,
            account=account,
            target=price.model,
            detail={"input": str(input), "cached_input": str(cached_input), "output": str(output)},
        )
    return price


def price_remove(*, account: Account, price_id: int) -> bool:
    """Remove the account's price `price_id`; False when there is none."""
    with transaction.atomic():
        price = ModelPrice.objects.filter(account=account, pk=price_id).first()
        if price is None:
            return False
        price.delete()
        audit_record(
            action=AuditAction.PRICE_CHANGED,
            account=account,
            target=price.model,
            detail={"removed": True},
        )
    return True


def budget_set(
    *,
    connection: Connection,
    workflow: Workflow | None,
    unit: str,
    monthly_limit: Decimal | None,
) -> AssistantBudget | None:
    """The connection's budget (`workflow` None) or a workflow's; no limit removes it."""
    with transaction.atomic():
        audit_record(
            action=AuditAction.BUDGET_CHANGED,
            account=connection.account,
            target=workflow.name if workflow is not None else connection.app,
            detail={
                "unit": unit,
                "monthly_limit": str(monthly_limit) if monthly_limit is not None else None,
            },
        )
        if monthly_limit is None:
            AssistantBudget.objects.filter(connection=connection, workflow=workflow).delete()
            return None
        budget, _created = AssistantBudget.objects.update_or_create(
            connection=connection,
            workflow=workflow,
            defaults={"account": connection.account, "unit": unit, "monthly_limit": monthly_limit},
        )
    return budget


def budgets_progress(*, connection: Connection) -> list[dict[str, Any]]:
    """Each budget of the connection with what is used of it this month (percent)."""
    progress = []
    for budget in AssistantBudget.objects.filter(connection=connection).select_related("workflow"):
        spent = (
            spent_this_month(workflow=budget.workflow)
            if budget.workflow_id
            else spent_this_month(connection=connection)
        )
        used = _amount(budget, spent)
        progress.append(
            {
                "budget": budget,
                "used": used,
                "percent": min(100, int(used / budget.monthly_limit * 100))
                if budget.monthly_limit
                else 100,
            }
        )
    return progress


# --- What a succeeded call stores -------------------------------------------------------


def execution_usage(
    usage: Usage,
    *,
    model: str,
    engine: str,
    connection_id: int,
    cost: Decimal | None,
    cost_note: str,
    requests: int,
    assistant_version_id: int | None = None,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    """What one call spent (`ExecutionContext.usage`): `usage_rows_add` stores it, the
    Test button shows it."""
    return {
        "model": model,
        "engine": engine,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cached_tokens": usage.cached_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": str(cost) if cost is not None else None,
        "cost_note": cost_note,
        "connection_id": connection_id,
        "http_requests": requests,
        "assistant_version_id": assistant_version_id,
        "duration_ms": duration_ms,
    }


def usage_row(context: ExecutionContext, **extra: Any) -> AssistantUsage:
    """The usage row of a call that succeeded in `context` (not saved)."""
    usage = context.usage
    return AssistantUsage(
        account=context.account,
        connection_id=usage.get("connection_id"),
        workflow=context.workflow,
        execution_id=context.execution_id,
        assistant_version_id=usage.get("assistant_version_id"),
        engine=usage.get("engine", ""),
        model=usage.get("model", ""),
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
        reasoning_tokens=usage.get("reasoning_tokens", 0),
        cached_tokens=usage.get("cached_tokens", 0),
        total_tokens=usage.get("total_tokens", 0),
        cost_usd=usage.get("cost_usd"),
        **extra,
    )


def usage_rows_add(contexts: list[ExecutionContext]) -> None:
    """One AssistantUsage row per execution with usage, all in one INSERT, in the
    completion transaction (unique per execution: a second completion of the same one
    fails and rolls back)."""
    AssistantUsage.objects.bulk_create(
        [
            usage_row(context)
            for context in contexts
            if context.execution_id is not None and context.usage
        ]
    )


def step_usages(execution_ids: list[int]) -> dict[int, StepUsage]:
    """What these executions spent, from their usage rows, in one query: the run
    history's source (the ledger keeps no copy)."""
    rows = AssistantUsage.objects.filter(execution_id__in=execution_ids).values(
        "execution_id",
        "model",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
    )
    return {
        row["execution_id"]: StepUsage(
            model=row["model"],
            tokens={
                name: row[name]
                for name in ("input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
            },
            cost=row["cost_usd"],
        )
        for row in rows
    }


# --- The marketplace's usage provider ---------------------------------------------------


def workflows_using_openai(connection: Connection) -> list[AppUsage]:
    """The account's workflows with an Ask OpenAI assistant step and the models they run
    (the uninstall dialog and Model access list them before a change breaks them)."""
    assistant_models = dict(
        WorkspaceAssistant.objects.for_account(connection.account_id).values_list("pk", "model")
    )
    usages = []
    for workflow in Workflow.objects.filter(account_id=connection.account_id).only(
        "id", "name", "graph"
    ):
        steps = [
            s
            for s in (workflow.graph or {}).get("steps", {}).values()
            if s.get("type") == ACTION_KEY
        ]
        if not steps:
            continue
        models = set()
        for step in steps:
            config = step.get("config") or {}
            selection = selection_parse(config.get("assistant"))
            if config.get("model"):
                models.add(config["model"])
            elif selection is not None and selection.kind == WORKSPACE:
                models.add(assistant_models.get(int(selection.ident), ""))
        usages.append(
            AppUsage(
                label=workflow.name,
                url=reverse("workflows:list"),
                models=frozenset(m for m in models if m),
            )
        )
    return usages
