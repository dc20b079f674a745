"""How the builder presents action types: panel sections, labels, outputs, token fields.

Everything comes from `workflows.registry`: an integration's action type and its
section show up by registering themselves (docs/architecture.md, "Seams").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import Account
from workflows import registry
from workflows.registry import ActionType, BuilderSection, Output

# Icon of a section no integration registered (an action type naming an unknown section).
OTHER_ICON = "puzzle-piece"


@dataclass
class PanelItem:
    key: str
    label: str
    description: str = ""


@dataclass
class PanelSection:
    key: str
    label: str
    icon: str
    items: list[PanelItem] = field(default_factory=list)
    note: str = ""  # why its actions cannot run yet (e.g. its app is not connected)
    connect_label: str = ""
    connect_url: str | None = None


def section_of(key: str) -> BuilderSection:
    """A registered section, or a plain one named after an unknown key."""
    return registry.section(key) or BuilderSection(key, key.replace("_", " ").title(), OTHER_ICON)


def connection_problem(section_key: str, account: Account) -> str | None:
    """Why the section's actions cannot run for `account` (None: they can)."""
    return section_of(section_key).connection_problem(account)


def connect_url(section_key: str, next_path: str) -> str | None:
    """The section's connect dialog, returning to `next_path` once connected."""
    return section_of(section_key).connect_url(next_path)


def panel_sections(
    account: Account, *, next_path: str, step_paths: dict[str, str] | None = None
) -> list[PanelSection]:
    """The action panel: every registered section with its action types, in order; a
    section with a connection problem says so and offers its Connect button, which
    comes back to `step_paths[section]` (the workflow's step that waits for that
    connection) when there is one, else to `next_path`."""
    found: dict[str, PanelSection] = {}
    for section in registry.sections():
        found[section.key] = PanelSection(section.key, str(section.label), section.icon)
    for action_type in registry.all_types():
        if action_type.section not in found:
            other = section_of(action_type.section)
            found[other.key] = PanelSection(other.key, str(other.label), other.icon)
        found[action_type.section].items.append(
            PanelItem(action_type.key, str(action_type.label), str(action_type.description))
        )
    shown = [panel for panel in found.values() if panel.items]
    for panel in shown:
        section = section_of(panel.key)
        problem = section.connection_problem(account)
        if problem:
            panel.note = problem
            panel.connect_label = str(section.connect_label)
            panel.connect_url = section.connect_url((step_paths or {}).get(panel.key, next_path))
    return shown


def icons() -> dict[str, str]:
    """Heroicon name of each section, by key."""
    return {section.key: section.icon for section in registry.sections()}


def action_type_or_none(key: str) -> ActionType | None:
    try:
        return registry.get(key)
    except ValidationError:  # an unknown key
        return None


def step_label(step: dict[str, Any]) -> str:
    action_type = action_type_or_none(step.get("type", ""))
    return str(action_type.label) if action_type else _("Unknown action")


def step_section(step: dict[str, Any]) -> str:
    action_type = action_type_or_none(step.get("type", ""))
    return action_type.section if action_type else ""


def step_outputs(step: dict[str, Any], *, account: Account) -> list[Output]:
    action_type = action_type_or_none(step.get("type", ""))
    if action_type is None:
        return []
    return list(action_type.outputs_for(step.get("config") or {}, account))
