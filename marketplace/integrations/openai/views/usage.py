"""The OpenAI app's Usage tab: cost per month (chart), per workflow and per execution;
the price table; monthly budgets. Super admins only."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from marketplace.access import connection_for_manager
from marketplace.integrations.openai import pricing, usage
from marketplace.integrations.openai.listing import SLUG
from marketplace.integrations.openai.models import AssistantBudget, BudgetUnit, ModelPrice
from marketplace.integrations.openai.views.assistants import app_tab_context
from marketplace.responses import htmx_redirect
from workflows.models import Workflow

CHART_WIDTH = 560
CHART_HEIGHT = 160


class PriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = ["model", "input", "cached_input", "output"]


class BudgetForm(forms.Form):
    workflow = forms.TypedChoiceField(
        label=gettext_lazy("Applies to"), required=False, coerce=int, empty_value=None
    )
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=BudgetUnit.choices)
    monthly_limit = forms.DecimalField(
        label=gettext_lazy("Monthly limit"),
        min_value=Decimal(0),
        max_digits=16,
        decimal_places=4,
        required=False,
        help_text=gettext_lazy("Empty removes the budget."),
    )

    def __init__(self, *args, workflows, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", _("The whole OpenAI connection"))] + [
            (w.pk, w.name) for w in workflows
        ]


def _chart(months: list[dict]) -> dict:
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
def usage_page(request: HttpRequest) -> HttpResponse:
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
            ModelPrice.objects.update_or_create(
                account=account,
                model=data["model"].strip(),
                defaults={
                    "input": data["input"],
                    "cached_input": data["cached_input"],
                    "output": data["output"],
                    "as_of": timezone.now().date(),
                },
            )
            messages.success(request, _("The price is saved. It applies to calls from now on."))
            return htmx_redirect(request, page_url)
        if "delete_price" in request.POST:
            ModelPrice.objects.filter(
                account=account, pk=request.POST.get("delete_price") or 0
            ).delete()
            return htmx_redirect(request, page_url)
        if "save_budget" in request.POST and budget_form.is_valid() and connection.is_installed:
            data = budget_form.cleaned_data
            workflow = next((w for w in workflows if w.pk == data["workflow"]), None)
            if data["monthly_limit"] is None:
                AssistantBudget.objects.filter(connection=connection, workflow=workflow).delete()
                messages.success(request, _("The budget is removed."))
            else:
                AssistantBudget.objects.update_or_create(
                    connection=connection,
                    workflow=workflow,
                    defaults={
                        "account": account,
                        "unit": data["unit"],
                        "monthly_limit": data["monthly_limit"],
                    },
                )
                messages.success(
                    request, _("The budget is saved. Replay failed runs to resume them.")
                )
            return htmx_redirect(request, page_url)
    months = usage.usage_by_month(account=account)
    budgets = []
    for budget in AssistantBudget.objects.filter(connection=connection).select_related("workflow"):
        spent = (
            usage.spent_this_month(workflow=budget.workflow)
            if budget.workflow_id
            else usage.spent_this_month(connection=connection)
        )
        used = Decimal(spent.tokens) if budget.unit == BudgetUnit.TOKENS else spent.usd
        budgets.append(
            {
                "budget": budget,
                "used": used,
                "percent": min(100, int(used / budget.monthly_limit * 100))
                if budget.monthly_limit
                else 100,
            }
        )
    context = app_tab_context(connection, listing, "usage")
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
            "budgets": budgets,
        }
    )
    return render(request, "marketplace_openai/usage.html", context)
