"""The OpenAI app's Usage tab (super admins): cost per month (chart), per workflow and
per execution; the price table; monthly budgets."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.views.common import parse_id
from marketplace.access import connection_for_manager
from marketplace.integrations.openai import pricing, usage
from marketplace.integrations.openai.forms import BudgetForm, PriceForm
from marketplace.integrations.openai.listing import SLUG
from marketplace.integrations.openai.models import ModelPrice
from marketplace.integrations.openai.views.app_page import AppRequest
from marketplace.responses import htmx_redirect
from marketplace.views import app_page_context
from workflows.models import Workflow

CHART_WIDTH = 560
CHART_HEIGHT = 160


def _chart(months: list[dict[str, Any]]) -> dict[str, Any]:
    """Server-rendered SVG bars (cost per month; tokens when nothing is priced)."""
    by_cost = any(m["usd"] for m in months)
    values = [float(m["usd"] if by_cost else m["tokens"]) for m in months]
    top = max(values) or 1.0
    slot = CHART_WIDTH / max(len(months), 1)
    bars = []
    for i, (month, value) in enumerate(zip(months, values, strict=False)):
        height = round(value / top * (CHART_HEIGHT - 30), 1)
        bars.append(
            {
                "x": round(i * slot + slot * 0.2, 1),
                "width": round(slot * 0.6, 1),
                "y": round(CHART_HEIGHT - 20 - height, 1),
                "height": height,
                "label_x": round(i * slot + slot / 2, 1),
                "month": month["month"],
                "value": f"${value:,.2f}" if by_cost else f"{int(value):,}",
            }
        )
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "by_cost": by_cost,
        "baseline": CHART_HEIGHT - 20,
    }


@require_http_methods(["GET", "POST"])
def usage_page(request: AppRequest) -> HttpResponse:
    """POST `save_price`, `delete_price` (its id) or `save_budget`, then back here."""
    connection, listing = connection_for_manager(request, SLUG)
    account = connection.account
    page_url = reverse("marketplace:openai_usage")
    workflows = list(Workflow.objects.filter(account=account).order_by("name"))
    usage.prices_for(account=account)  # seeds the table on first visit
    price_form = PriceForm(request.POST if "save_price" in request.POST else None)
    budget_form = BudgetForm(
        request.POST if "save_budget" in request.POST else None, workflows=workflows
    )
    if request.method == "POST":
        if "save_price" in request.POST and price_form.is_valid():
            data = price_form.cleaned_data
            usage.price_save(
                account=account,
                model=data["model"],
                input=data["input"],
                cached_input=data["cached_input"],
                output=data["output"],
            )
            messages.success(request, _("The price is saved. It applies to calls from now on."))
            return htmx_redirect(request, page_url)
        if "delete_price" in request.POST:
            price_id = parse_id(request.POST.get("delete_price"))
            if price_id is None or not usage.price_remove(account=account, price_id=price_id):
                messages.error(request, _("This price is already gone: reload the page."))
            return htmx_redirect(request, page_url)
        if "save_budget" in request.POST and budget_form.is_valid() and connection.is_installed:
            data = budget_form.cleaned_data
            budget = usage.budget_set(
                connection=connection,
                workflow=next((w for w in workflows if w.pk == data["workflow"]), None),
                unit=data["unit"],
                monthly_limit=data["monthly_limit"],
            )
            if budget is None:
                messages.success(request, _("The budget is removed."))
            else:
                messages.success(
                    request, _("The budget is saved. Replay failed runs to resume them.")
                )
            return htmx_redirect(request, page_url)
    months = usage.usage_by_month(account=account)
    context = app_page_context(connection, listing, "usage")
    context.update(
        {
            "months": months,
            "chart": _chart(months),
            "this_month": months[-1],
            "by_workflow": usage.usage_by_workflow(account=account),
            "recent": usage.recent_usage(account=account),
            "prices": ModelPrice.objects.filter(account=account),
            "prices_as_of": pricing.PRICES_AS_OF,
            "price_form": price_form,
            "budget_form": budget_form,
            "budgets": usage.budgets_progress(connection=connection),
        }
    )
    return render(request, "marketplace_openai/usage.html", context)
