"""If/then branch criteria: conditions on record properties and on earlier outputs.

Property conditions use crm.filters unchanged. Output conditions look like
    {"output": "3.response", "operator": "contains", "value": "HOT"}
(step id . output name) and compare text case-insensitively, or numbers for gt/lt.
Groups are an OR of AND groups, mixing both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm import filters
from crm.models import PropertyDefinition

OUTPUT_OPERATORS = [
    "is_known",
    "is_unknown",
    "eq_any",
    "neq_any",
    "contains",
    "not_contains",
    "starts_with",
    "gt",
    "lt",
]


@dataclass(frozen=True)
class OutputCondition:
    step_id: int
    output: str
    operator: str
    # Lower-cased texts to compare with, or one Decimal for gt/lt.
    operands: tuple[Any, ...] = ()

    def holds(self, earlier_outputs: dict[int, dict[str, Any]]) -> bool:
        value = earlier_outputs.get(self.step_id, {}).get(self.output)
        text = "" if value is None else str(value).strip().lower()
        op = self.operator
        if op in ("is_known", "is_unknown"):
            return (text != "") == (op == "is_known")
        if op in ("eq_any", "neq_any"):
            return (text in self.operands) == (op == "eq_any")
        if op in ("contains", "not_contains"):
            return (self.operands[0] in text) == (op == "contains")
        if op == "starts_with":
            return text.startswith(self.operands[0])
        number = _number(text)
        if number is None:
            return False
        bound: Decimal = self.operands[0]
        return number > bound if op == "gt" else number < bound


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


# A branch path's condition: on an earlier step's output, or on a record property.
BranchCondition = OutputCondition | filters.Condition


def parse_branch_groups(
    definitions: dict[str, PropertyDefinition], raw: Any
) -> list[list[BranchCondition]]:
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list) or not all(isinstance(group, list) for group in raw):
        raise ValidationError(_("Branch criteria must be a list of groups of conditions."))
    parsed = []
    for group in raw:
        conditions: list[BranchCondition] = []
        for item in group:
            if isinstance(item, dict) and "output" in item:
                conditions.append(_parse_output_condition(item))
            else:
                conditions += filters.parse_groups(definitions, [[item]])[0]
        if conditions:
            parsed.append(conditions)
    return parsed


def _parse_output_condition(item: dict[str, Any]) -> OutputCondition:
    step, _sep, output = str(item.get("output", "")).partition(".")
    operator = item.get("operator")
    if not step.isdigit() or not output:
        raise ValidationError(_("An output condition names a step and an output, like 3.response."))
    if operator not in OUTPUT_OPERATORS:
        raise ValidationError(
            _("“%(operator)s” cannot be used on an action's output.")
            % {"operator": str(operator)[:50]}
        )
    if operator in ("is_known", "is_unknown"):
        return OutputCondition(int(step), output, operator)
    values = item.get("values") if "values" in item else [item.get("value")]
    if not isinstance(values, list) or not values or any(v in (None, "") for v in values):
        raise ValidationError(_("Enter a value to compare the output with."))
    if operator in ("gt", "lt"):
        number = _number(str(values[0]))
        if number is None:
            raise ValidationError(
                _("“%(value)s” is not a number.") % {"value": str(values[0])[:50]}
            )
        return OutputCondition(int(step), output, operator, (number,))
    return OutputCondition(
        int(step), output, operator, tuple(str(v).strip().lower() for v in values)
    )


def branch_matches(
    groups: list[list[BranchCondition]],
    *,
    properties: dict[str, Any],
    earlier_outputs: dict[int, dict[str, Any]],
) -> bool:
    if not groups:
        return False  # a path without conditions never matches; "none met" is the default
    for group in groups:
        if all(
            c.holds(earlier_outputs)
            if isinstance(c, OutputCondition)
            else filters.record_matches(properties, [[c]])
            for c in group
        ):
            return True
    return False
