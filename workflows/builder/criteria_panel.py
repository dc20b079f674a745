"""The enrollment criteria panel's form: rows of conditions in AND groups joined by OR.

Field names: `c-<group>-<row>-property`, `-operator`, `-value` (`-value2` for
"is between"; several `-value` for "is equal to any of" on a dropdown property).
Buttons: `_add_and=<group>`, `_add_or`, `_remove=<group>-<row>`, `_save`; any other
post (a change of property or operator) just re-renders with the right widgets and the
live count.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from django.apps import apps
from django.core.exceptions import ValidationError
from django.http import QueryDict

from crm import filters
from crm.filters import OPERATOR_LABELS, OPERATORS_BY_TYPE
from crm.models import PropertyDefinition, PropertyType
from workflows import registry
from workflows.builder import picker, review
from workflows.models import Workflow

FIELD = re.compile(r"^c-(\d{1,2})-(\d{1,2})-property$")
MAX_ROWS = 50


class Row(TypedDict):
    """One condition as the panel edits it (values as typed, not yet validated)."""

    property: str
    operator: str
    values: list[str]


class State(TypedDict):
    """The panel's state: from the workflow (GET) or from the posted form."""

    groups: list[list[Row]]  # OR of AND groups
    re_enroll: bool
    form_id: int | None
    trigger: str


def state_from_workflow(workflow: Workflow) -> State:
    groups = []
    for group in workflow.criteria or []:
        rows: list[Row] = []
        for item in group:
            values = item.get("values") if "values" in item else [item.get("value")]
            values = [str(v) for v in values or [] if v not in (None, "")]
            rows.append(
                {
                    "property": item.get("property", ""),
                    "operator": item.get("operator", ""),
                    "values": values,
                }
            )
        groups.append(rows)
    return {
        "groups": groups,
        "re_enroll": workflow.re_enroll,
        "form_id": workflow.form_id,
        "trigger": workflow.trigger,
    }


def state_from_post(post: QueryDict) -> State:
    found: dict[int, dict[int, Row]] = {}
    for key in list(post.keys())[: MAX_ROWS * 4]:
        match = FIELD.match(key)
        if not match:
            continue
        group, row = int(match[1]), int(match[2])
        prefix = f"c-{group}-{row}-"
        values = [v for v in post.getlist(prefix + "value") if v.strip()]
        second = post.get(prefix + "value2") or ""
        if second.strip():
            values.append(second)
        found.setdefault(group, {})[row] = {
            "property": post.get(key, ""),
            "operator": post.get(prefix + "operator", ""),
            "values": [v[:255] for v in values],
        }
    groups = [[found[g][r] for r in sorted(found[g])] for g in sorted(found)]
    form_id = post.get("form_id", "")
    trigger = post.get("trigger", "")
    return {
        "groups": groups,
        "re_enroll": post.get("re_enroll") == "on",
        "form_id": int(form_id) if form_id.isdigit() else None,
        "trigger": trigger if registry.trigger_type(trigger) is not None else "",
    }


def apply_button(state: State, post: QueryDict) -> State:
    groups = state["groups"]
    add_and = str(post.get("_add_and", ""))
    if "_add_or" in post or (not groups and "_add_and" in post):
        groups.append([{"property": "", "operator": "", "values": []}])
    elif add_and.isdigit():
        index = int(add_and)
        if index < len(groups):
            groups[index].append({"property": "", "operator": "", "values": []})
    elif "_remove" in post:
        group, _sep, row = str(post["_remove"]).partition("-")
        if group.isdigit() and row.isdigit() and int(group) < len(groups):
            rows = groups[int(group)]
            if int(row) < len(rows):
                rows.pop(int(row))
            if not rows:
                groups.pop(int(group))
    return state


def _forms(workflow: Workflow) -> list[tuple[int, str]] | None:
    try:
        form_model = apps.get_model("crm", "Form")
    except LookupError:
        return None  # the CRM's forms are not installed: no "submitted form" trigger
    return list(
        form_model.objects.filter(account=workflow.account)
        .order_by("name")
        .values_list("pk", "name")
    )


def panel(
    workflow: Workflow, state: State, definitions: dict[str, PropertyDefinition]
) -> dict[str, Any]:
    """The panel's rows with their widgets, the criteria JSON and the live count."""
    properties = sorted(definitions.values(), key=lambda d: (d.position, picker.property_label(d)))
    criteria, errors, groups = [], [], []
    for group in state["groups"]:
        rows, items = [], []
        for row in group:
            definition = definitions.get(row["property"])
            operators = OPERATORS_BY_TYPE[PropertyType(definition.type)] if definition else []
            operator = (
                row["operator"]
                if row["operator"] in operators
                else (operators[0] if operators else "")
            )
            widget = _widget(definition, operator)
            rows.append(
                {
                    **row,
                    "operator": operator,
                    "definition": definition,
                    "widget": widget,
                    "operators": [(o, OPERATOR_LABELS[o]) for o in operators],
                }
            )
            if definition is None:
                continue
            item: dict[str, Any] = {"property": definition.name, "operator": operator}
            if widget == "multi" or (operator == "eq_any" and len(row["values"]) > 1):
                item["values"] = row["values"]
            elif widget == "between":
                item["values"] = row["values"][:2]
            elif widget != "none":
                item["value"] = row["values"][0] if row["values"] else ""
            items.append(item)
        groups.append(rows)
        if items:
            criteria.append(items)
    try:
        filters.parse_groups(definitions, criteria)
    except ValidationError as error:
        errors = error.messages
    forms = _forms(workflow)
    count = (
        None
        if errors
        else review.matching_count(workflow, definitions=definitions, criteria=criteria)
    )
    return {
        "kind": "criteria",
        "groups": groups,
        "criteria": criteria,
        "errors": errors,
        "count": count,
        "properties": [(d.name, picker.property_label(d)) for d in properties],
        "re_enroll": state["re_enroll"],
        "form_id": state["form_id"],
        "forms": forms,
        "trigger": state["trigger"],
        "triggers": [(t.key, str(t.label)) for t in registry.trigger_types()],
        "definitions": definitions,
    }


def _widget(definition: PropertyDefinition | None, operator: str) -> str:
    if definition is None or operator in ("is_known", "is_unknown"):
        return "none"
    if operator == "between":
        return "between"
    kind = definition.type
    if kind == PropertyType.ENUMERATION and operator in ("eq_any", "neq_any"):
        return "multi"
    if kind == PropertyType.BOOLEAN:
        return "boolean"
    if operator == "in_last_days" or kind == PropertyType.NUMBER:
        return "number"
    if kind in (PropertyType.DATE, PropertyType.DATETIME):
        return "date"
    return "text"
