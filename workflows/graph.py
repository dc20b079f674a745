"""The action graph: validation when a workflow is saved (see models.py for its shape).

Steps are linked by `next` (and, for branches, each path's `next` and `none_next`).
The graph must be acyclic, every link must name an existing step, and every step's
config must pass its action type's `validate_config`. Each run follows one path, so a
step runs at most once per enrollment (the ledger's unique constraint relies on it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.models import Account
from workflows import registry
from workflows.tokens import tokens_in


def successors(step: dict[str, Any]) -> list[int]:
    found = []
    if step.get("next") is not None:
        found.append(step["next"])
    config = step.get("config") or {}
    if step.get("type") == "branch":
        found += [path.get("next") for path in config.get("paths", []) if path.get("next")]
        if config.get("none_next") is not None:
            found.append(config["none_next"])
    return found


def graph_validate(graph: Any, *, account: Account, object_type: str) -> dict[str, Any]:
    """Return the normalised graph or raise ValidationError listing every mistake."""
    if not graph:
        return {"start": None, "steps": {}}
    if not isinstance(graph, dict) or not isinstance(graph.get("steps"), dict):
        raise ValidationError(_("The workflow's actions are malformed."))
    steps: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for key, step in graph["steps"].items():
        if not str(key).isdigit() or not isinstance(step, dict):
            errors.append(_("Step “%(key)s” is malformed.") % {"key": str(key)[:20]})
            continue
        try:
            action_type = registry.get(step.get("type", ""))
            config = action_type.validate_config(
                step.get("config") or {}, account=account, object_type=object_type
            )
        except ValidationError as error:
            errors += [
                _("Step %(id)s: %(message)s") % {"id": key, "message": m} for m in error.messages
            ]
            continue
        steps[str(int(key))] = {"type": action_type.key, "config": config, "next": step.get("next")}
    start = graph.get("start")
    if steps and str(start) not in steps:
        errors.append(_("The workflow has no first action."))
    for key, step in steps.items():
        for target in successors(step):
            if str(target) not in steps:
                errors.append(_("Step %(id)s links to a step that does not exist.") % {"id": key})
        for root, path in _tokens(step["config"]):
            if root != "actions":
                continue
            other, _dot, output = path.partition(".")
            if other not in steps:
                errors.append(
                    _("Step %(id)s uses data from step %(other)s, which does not exist.")
                    % {"id": key, "other": other}
                )
            elif output and not _has_output(steps[other], output.split(".")[0], account):
                errors.append(
                    _(
                        "Step %(id)s uses “%(output)s” from step %(other)s, which has no such output."
                    )
                    % {"id": key, "output": output.split(".")[0], "other": other}
                )
    if not errors and _has_cycle(steps):
        errors.append(_("The actions loop back on themselves; a workflow must end."))
    if errors:
        raise ValidationError(errors)
    return {"start": int(start) if steps and start is not None else None, "steps": steps}


def graph_pin(graph: dict[str, Any], *, account: Account) -> dict[str, Any]:
    """A validated graph as publishing freezes it: each step's config passed through its
    action type's `config_pin` (e.g. the assistant version an AI step runs)."""
    steps = {
        key: {
            **step,
            "config": registry.get(step["type"]).config_pin(step["config"], account=account),
        }
        for key, step in graph.get("steps", {}).items()
    }
    return {**graph, "steps": steps}


def output_readers(graph: dict[str, Any], step_id: int) -> dict[int, set[str]]:
    """Steps that read outputs of step `step_id` (data tokens, branch conditions), with
    the output names each reads."""
    readers: dict[int, set[str]] = {}
    for key, step in (graph.get("steps") or {}).items():
        names = {
            path.split(".")[1]
            for root, path in _tokens(step.get("config") or {})
            if root == "actions" and path.split(".")[0] == str(step_id) and "." in path
        } | _branch_outputs(step.get("config") or {}, step_id)
        if names:
            readers[int(key)] = names
    return readers


def _branch_outputs(config: Any, step_id: int) -> set[str]:
    """Output names of step `step_id` read by conditions ({"output": "3.rating"})."""
    found: set[str] = set()
    if isinstance(config, dict):
        output = config.get("output")
        if isinstance(output, str) and output.partition(".")[0] == str(step_id):
            found.add(output.partition(".")[2].split(".")[0])
        for value in config.values():
            found |= _branch_outputs(value, step_id)
    elif isinstance(config, list):
        for value in config:
            found |= _branch_outputs(value, step_id)
    return found


def outputs_missing(graph: dict[str, Any], *, account: Account) -> dict[int, list[tuple[int, str]]]:
    """Steps that read an output (a data token, a branch condition) that its step no
    longer declares, e.g. a field its AI assistant's adopted version dropped: reader →
    [(step, output name)]. Steps whose type is gone are left to other checks."""
    steps = graph.get("steps") or {}
    missing: dict[int, list[tuple[int, str]]] = {}
    for key, step in steps.items():
        try:
            registry.get(step.get("type", ""))
        except ValidationError:
            continue
        for reader, names in output_readers(graph, int(key)).items():
            for name in sorted(names):
                if not _has_output(step, name, account):
                    missing.setdefault(reader, []).append((int(key), name))
    return missing


def _has_output(step: dict[str, Any], name: str, account: Account) -> bool:
    """Whether the step's action declares output `name` (for its config). Action types
    that declare no outputs at all are not checked."""
    declared = registry.get(step["type"]).outputs_for(step["config"], account)
    return not declared or any(output.name == name for output in declared)


def _tokens(config: Any) -> list[tuple[str, str]]:
    if isinstance(config, str):
        return tokens_in(config)
    if isinstance(config, dict):
        return [t for value in config.values() for t in _tokens(value)]
    if isinstance(config, list):
        return [t for value in config for t in _tokens(value)]
    return []


def _has_cycle(steps: dict[str, dict[str, Any]]) -> bool:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(key: str) -> bool:
        state[key] = 1
        for target in successors(steps[key]):
            target_key = str(target)
            if state.get(target_key) == 1:
                return True
            if target_key not in state and visit(target_key):
                return True
        state[key] = 2
        return False

    return any(key not in state and visit(key) for key in steps)
