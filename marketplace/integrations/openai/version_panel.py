"""The Ask step's "Assistant updated: v4 → v6" notice in the builder (part of the action
type's `builder_panel_extra`) and what its "Use the latest version" button does.

Adopting the newest version sets the draft step's pin; the live workflow keeps running
its pinned version until the builder republishes. Steps that read an output field the
new version removes or retypes are marked incomplete with what to fix, so review
refuses to turn the workflow on until they are.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from crm.models import Account
from marketplace.integrations.openai import versions
from marketplace.integrations.openai.listing import ACTION_KEY
from marketplace.integrations.openai.models import AssistantVersion
from workflows.builder.canvas_context import graph_edit
from workflows.graph import output_readers
from workflows.models import Workflow


def newer_version(
    account: Account, config: dict[str, Any]
) -> tuple[AssistantVersion, AssistantVersion] | None:
    """(pinned, newest) when the step pins a version older than its assistant's newest."""
    found = versions.step_version(account, config)
    if found is None or found[1] is None:
        return None
    assistant, pinned = found
    newest = versions.version_current(assistant)
    if pinned is None or newest.number <= pinned.number:
        return None
    return pinned, newest


def broken_readers(
    graph: dict[str, Any], step_id: int, broken: dict[str, str]
) -> dict[int, list[str]]:
    """Steps reading an output of step `step_id` that `broken` (name → why) lists."""
    return {
        reader: [broken[name] for name in sorted(names) if name in broken]
        for reader, names in output_readers(graph, step_id).items()
        if names & broken.keys()
    }


def panel_html(config: dict[str, Any], *, workflow: Workflow, step_id: int) -> str:
    found = newer_version(workflow.account, config)
    if found is None:
        return mark_safe("")
    pinned, newest = found
    broken = versions.fields_broken(pinned.snapshot, newest.snapshot)
    return render_to_string(
        "marketplace_openai/version_panel.html",
        {
            "workflow": workflow,
            "step_id": step_id,
            "pinned": pinned,
            "newest": newest,
            "diff": versions.versions_diff(pinned.snapshot, newest.snapshot),
            "readers": broken_readers(workflow.graph or {}, step_id, broken),
        },
    )


def step_adopt(*, workflow: Workflow, step_id: int) -> tuple[AssistantVersion, list[int]] | None:
    """Pin the draft step to its assistant's newest version; mark incomplete the steps
    that read a field it removes or retypes. Returns the version and those steps (None:
    not an Ask step of a workspace assistant)."""
    result: dict[str, Any] = {}

    def change(graph: dict[str, Any]) -> dict[str, Any]:
        step = graph["steps"].get(str(step_id))
        if step is None or step.get("type") != ACTION_KEY:
            return graph
        config = step.get("config") or {}
        found = versions.step_version(workflow.account, config)
        if found is None:
            return graph
        assistant, pinned = found
        newest = versions.version_current(assistant)
        broken = (
            versions.fields_broken(pinned.snapshot, newest.snapshot) if pinned is not None else {}
        )
        step["config"] = {**config, versions.CONFIG_KEY: newest.pk}
        readers = broken_readers(graph, step_id, broken)
        for reader, reasons in readers.items():
            target = graph["steps"][str(reader)]
            problems = [
                _(
                    "It reads data the assistant's version %(number)s no longer gives: %(why)s."
                    " Choose other data or another path condition."
                )
                % {"number": newest.number, "why": why}
                for why in reasons
            ]
            target["incomplete"] = True
            target["problems"] = [*(target.get("problems") or []), *problems]
        result.update(version=newest, readers=sorted(readers))
        return graph

    graph_edit(workflow, change)
    if "version" not in result:
        return None
    return result["version"], result["readers"]
