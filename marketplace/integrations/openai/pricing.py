"""What a call cost, from its token usage and a price table.

DEFAULT_PRICES seeds each account's price table (models.ModelPrice, read into this
module's `ModelPrice` shape by usage.prices_for); admins edit it on the Usage tab. Prices change:
never trust these numbers without checking https://openai.com/api/pricing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from .specs import Usage

_PER_TOKEN = Decimal(1_000_000)


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens (standard tier)."""

    input: Decimal
    cached_input: Decimal
    output: Decimal  # reasoning tokens are billed as output


# Public standard-tier prices from https://openai.com/api/pricing as last verified by the
# author (August 2025, after the GPT-5 launch). Admins can edit them in the app; check
# the page before relying on them.
PRICES_AS_OF = "2025-08-07"
DEFAULT_PRICES: dict[str, ModelPrice] = {
    model: ModelPrice(Decimal(i), Decimal(c), Decimal(o))
    for model, (i, c, o) in {
        "gpt-5": ("1.25", "0.125", "10.00"),
        "gpt-5-mini": ("0.25", "0.025", "2.00"),
        "gpt-5-nano": ("0.05", "0.005", "0.40"),
        "gpt-4.1": ("2.00", "0.50", "8.00"),
        "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
        "gpt-4.1-nano": ("0.10", "0.025", "0.40"),
        "gpt-4o": ("2.50", "1.25", "10.00"),
        "gpt-4o-mini": ("0.15", "0.075", "0.60"),
        "o3": ("2.00", "0.50", "8.00"),
        "o3-mini": ("1.10", "0.55", "4.40"),
        "o4-mini": ("1.10", "0.275", "4.40"),
        "o1": ("15.00", "7.50", "60.00"),
    }.items()
}

# OpenAI answers with a dated snapshot ("gpt-4o-mini-2024-07-18"); it costs what its alias costs.
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class CostQuote:
    usd: Decimal | None
    reason: str = ""  # why there is no amount


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    if model in prices:
        return prices[model]
    return prices.get(_SNAPSHOT.sub("", model))


def quote(model: str, usage: Usage, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> CostQuote:
    price = price_for(model, prices)
    if price is None:
        return CostQuote(
            None, f"No price is set for the model '{model}'. Add it to the price table."
        )
    cached = min(usage.cached_tokens, usage.input_tokens)
    usd = (
        (usage.input_tokens - cached) * price.input
        + cached * price.cached_input
        + usage.output_tokens * price.output
    ) / _PER_TOKEN
    return CostQuote(usd.quantize(Decimal("0.000001")))
