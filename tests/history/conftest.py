from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django import forms

from tests.workflows.conftest import drain, probe_log  # noqa: F401  (fixtures)
from workflows import registry
from workflows.outcomes import PermanentError
from workflows.registry import ActionType, StepUsage


@pytest.fixture(autouse=True)
def _clear_cache():
    """Live counts and the health banner are cached a few seconds per process."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# The OpenAI simulator (session) and `sim` (reset, crmflow pointed at it) for the
# quota scenario; started only by the tests that ask for `sim`.
from tests.integrations.openai.conftest import sim, simulator_session  # noqa: E402, F401


class MeteredForm(forms.Form):
    title = forms.CharField(label="Title")
    notes = forms.CharField(label="Notes", required=False)


class MeteredStep(ActionType):
    """An action that records what it spent in its own store (here a dict), as the
    OpenAI action does in its usage rows: the history reads it through `usage_of`.
    A record named "Fail" makes it fail."""

    key = "test_metered"
    label = "Metered step"
    config_form = MeteredForm
    batchable = True
    spent: dict[int, StepUsage] = {}

    def execute(self, context: Any) -> dict[str, Any]:
        if context.record.properties.get("first_name") == "Fail":
            raise PermanentError("It failed.")
        return {}

    def usage_of(self, execution_ids: list[int]) -> dict[int, StepUsage]:
        return {pk: self.spent[pk] for pk in execution_ids if pk in self.spent}


@pytest.fixture
def metered():
    """The metered action type, registered for one test; `metered.spend(id, ...)`."""
    MeteredStep.spent = {}
    registry.register(MeteredStep)

    def spend(execution_id: int, tokens: dict[str, int], cost: str | None) -> None:
        MeteredStep.spent[execution_id] = StepUsage(
            "gpt-4.1-mini", tokens, Decimal(cost) if cost is not None else None
        )

    yield spend
    registry._REGISTRY.pop(MeteredStep.key, None)
