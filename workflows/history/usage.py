"""What steps spent, read from their action types (`ActionType.usage_of`): the run
detail shows it, the replay estimate sums it. One query per action type that records
usage, whatever the number of steps; built-in actions spend nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from workflows import registry
from workflows.registry import StepUsage


def usages_of(executions: Iterable[tuple[int, str]]) -> dict[int, StepUsage]:
    """{execution id: StepUsage} for (execution id, action type key) pairs."""
    by_type: dict[str, list[int]] = defaultdict(list)
    for execution_id, action_type in executions:
        by_type[action_type].append(execution_id)
    found: dict[int, StepUsage] = {}
    for key, ids in by_type.items():
        try:
            action = registry.get(key)
        except ValidationError:  # its integration was removed
            continue
        found.update(action.usage_of(ids))
    return found


def total_tokens(usage: StepUsage | None) -> int | None:
    """The step's total tokens: its `total_tokens`, else input + output (None: unknown)."""
    if usage is None or not usage.tokens:
        return None
    if "total_tokens" in usage.tokens:
        return usage.tokens["total_tokens"]
    return usage.tokens.get("input_tokens", 0) + usage.tokens.get("output_tokens", 0)
