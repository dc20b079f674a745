"""Cost of a call from its usage and the price table."""

from __future__ import annotations

from decimal import Decimal

from marketplace.integrations.openai.pricing import (
    DEFAULT_PRICES,
    PRICES_AS_OF,
    ModelPrice,
    quote,
)
from marketplace.integrations.openai.specs import Usage


def test_cost_is_tokens_times_the_price_per_million():
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000)

    assert quote("gpt-4o-mini", usage).usd == Decimal("0.450000")  # 0.15 + 0.5 × 0.60


def test_cached_input_tokens_cost_the_cached_price():
    usage = Usage(input_tokens=2_000, cached_tokens=1_024, output_tokens=100)
    prices = {"m": ModelPrice(Decimal(1), Decimal("0.1"), Decimal(10))}

    assert quote("m", usage, prices).usd == Decimal(
        "0.002078"
    )  # (976 × 1 + 1024 × 0.1 + 100 × 10) / 1e6


def test_reasoning_tokens_are_billed_within_output_tokens():
    with_reasoning = Usage(input_tokens=10, output_tokens=600, reasoning_tokens=512)
    without = Usage(input_tokens=10, output_tokens=600)

    assert quote("o4-mini", with_reasoning).usd == quote("o4-mini", without).usd


def test_a_dated_snapshot_costs_what_its_model_costs():
    usage = Usage(input_tokens=1000, output_tokens=1000)

    assert quote("gpt-4o-mini-2024-07-18", usage).usd == quote("gpt-4o-mini", usage).usd


def test_an_unknown_model_has_no_cost_and_says_why():
    result = quote("gpt-9-ultra", Usage(input_tokens=10))

    assert result.usd is None
    assert "gpt-9-ultra" in result.reason
    assert quote("gpt-9-ultra", Usage(input_tokens=10)).usd is None


def test_the_seeded_table_covers_the_simulators_models_and_says_when():
    assert PRICES_AS_OF
    for model in (
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4o",
        "gpt-4o-mini",
        "o3",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
    ):
        assert (
            DEFAULT_PRICES[model].output
            > DEFAULT_PRICES[model].input
            >= DEFAULT_PRICES[model].cached_input
        )


def test_an_answer_from_the_simulator_can_be_priced(client):
    from marketplace.integrations.openai.engines import ResponsesEngine
    from marketplace.integrations.openai.specs import AssistantRequest, AssistantSpec

    result = ResponsesEngine().run(
        client, AssistantRequest(AssistantSpec(model="gpt-5-mini"), "hello"), deadline=10
    )

    assert quote(result.model, result.usage).usd > 0
