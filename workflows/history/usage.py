"""Reading what a step spent from its `usage` JSON (written by the action): the run
detail shows it, the replay estimate sums it. Any action may leave it empty."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

TOKEN_NAMES = ("input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def usage_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """The token counts the action recorded; `total_tokens` = input + output when it
    recorded counts but no total."""
    found = {}
    for name in TOKEN_NAMES:
        value = usage.get(name)
        if isinstance(value, int | float):
            found[name] = int(value)
    if found and "total_tokens" not in found:
        found["total_tokens"] = found.get("input_tokens", 0) + found.get("output_tokens", 0)
    return found


def usage_cost(usage: dict[str, Any]) -> Decimal | None:
    """The cost the action recorded (`cost_usd`, or `cost`), if it did."""
    for name in ("cost_usd", "cost"):
        value = usage.get(name)
        if value not in (None, ""):
            try:
                return Decimal(str(value))
            except (InvalidOperation, ValueError):
                return None
    return None
