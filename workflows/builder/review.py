"""What stops a workflow from being turned on, and what turning it on will do.

`review_problems` lists every problem in words a builder can act on, each pointing at
the step to fix (None for the workflow itself):
- an action still incomplete (saved half-configured, or flagged by an integration, e.g.
  it reads a field the adopted version of an assistant no longer gives);
- an action whose config no longer validates (a deleted property, a removed user);
- data used from a step that does not run before it on the same path;
- an integration's own problems: a missing connection (`connection_problem`) and
  anything its `review_problems(config, account=...)` hook reports, e.g. a model the
  super admin no longer allows;
- criteria that no longer validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm import filters
from crm.models import PropertyDefinition, Record
from workflows import registry
from workflows.builder import actions, canvas
from workflows.graph import outputs_missing
from workflows.models import Workflow


@dataclass(frozen=True)
class Problem:
    message: str
    step_id: int | None = None


def review_problems(
    workflow: Workflow, *, definitions: dict[str, PropertyDefinition]
) -> list[Problem]:
    graph = canvas.normalised(workflow.graph)
    problems: list[Problem] = []
    try:
        filters.parse_groups(definitions, workflow.criteria)
    except ValidationError as error:
        problems += [
            Problem(_("Enrollment criteria: %(message)s") % {"message": m}) for m in error.messages
        ]
    if workflow.trigger:
        trigger = registry.trigger_type(workflow.trigger)
        if trigger is None:
            problems.append(Problem(_("The trigger is no longer available: choose another.")))
        else:
            problems += [Problem(message) for message in trigger.review_problems(workflow)]
    _chain, nodes = canvas.layout(graph)
    if not nodes:
        problems.append(Problem(_("Add at least one action.")))
    connection_checked: set[str] = set()
    # Checked here too, not only flagged when an assistant's version is adopted: a step
    # saved again after it was flagged still reads what is gone.
    missing = outputs_missing(graph, account=workflow.account)
    for node in sorted(nodes.values(), key=lambda n: n.number):
        step, name = node.step, f"{node.number}. {actions.step_label(node.step)}"
        config = step.get("config") or {}
        action_type = actions.action_type_or_none(step.get("type", ""))
        if action_type is None:
            problems.append(
                Problem(_("%(step)s: this action no longer exists.") % {"step": name}, node.id)
            )
            continue
        if step.get("incomplete") and step.get("problems"):  # flagged when saved or adopted
            problems.append(
                Problem(
                    _("%(step)s is incomplete: %(message)s")
                    % {"step": name, "message": " ".join(step["problems"])},
                    node.id,
                )
            )
        if not (step.get("incomplete") and step.get("problems")):
            problems += [
                Problem(
                    _(
                        "%(step)s reads “%(output)s” of step %(other)s, which no longer gives "
                        "it. Choose other data or another path condition."
                    )
                    % {"step": name, "output": output, "other": _number_of(nodes, other)},
                    node.id,
                )
                for other, output in missing.get(node.id, [])
            ]
        try:
            action_type.validate_config(
                config, account=workflow.account, object_type=workflow.object_type
            )
        except ValidationError as error:
            problems.append(
                Problem(
                    _("%(step)s is incomplete: %(message)s")
                    % {"step": name, "message": " ".join(error.messages)},
                    node.id,
                )
            )
        earlier = set(canvas.ancestors(graph, node.id))
        for used in sorted(canvas.uses_of(config) - earlier):
            problems.append(
                Problem(
                    _("%(step)s uses data from an action that does not run before it.")
                    % {"step": name},
                    node.id,
                )
                if str(used) in graph["steps"]
                else Problem(
                    _("%(step)s uses data from a deleted action.") % {"step": name}, node.id
                )
            )
        if action_type.section not in connection_checked:
            connection_checked.add(action_type.section)
            connection = actions.connection_problem(action_type.section, workflow.account)
            if connection:
                problems.append(Problem(connection))
        problems += [
            Problem(f"{name}: {message}", node.id)
            for message in action_type.review_problems(config, workflow.account)
        ]
    seen: set[Problem] = set()
    unique: list[Problem] = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return unique


def matching_count(
    workflow: Workflow, *, definitions: dict[str, PropertyDefinition], criteria: Any = None
) -> int | None:
    """Records that match the criteria now (None if the criteria are invalid)."""
    try:
        groups = filters.parse_groups(
            definitions, workflow.criteria if criteria is None else criteria
        )
    except ValidationError:
        return None
    return (
        Record.objects.filter(account=workflow.account, object_type=workflow.object_type)
        .filter(filters.groups_q(groups))
        .count()
    )


def economy_offered(workflow: Workflow) -> bool:
    """True when a step of the draft can run in economy mode (its action type has a
    cheaper, slower tier): turning on then offers it for the existing records."""
    steps = (workflow.graph or {}).get("steps") or {}
    for step in steps.values():
        try:
            if registry.get(step.get("type", "")).economy:
                return True
        except ValidationError:
            continue
    return False


def economy_notes(workflow: Workflow, count: int) -> list[str]:
    """What the draft's steps say about running `count` existing records in economy
    mode (a budget that cannot take them all), for the review page."""
    notes: list[str] = []
    steps = (workflow.graph or {}).get("steps") or {}
    for step in steps.values():
        try:
            action_type = registry.get(step.get("type", ""))
        except ValidationError:
            continue
        if action_type.economy and count:
            note = action_type.economy_note(workflow, step, count)
            if note and note not in notes:
                notes.append(note)
    return notes


def enroll_now_count(workflow: Workflow, *, definitions: dict[str, PropertyDefinition]) -> int:
    """How many records turning on enrolls now: matching records never enrolled before
    (a form- or app-triggered workflow enrolls on its events only)."""
    if workflow.enrolls_on_events:
        return 0
    try:
        groups = filters.parse_groups(definitions, workflow.criteria)
    except ValidationError:
        return 0
    return (
        Record.objects.filter(account=workflow.account, object_type=workflow.object_type)
        .filter(filters.groups_q(groups))
        .exclude(pk__in=workflow.enrollments.values("record_id"))
        .count()
    )


def _number_of(nodes: dict[int, Any], step_id: int) -> int:
    """The number the canvas shows for step `step_id` (its id when it is not laid out)."""
    node = nodes.get(step_id)
    return node.number if node is not None else step_id
