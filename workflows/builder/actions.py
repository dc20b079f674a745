"""How the builder presents action types: panel sections, labels, outputs, token fields.

Everything comes from `workflows.registry`; an integration's action type shows up by
registering itself. Optional hooks an action type may define (looked up with getattr,
so the engine's ActionType needs none of them):

    outputs_for(config, *, account) -> Iterable[Output]    outputs depending on config
                                                            (e.g. structured fields)
    token_fields(config, *, definitions) -> dict[str, str]  field name -> target type
                                                            of the text fields that
                                                            accept data tokens
    builder_form(config, *, account, object_type) -> Form   the config form to render
                                                            (choices from the account)
    connection_problem(account) -> str | None               e.g. "OpenAI is not connected"
    review_problems(config, *, account) -> list[str]        e.g. a model no longer allowed
    builder_panel_extra(config, *, workflow, user) -> str   HTML after the panel's fields
                                                            (e.g. a "Test" section)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from workflows import registry
from workflows.builder.canvas import BRANCH, PLACEHOLDER
from workflows.registry import ActionType, Output, OutputType

OPENAI = "openai"
# Section keys are compared lower-cased; aliases name the same section.
SECTION_ALIASES = {"communications": "communication", "flow": "control", "open_ai": OPENAI}
SECTIONS = [
    ("crm", gettext_lazy("CRM")),
    ("communication", gettext_lazy("Communications")),
    ("control", gettext_lazy("Flow")),
    (OPENAI, gettext_lazy("OpenAI integration")),
]
ICONS = {
    "crm": "clipboard-document-check",
    "communication": "bell",
    "control": "arrows-right-left",
    OPENAI: "sparkles",
}
ASK_OPENAI_LABEL = gettext_lazy("Ask OpenAI assistant")
RESPONSE_OUTPUT = Output("response", gettext_lazy("Response"), OutputType.TEXT)
# Config fields of built-in actions that hold ids or names, not text: no tokens there.
NOT_TOKEN_FIELDS = frozenset(
    {"assignee", "property", "copy_from", "until_property", "recipients", "amount", "due_in"}
)


def section_key(action_type_or_key: Any) -> str:
    raw = getattr(action_type_or_key, "section", action_type_or_key)
    key = str(raw or "").strip().lower()
    return SECTION_ALIASES.get(key, key)


def types_in(section: str) -> list[ActionType]:
    return [t for t in registry.all_types() if section_key(t) == section]


def openai_connection_problem(account) -> str | None:
    """Why OpenAI actions cannot run for `account`, or None when connected.

    Asks the OpenAI action type when one is registered (its `connection_problem` hook);
    otherwise looks for the marketplace's connection row, if the marketplace is installed.
    """
    for action_type in types_in(OPENAI):
        hook = getattr(action_type, "connection_problem", None)
        if hook is not None:
            return hook(account)
    try:
        connection_model = apps.get_model("marketplace", "Connection")
    except LookupError:
        return _("OpenAI is not connected to this account.")
    connected = (
        connection_model.objects.filter(account=account, app=OPENAI)
        .exclude(status="disconnected")
        .exists()
    )
    return None if connected else _("OpenAI is not connected to this account.")


@dataclass
class PanelItem:
    key: str
    label: str
    description: str = ""
    disabled_reason: str = ""


@dataclass
class PanelSection:
    key: str
    label: str
    icon: str
    items: list[PanelItem] = field(default_factory=list)
    note: str = ""
    connect: bool = False  # offer "Connect to OpenAI"


def panel_sections(account) -> list[PanelSection]:
    """The action panel: the four known sections first, then any other section an
    integration registers. The OpenAI section is always shown."""
    by_key: dict[str, PanelSection] = {
        key: PanelSection(key, str(label), ICONS[key]) for key, label in SECTIONS
    }
    for action_type in registry.all_types():
        key = section_key(action_type)
        if key not in by_key:
            by_key[key] = PanelSection(key, key.replace("_", " ").title(), "puzzle-piece")
        by_key[key].items.append(
            PanelItem(
                action_type.key,
                str(action_type.label),
                str(getattr(action_type, "description", "") or ""),
            )
        )
    openai = by_key[OPENAI]
    problem = openai_connection_problem(account)
    if not openai.items:
        openai.items.append(
            PanelItem(
                PLACEHOLDER,
                str(ASK_OPENAI_LABEL),
                disabled_reason=_(
                    "Not available in this version yet: the OpenAI action is being added. Templates "
                    "that use it keep a placeholder step you can configure once it is here."
                ),
            )
        )
    if problem:
        openai.note = problem
        openai.connect = True
    return [section for section in by_key.values() if section.items]


def action_type_or_none(key: str) -> ActionType | None:
    try:
        return registry.get(key)
    except ValidationError:  # an unknown key
        return None


def step_label(step: dict) -> str:
    if step.get("type") == PLACEHOLDER:
        return str((step.get("config") or {}).get("label") or ASK_OPENAI_LABEL)
    action_type = action_type_or_none(step.get("type", ""))
    return str(action_type.label) if action_type else _("Unknown action")


def step_section(step: dict) -> str:
    if step.get("type") == PLACEHOLDER:
        return section_key((step.get("config") or {}).get("section") or OPENAI)
    action_type = action_type_or_none(step.get("type", ""))
    return section_key(action_type) if action_type else "crm"


def step_outputs(step: dict, *, account) -> list[Output]:
    config = step.get("config") or {}
    if step.get("type") == PLACEHOLDER:
        return [
            Output(o["name"], str(o.get("label") or o["name"]), o.get("type", OutputType.TEXT))
            for o in config.get("outputs", [])
            if isinstance(o, dict) and o.get("name")
        ] or [RESPONSE_OUTPUT]
    action_type = action_type_or_none(step.get("type", ""))
    if action_type is None:
        return []
    hook = getattr(action_type, "outputs_for", None)
    outputs: Iterable[Output] = hook(config, account=account) if hook else action_type.outputs
    return list(outputs)


def token_fields(action_type: ActionType, config: dict, *, definitions: dict) -> dict[str, str]:
    """Text fields of the action's form that accept data tokens, with the type of value
    they take ("text", or a property type such as "number" for Set property value)."""
    hook = getattr(action_type, "token_fields", None)
    if hook is not None:
        return dict(hook(config, definitions=definitions))
    if action_type.config_form is None or action_type.key == BRANCH:
        return {}
    found = {}
    for name, form_field in action_type.config_form.base_fields.items():
        if name in NOT_TOKEN_FIELDS or type(form_field) is not forms.CharField:
            continue
        found[name] = "text"
    if action_type.key == "set_property" and "value" in found:
        target = definitions.get(config.get("property") or "")
        found["value"] = target.type if target is not None else "text"
    return found
