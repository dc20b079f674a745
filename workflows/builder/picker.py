"""The "Select a data variable" panel: what a field of a step may insert.

Rules (tested in tests/builder/test_picker.py):
- properties of the enrolled object, always;
- outputs of the steps that run *before* this one on the same path (its ancestors in
  the graph), one group per step, titled "<number>. <label>" as on the canvas; a step
  on another branch path or below this one is never offered;
- properties of the enrolled record's associated records, one group per other object
  (`{{ associated.contact.first_name }}`: its first associated contact);
- a variable whose type the field cannot take is listed but disabled, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from crm.models import Account, ObjectType, PropertyDefinition, PropertyType
from workflows.builder import actions, canvas
from workflows.registry import OutputType

# The kinds of value a target accepts (targets and sources are property types, or
# output types: text, number, boolean, json).
_ACCEPTS: dict[str, set[str]] = {
    PropertyType.NUMBER: {PropertyType.NUMBER, OutputType.NUMBER},
    PropertyType.BOOLEAN: {PropertyType.BOOLEAN, OutputType.BOOLEAN},
    PropertyType.DATE: {PropertyType.DATE},
    PropertyType.DATETIME: {PropertyType.DATE, PropertyType.DATETIME},
    # A text value is checked against the options when the action runs.
    PropertyType.ENUMERATION: {PropertyType.ENUMERATION, PropertyType.TEXT, OutputType.TEXT},
    PropertyType.OWNER: {PropertyType.OWNER, OutputType.NUMBER},
}
TYPE_LABELS: dict[str, Any] = {  # str or a lazy translation
    **{value: label for value, label in PropertyType.choices},
    OutputType.TEXT: PropertyType.TEXT.label,
    OutputType.JSON: "JSON",
}


def incompatibility(target: str, source: str) -> str:
    """Why a `source`-typed value cannot go into a `target`-typed field ("" if it can)."""
    accepted = _ACCEPTS.get(target)
    if accepted is None or source in accepted:
        return ""  # text fields take anything
    return _("A %(source)s value cannot go into a %(target)s field.") % {
        "source": str(TYPE_LABELS.get(source, source)).lower(),
        "target": str(TYPE_LABELS.get(target, target)).lower(),
    }


@dataclass
class Variable:
    token: str
    label: str
    chip: str  # the readable chip text, e.g. "Create task: Task"
    type: str
    disabled_reason: str = ""


@dataclass
class VariableGroup:
    step_id: int
    title: str
    variables: list[Variable] = field(default_factory=list)


@dataclass
class DataVariables:
    properties: list[Variable]
    groups: list[VariableGroup]
    associated: list[VariableGroup] = field(default_factory=list)


def property_label(definition: PropertyDefinition) -> str:
    return _(definition.label) if definition.is_standard else definition.label


def _associated_definitions(
    definitions: dict[str, PropertyDefinition], account: Account
) -> list[tuple[str, str, dict[str, PropertyDefinition]]]:
    """(object type, group title, definitions) for each object other than the enrolled one."""
    from crm.services import definitions_for

    own = next(iter(definitions.values())).object_type if definitions else None
    return [
        (
            object_type,
            _("%(object)s (associated)") % {"object": label},
            definitions_for(account, object_type),
        )
        for object_type, label in ObjectType.choices
        if object_type != own
    ]


def data_variables(
    *,
    graph: dict[str, Any],
    step_id: int,
    definitions: dict[str, PropertyDefinition],
    account: Account,
    target_type: str = "text",
) -> DataVariables:
    properties = [
        Variable(
            f"{{{{ object.{d.name} }}}}",
            property_label(d),
            property_label(d),
            d.type,
            incompatibility(target_type, d.type),
        )
        for d in sorted(definitions.values(), key=lambda d: (d.position, property_label(d)))
    ]
    _chain, nodes = canvas.layout(graph)
    groups = []
    for earlier in sorted(
        canvas.ancestors(graph, step_id), key=lambda i: nodes[i].number if i in nodes else 0
    ):
        node = nodes.get(earlier)
        if node is None:
            continue
        label = actions.step_label(node.step)
        group = VariableGroup(earlier, f"{node.number}. {label}")
        for output in actions.step_outputs(node.step, account=account):
            group.variables.append(
                Variable(
                    f"{{{{ actions.{earlier}.{output.name} }}}}",
                    str(output.label),
                    f"{label}: {output.label}",
                    output.type,
                    incompatibility(target_type, output.type),
                )
            )
        if group.variables:
            groups.append(group)
    associated = []
    for object_type, title, others in _associated_definitions(definitions, account):
        group = VariableGroup(
            0,
            title,
            [
                Variable(
                    f"{{{{ associated.{object_type}.{d.name} }}}}",
                    property_label(d),
                    f"{title}: {property_label(d)}",
                    d.type,
                    incompatibility(target_type, d.type),
                )
                for d in sorted(others.values(), key=lambda d: (d.position, property_label(d)))
            ],
        )
        if group.variables:
            associated.append(group)
    return DataVariables(properties, groups, associated)


def chip_labels(
    *, graph: dict[str, Any], definitions: dict[str, PropertyDefinition], account: Account
) -> dict[str, str]:
    """Readable text for every token the draft can hold, keyed by "root.path"."""
    labels = {f"object.{name}": property_label(d) for name, d in definitions.items()}
    _chain, nodes = canvas.layout(graph)
    for node in nodes.values():
        label = actions.step_label(node.step)
        for output in actions.step_outputs(node.step, account=account):
            labels[f"actions.{node.id}.{output.name}"] = f"{label}: {output.label}"
    for object_type, title, others in _associated_definitions(definitions, account):
        labels.update(
            {
                f"associated.{object_type}.{name}": f"{title}: {property_label(d)}"
                for name, d in others.items()
            }
        )
    return labels
