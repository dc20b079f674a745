"""What the builder page draws: cards with readable summaries, the trigger card, the
"+" slots. A fixed number of queries whatever the size of the workflow (benchmarked in
benchmarks/builder_pages.py): the workflow, its properties, the account's users."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from crm.filters import OPERATOR_LABELS
from crm.models import Account, Form, ObjectType, PropertyDefinition, User
from crm.services import definitions_for
from workflows import registry
from workflows.access import BuilderRequest
from workflows.actions.common import OWNER
from workflows.builder import actions, canvas, picker
from workflows.models import Workflow
from workflows.tokens import TOKEN


def chips_html(text: str, labels: dict[str, str]) -> SafeString:
    """`text` escaped, each token shown as a chip with its readable label."""
    parts, last = [], 0
    text = str(text or "")
    for match in TOKEN.finditer(text):
        parts.append(escape(text[last : match.start()]))
        key = f"{match['root']}.{match['path']}"
        label = labels.get(key) or _("Unknown data")
        parts.append(
            format_html(
                '<span class="token-chip" contenteditable="false" data-token="{}">{}</span>',
                match.group(0),
                label,
            )
        )
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))


def users_by_id(account: Account) -> dict[str, str]:
    users = {
        str(u.pk): str(u)
        for u in User.objects.filter(account=account, is_active=True).order_by(
            "first_name", "username"
        )
    }
    return {OWNER: _("Record owner"), **users}


def criteria_summary(criteria: Any, definitions: dict[str, PropertyDefinition]) -> list[str]:
    """One sentence per OR group, e.g. "State/Region is known and Lead status is …"."""
    sentences = []
    for group in criteria or []:
        parts = []
        for item in group if isinstance(group, list) else []:
            if not isinstance(item, dict):
                continue
            name = item.get("property")
            definition = definitions.get(name) if isinstance(name, str) else None
            label = picker.property_label(definition) if definition else str(name)
            operator = item.get("operator")
            operator_label = str(OPERATOR_LABELS.get(str(operator), operator))
            values = item.get("values") if "values" in item else [item.get("value")]
            texts = [
                definition.option_label(str(v)) if definition else str(v)
                for v in values or []
                if v not in (None, "")
            ]
            parts.append(" ".join([label, operator_label, ", ".join(texts)]).strip())
        if parts:
            sentences.append(_(" and ").join(parts))
    return sentences


@dataclass
class _CanvasText:
    """What `ActionType.summary` writes a card's line with (registry.CanvasText)."""

    labels: dict[str, str]
    users: dict[str, str]
    definitions: dict[str, PropertyDefinition]

    def chips(self, text: str) -> str:
        return chips_html(text, self.labels)

    def user(self, value: Any) -> str:
        return self.users.get(str(value), _("a removed user"))

    def property(self, name: str) -> str:
        definition = self.definitions.get(name)
        return picker.property_label(definition) if definition else name

    def option(self, name: str, value: Any) -> str:
        definition = self.definitions.get(name)
        return definition.option_label(str(value)) if definition else str(value)


def step_summary(step: dict[str, Any], text: _CanvasText) -> SafeString:
    """The card's line, written by its action type (safe HTML)."""
    action_type = actions.action_type_or_none(step.get("type", ""))
    if action_type is None:
        return mark_safe("")
    return mark_safe(action_type.summary(step.get("config") or {}, canvas=text))  # noqa: S308


def draft_save(workflow: Workflow, graph: dict[str, Any]) -> None:
    workflow.graph = graph
    workflow.updated_at = timezone.now()
    Workflow.objects.filter(pk=workflow.pk).update(graph=graph, updated_at=workflow.updated_at)


def graph_edit(
    workflow: Workflow, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Read-modify-write the draft under a row lock (two tabs never lose an edit)."""
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        graph = change(
            canvas.normalised(locked.graph) | {"last_id": (locked.graph or {}).get("last_id")}
        )
        draft_save(workflow, graph)
    return graph


@functools.cache
def _icon(name: str, size: int) -> SafeString:
    from heroicons.templatetags.heroicons import heroicon_mini

    return mark_safe(heroicon_mini(name, size=size))  # safe already, but typed as str


def canvas_icons() -> dict[str, SafeString]:
    """The canvas's repeated icons, rendered once per process (not once per card)."""
    return {
        "plus": _icon("plus", 16),
        "menu": _icon("ellipsis-horizontal", 18),
        "flag": _icon("exclamation-triangle", 14),
        **{key: _icon(name, 16) for key, name in actions.icons().items()},
        "other": _icon("puzzle-piece", 16),
    }


def canvas_context(
    request: BuilderRequest,
    workflow: Workflow,
    *,
    definitions: dict[str, PropertyDefinition] | None = None,
) -> dict[str, Any]:
    can_edit = request.user.can_edit_workflows
    definitions = (
        definitions
        if definitions is not None
        else definitions_for(workflow.account, workflow.object_type)
    )
    graph = canvas.normalised(workflow.graph) | {"last_id": (workflow.graph or {}).get("last_id")}
    chain, nodes = canvas.layout(graph)
    labels = picker.chip_labels(graph=graph, definitions=definitions, account=workflow.account)
    users = users_by_id(workflow.account)
    icons = canvas_icons()
    text = _CanvasText(labels, users, definitions)
    trigger = registry.trigger_type(workflow.trigger) if workflow.trigger else None
    for node in nodes.values():
        node.label = actions.step_label(node.step)
        node.section = actions.step_section(node.step)
        node.icon = icons.get(node.section, icons["other"])
        node.summary = step_summary(node.step, text)
        node.incomplete = (
            bool(node.step.get("incomplete"))
            or actions.action_type_or_none(node.step.get("type", "")) is None
        )
    _mark_movable(chain)
    live_graph = workflow.live_version.graph if workflow.live_version is not None else None
    return {
        "workflow": workflow,
        "chain": chain,
        "nodes": nodes,
        "graph": graph,
        "definitions": definitions,
        "can_edit": can_edit,
        "users": users,
        "labels": labels,
        "object_label": ObjectType(workflow.object_type).label,
        "criteria_sentences": criteria_summary(workflow.criteria, definitions),
        "trigger": trigger,
        "trigger_summary": trigger.summary(workflow) if trigger is not None else "",
        "form_name": (
            Form.objects.filter(account=workflow.account, pk=workflow.form_id)
            .values_list("name", flat=True)
            .first()
            if workflow.form_id
            else None
        ),
        "incomplete_count": sum(1 for n in nodes.values() if n.incomplete),
        "unpublished": workflow.is_enabled
        and live_graph is not None
        and (
            canvas.normalised(live_graph)["steps"] != graph["steps"]
            or live_graph.get("start") != graph["start"]
        ),
        "section": "automation",
        "title": workflow.name,
        # Reversed once: the canvas draws several links per step.
        "icons": icons,
        "urls": {
            "builder": reverse("workflows:builder", args=[workflow.pk]),
            "add": reverse("workflows:add", args=[workflow.pk]),
        },
    }


def _mark_movable(chain: canvas.Chain) -> None:
    for index, node in enumerate(chain.nodes):
        node.can_move_up = index > 0 and not node.is_branch
        following = chain.nodes[index + 1] if index + 1 < len(chain.nodes) else None
        node.can_move_down = (
            following is not None and not following.is_branch and not node.is_branch
        )
        for path in node.paths:
            _mark_movable(path.chain)
